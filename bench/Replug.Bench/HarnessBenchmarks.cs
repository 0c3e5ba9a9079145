using System.Diagnostics;
using System.Globalization;
using Replug.Harness;

namespace Replug.Bench;

/// <summary>
/// The real-process harness (tests/Harness.Tests/Harness): host namespaces, a fabric, two coordinator
/// processes on PostgreSQL (or one shared SQLite file), an agent process per host, and the traffic
/// probe (one frame per port per millisecond, counted on every host's VM end). Times come from the
/// probe's frames, not from any Replug log.
/// </summary>
public static class HarnessBenchmarks
{
    private static HarnessOptions Options(string[] args)
    {
        var timings = BenchFormat.Option(args, "--timings") ?? "production";
        return new HarnessOptions
        {
            Hosts = BenchFormat.IntOption(args, "--hosts", 3),
            Timings = timings switch
            {
                "production" => ClusterTimings.Production,
                "fast" => ClusterTimings.Fast,
                _ => throw new ArgumentException($"--timings {timings}: production or fast"),
            },
            KeepLogs = BenchFormat.HasOption(args, "--keep-logs"),
            Log = BenchFormat.HasOption(args, "--verbose") ? line => Console.Error.WriteLine(line) : null,
        };
    }

    private static string? Missing()
    {
        if (!OperatingSystem.IsLinux()) return "needs Linux";
        if (Native.geteuid() != 0) return "needs root (network namespaces, raw sockets, nftables)";
        return null;
    }

    /// <param name="ObservedUntil">The probe's clock when the hand-over was measured: an old host still forwarding then never stopped.</param>
    private sealed record Sample(int Run, string Port, string From, string To, Handover Handover, int ObservedUntil);

