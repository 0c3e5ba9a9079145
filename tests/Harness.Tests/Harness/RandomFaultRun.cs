using System.Diagnostics;

namespace Replug.Harness;

/// <summary>What a randomized fault run did and found.</summary>
public sealed record RandomRunResult(
    FaultPlan Plan,
    IReadOnlyDictionary<FaultKind, int> Injected,
    IReadOnlyList<string> Skipped,
    long FramesChecked,
    long SlotsSent,
    long SlotsSkipped,
    long CloseHandovers,
    IReadOnlyList<ForwardingRecord.Violation> Violations,
    ReplugCluster.Settlement? Settlement,
    string? LivenessFailure,
    TimeSpan Elapsed)
{
    public int FaultsInjected => Injected.Values.Sum();
    public bool Passed => Violations.Count == 0 && LivenessFailure is null;

    public string Describe() =>
        $"""
        seed {Plan.Seed}: {Plan.Length.TotalSeconds:0} s of faults, {FaultsInjected} injected ({string.Join(", ", Injected.Where(k => k.Value > 0).Select(k => $"{k.Key} {k.Value}"))}), {Skipped.Count} skipped
        samples: {FramesChecked} frames checked against every other host, {SlotsSent} ms of traffic ({SlotsSkipped} ms the sender missed), {CloseHandovers} hand-over(s) within one window
        violations (a port forwarding on two hosts at once): {Violations.Count}{string.Concat(Violations.Take(10).Select(v => $"\n  {v}"))}
        after the faults: {(LivenessFailure is null ? $"settled {Settlement!.SettledAt / 1000.0:0.0} s into the run (every port on one host or Unplaced with a cause; API agreed {Settlement.ApiLagMs} ms after the traffic); every host Up" : $"FAILED: {LivenessFailure}")}
        replay: the same schedule with --seed {Plan.Seed} --seconds {Plan.Length.TotalSeconds:0}
        """;
}

/// <summary>
/// Runs a <see cref="FaultPlan"/> against a cluster, in real time, with the probe checking every
/// frame all along; then heals whatever is left (partitions, held or stopped processes, removed
/// NICs) and checks liveness: every port forwards on one host or is Unplaced with a cause, the API
/// agrees, and every host is Up again (a downed agent rejoined).
/// </summary>
public static class RandomFaultRun
{
    public static async Task<RandomRunResult> ExecuteAsync(ReplugCluster cluster, FaultPlan plan, TimeSpan? settle = null)
    {
        var clock = Stopwatch.StartNew();
        var injected = Enum.GetValues<FaultKind>().ToDictionary(k => k, _ => 0);
        var skipped = new List<string>();
        cluster.Timeline.Add($"randomized run, seed {plan.Seed}: {plan.Faults.Count} faults planned over {plan.Length.TotalSeconds:0} s\n{plan.Describe()}");

        // Each fault is two steps, its start and its end, run in time order.
        var steps = plan.Faults.SelectMany(f => f.ForMs > 0
                ? new[] { (At: f.AtMs, Fault: f, Start: true), (At: f.EndMs, Fault: f, Start: false) }
                : [(At: f.AtMs, Fault: f, Start: true)])
            .OrderBy(s => s.At).ThenBy(s => s.Start ? 1 : 0).ToList();
        var started = new HashSet<PlannedFault>();
        foreach (var step in steps)
        {
            var wait = TimeSpan.FromMilliseconds(step.At) - clock.Elapsed;
            if (wait > TimeSpan.Zero) await Task.Delay(wait);
            try
            {
                if (step.Start)
                {
                    if (await StartAsync(cluster, step.Fault) is { } why) skipped.Add($"{step.Fault}: {why}");
                    else { injected[step.Fault.Kind]++; started.Add(step.Fault); }
                }
                else if (started.Contains(step.Fault)) await EndAsync(cluster, step.Fault);
            }
            catch (Exception e) when (e is HarnessException or InvalidOperationException or TimeoutException)
            {
                skipped.Add($"{step.Fault}: {e.Message}");
                cluster.Timeline.Add($"could not {(step.Start ? "inject" : "end")} {step.Fault}: {e.Message}");
            }
        }

        await cluster.HealAsync();
        ReplugCluster.Settlement? settlement = null;
        string? failure = null;
        try
        {
            foreach (var host in cluster.Hosts) await cluster.WaitHostStatusAsync(host.Name, "Up", TimeSpan.FromSeconds(60));
            settlement = await cluster.WaitSettledAsync(settle ?? TimeSpan.FromSeconds(60), $"the randomized run (seed {plan.Seed})");
        }
        catch (HarnessException e) { failure = e.Message; }

        var traffic = cluster.Traffic;
        return new RandomRunResult(plan, injected, skipped, traffic.FramesChecked, traffic.SlotsSent, traffic.SlotsSkipped,
            traffic.CloseHandovers, traffic.Violations, settlement, failure, clock.Elapsed);
    }

    /// <summary>Injects a fault; returns why it was skipped, or null.</summary>
    private static async Task<string?> StartAsync(ReplugCluster cluster, PlannedFault fault)
    {
        switch (fault.Kind)
        {
            case FaultKind.KillAgent:
                if (!cluster.Agent(fault.Target).Running) return "the agent is not running (restarting)";
                await cluster.KillAgentAsync(fault.Target, hold: true);
                return null;
            case FaultKind.PauseAgent:
                if (!cluster.Agent(fault.Target).Running) return "the agent is not running (restarting)";
                cluster.PauseAgent(fault.Target);
                return null;
            case FaultKind.RemoveNic:
                if (cluster.Topology.WhereIs(fault.Target) is null) return "the NIC is not present";
                await cluster.DeleteNicAsync(fault.Target);
                return null;
            case FaultKind.IsolateHost:
                await cluster.IsolateHostAsync(fault.Target);
                return null;
            case FaultKind.CutAgents:
                await cluster.CutAsync(fault.Target, fault.Other!);
                return null;
            case FaultKind.KillCoordinator:
                if (!cluster.Coordinator(fault.Target).Process.Running) return "the coordinator is not running";
                await cluster.KillCoordinatorAsync(fault.Target, hold: true);
                return null;
            case FaultKind.MigrateNic:
                var where = cluster.Topology.WhereIs(fault.Target);
                if (where is null) return "the NIC is not present";
                if (where == fault.Other) return "the NIC is already there";
                await cluster.MigrateNicAsync(fault.Target, fault.Other!, fault.Flag);
                return null;
            case FaultKind.RestartEverything:
                await cluster.RestartEverythingAsync(fault.Flag);
                return null;
            default:
                return "unknown fault";
        }
    }

    private static async Task EndAsync(ReplugCluster cluster, PlannedFault fault)
    {
        switch (fault.Kind)
        {
            case FaultKind.KillAgent: cluster.StartAgent(fault.Target); break;
            case FaultKind.PauseAgent: cluster.ResumeAgent(fault.Target); break;
            case FaultKind.RemoveNic: await cluster.RestoreNicAsync(fault.Target, fault.Other!); break;
            case FaultKind.IsolateHost: await cluster.UnisolateHostAsync(fault.Target); break;
            case FaultKind.CutAgents: await cluster.UncutAsync(fault.Target, fault.Other!); break;
            case FaultKind.KillCoordinator: cluster.StartCoordinator(fault.Target); break;
        }
    }
}