    /// <summary>
    /// kill -9 of the agent carrying the most ports; per port: from the kill to its first frame on
    /// another host, how long the killed host kept forwarding it, and the margin between the two.
    /// Between runs the agent is restarted and the cluster must settle: the restarted agent releases
    /// what the killed process left in its bridges (fenced by the kernel meanwhile).
    /// </summary>
    public static async Task<int> FailoverAsync(string[] args)
    {
        if (args.Contains("-h") || args.Contains("--help"))
        {
            Console.WriteLine("usage: harness-failover [--runs N (20)] [--fault kill|partition] [--timings production|fast] [--hosts N (3)] [--keep-logs] [--verbose] [--trace]");
            Console.WriteLine("  kill: kill -9 of the busiest host's agent (restarted after each run);");
            Console.WriteLine("  partition: the busiest host cut off the management network (healed after each run): the fence-before-move margin.");
            return 0;
        }
        if (Missing() is { } why) { Console.Error.WriteLine($"harness-failover: {why}"); return 2; }
        var runs = BenchFormat.IntOption(args, "--runs", 20);
        var partition = (BenchFormat.Option(args, "--fault") ?? "kill") switch
        {
            "kill" => false,
            "partition" => true,
            var other => throw new ArgumentException($"--fault {other}: kill or partition"),
        };
        var options = Options(args);
        var load = File.ReadAllText("/proc/loadavg").Split(' ')[0];
        var clock = Stopwatch.StartNew();
        var samples = new List<Sample>();
        var incomplete = 0;
        await using var cluster = await ReplugCluster.StartAsync(options);
        Console.Error.WriteLine($"harness-failover: {cluster.Hosts.Count} hosts x {options.PortsPerHost} ports, journal {cluster.Journal.Description}; {runs} runs ...");
        try
        {
            for (var run = 1; run <= runs; run++)
            {
                var victim = cluster.BusiestHost();
                var ports = cluster.PortsForwardingOn(victim);
                var killedAt = partition ? await cluster.IsolateHostAsync(victim) : await cluster.KillAgentAsync(victim, hold: true);
                var moved = new List<(string Port, string To)>();
                foreach (var port in ports)
                {
                    try { moved.Add((port, await cluster.WaitForwardingElsewhereAsync(port, victim, TimeSpan.FromSeconds(60)))); }
                    catch (HarnessException e)
                    {
                        incomplete++;
                        Console.Error.WriteLine($"  run {run}: {port}: {e.Message}");
                    }
                }
                // How long the killed host keeps forwarding (a kernel fence stops it within the lease), observed
                // for twice the coordinator's wait after the kill, before anything is cleaned up.
                await cluster.WaitUntilAsync(() => cluster.Now >= killedAt + (int)(options.Timings.FailoverWait.TotalMilliseconds * 2), "the run's observation time", TimeSpan.FromSeconds(30));
                foreach (var (port, to) in moved)
                {
                    var handover = Handover.Of(cluster.Traffic, port, victim, to, killedAt);
                    samples.Add(new Sample(run, port, victim, to, handover, cluster.Traffic.LastSentSlot));
                    Console.Error.WriteLine($"  run {run}: {handover}");
                }
                if (partition)
                {
                    await cluster.UnisolateHostAsync(victim);
                    // A cut longer than StableAfter gets the host downed, and it restarts: each run starts from a stable cluster.
                    var healedAt = cluster.Now;
                    await cluster.WaitUntilAsync(() => cluster.Now >= healedAt + (int)options.Timings.StableAfter.TotalMilliseconds + 2000,
                        "the split brain resolver's decisions after the heal", TimeSpan.FromSeconds(60));
                }
                else cluster.StartAgent(victim); // it reconciles what the killed process left enslaved (fenced) in the bridges
                await cluster.WaitHostStatusAsync(victim, "Up", TimeSpan.FromSeconds(90));
                await cluster.WaitSettledAsync(TimeSpan.FromSeconds(90), $"run {run}", apiLagLimitMs: 30_000);
            }
        }
        catch (HarnessException e)
        {
            cluster.Failed = true;
            Console.Error.WriteLine($"harness-failover: {e.Message}\n{cluster.Report()}");
            return 1;
        }

        var failover = samples.Where(s => s.Handover.FailoverMs is not null).Select(s => (double)s.Handover.FailoverMs!.Value).Order().ToList();
        var firstPerRun = samples.GroupBy(s => s.Run).Select(g => (double)g.Max(s => s.Handover.FailoverMs ?? 0)).Order().ToList();
        if (BenchFormat.HasOption(args, "--trace")) Console.WriteLine($"traffic:\n{cluster.Traffic.Describe()}\ntimeline:\n{cluster.Timeline.Describe(400)}");
        var stopped = samples.Where(s => s.Handover.OldLast is not { } last || last < s.ObservedUntil - ForwardingRecord.MergeGapMs).ToList();
        var kept = stopped.Where(s => s.Handover.OldLast is not null).Select(s => (double)s.Handover.OldKeptForwardingMs!.Value).Order().ToList();
        var overlapped = samples.Count(s => s.Handover.MarginMs is <= 0);
        var margins = samples.Where(s => s.Handover.MarginMs is > 0).Select(s => (double)s.Handover.MarginMs!.Value).Order().ToList();
        var t = options.Timings;

        var what = partition ? "a host cut off the management network" : "kill -9 of an agent";
        BenchFormat.Header($"harness-failover — {what} -> its ports forward on another host (real processes, traffic probe)");
        BenchFormat.Row("cluster", $"{cluster.Hosts.Count} host namespaces x {options.PortsPerHost} ports, {options.FailoverDevicesPerHost} fail-over veths each; {options.Coordinators} coordinator processes; {cluster.Journal.Description}");
        BenchFormat.Row("timings", t.ToString());
        BenchFormat.Row("runs / wall time", $"{runs} runs, {samples.Count} ports moved, {incomplete} not moved in 60 s; {clock.Elapsed.TotalSeconds:0} s");
        BenchFormat.Row("machine", $"{Environment.ProcessorCount} cores; load average {load} at the start");
        BenchFormat.Row("probe", $"{cluster.Traffic.SlotsSent} ms sent ({cluster.Traffic.SlotsSkipped} missed by the sender), {cluster.Traffic.FramesChecked} frames checked");
        Console.WriteLine($"  from the {(partition ? "cut" : "kill")} (probe clock) to the port's first frame on its new host:");
        BenchFormat.Row("  per port: median / p99 / max", Stats(failover));
        BenchFormat.Row("  per run (its last port): median / p99 / max", Stats(firstPerRun));
        BenchFormat.Row($"{(partition ? "cut-off" : "killed")} host kept forwarding after the {(partition ? "cut" : "kill")}", stopped.Count == samples.Count
            ? $"{Stats(kept)} (every port stopped)"
            : $"{samples.Count - stopped.Count} of {samples.Count} ports still forwarded on the old host {t.FailoverWait.TotalSeconds * 2:0.#} s after the fault" +
              (kept.Count > 0 ? $"; the others: {Stats(kept)}" : ""));
        BenchFormat.Row("old host stopped before the new host started", $"{samples.Count - overlapped} of {samples.Count} ports" +
            (margins.Count > 0 ? $"; fence-before-move margin median {BenchStats.Median(margins):0} ms, min {margins[0]:0} ms" : ""));
        BenchFormat.Row("violations (frames of a port on two hosts in one window)", $"{cluster.Traffic.Violations.Count}");
        BenchFormat.Row($"goal: {(partition ? "cut" : "kill -9")} -> forwarding elsewhere < 3 s (p99)", failover.Count == 0 ? "n/a" : BenchFormat.Percentile(failover, 99) < 3000
            ? $"MET ({BenchFormat.Percentile(failover, 99) / 1000:0.00} s)" : $"NOT MET ({BenchFormat.Percentile(failover, 99) / 1000:0.00} s)");
        // A killed agent's host must stop by the kernel's lease; a cut-off one fences itself (detection + lease), before any other host starts.
        var stoppedInTime = partition || kept.All(k => k < t.Lease.TotalMilliseconds);
        BenchFormat.Row(partition ? "goal: the old host stops before the new host starts" : "goal: the killed host stops within the lease, before the new host",
            stopped.Count == samples.Count && overlapped == 0 && stoppedInTime ? "MET" : "NOT MET");
        return 0;
    }

    private static string Stats(IReadOnlyList<double> sorted) => sorted.Count == 0 ? "n/a" :
        string.Create(CultureInfo.InvariantCulture, $"{BenchStats.Median(sorted) / 1000:0.00} s / {BenchFormat.Percentile(sorted, 99) / 1000:0.00} s / {sorted[^1] / 1000:0.00} s");

    /// <summary>A seeded randomized fault run of any length: faults injected, frames checked, violations, and whether the cluster settled.</summary>
    public static async Task<int> RandomAsync(string[] args)
    {
        if (args.Contains("-h") || args.Contains("--help"))
        {
            Console.WriteLine("usage: harness-random [--seed N (random)] [--seconds S (300)] [--timings fast|production] [--hosts N (3)] [--keep-logs] [--verbose]");
            return 0;
        }
        if (Missing() is { } why) { Console.Error.WriteLine($"harness-random: {why}"); return 2; }
        var seed = BenchFormat.IntOption(args, "--seed", Random.Shared.Next(1, 1_000_000));
        var seconds = BenchFormat.IntOption(args, "--seconds", 300);
        var options = Options(args.Contains("--timings") || args.Any(a => a.StartsWith("--timings=", StringComparison.Ordinal)) ? args : [.. args, "--timings", "fast"]);
        Console.WriteLine($"harness-random: seed {seed}, {seconds} s of faults (replay: harness-random --seed {seed} --seconds {seconds})");
        await using var cluster = await ReplugCluster.StartAsync(options);
        var plan = FaultPlan.Create(seed, TimeSpan.FromSeconds(seconds), cluster.Hosts, [.. cluster.Coordinators.Select(c => c.Name)]);
        Console.WriteLine($"{plan.Faults.Count} faults planned:\n{plan.Describe()}");
        var result = await RandomFaultRun.ExecuteAsync(cluster, plan);

        BenchFormat.Header("harness-random — seeded faults on real processes, every frame checked");
        BenchFormat.Row("cluster", $"{cluster.Hosts.Count} hosts, {cluster.Ports.Count} ports, {cluster.Coordinators.Count} coordinators; {cluster.Journal.Description}; {options.Timings}");
        Console.WriteLine(result.Describe());
        if (!result.Passed)
        {
            cluster.Failed = true;
            Console.WriteLine(cluster.Report());
        }
        return result.Passed ? 0 : 1;
    }
}
