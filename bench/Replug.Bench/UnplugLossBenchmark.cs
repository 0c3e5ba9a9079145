using System.Diagnostics;
using System.Globalization;

namespace Replug.Bench;

/// <summary>
/// Traffic through a port while its active NIC is hot-unplugged: frames lost and the outage, for
/// Replug's agent, the C reactor and the udev rule (and the script, when asked) side by side.
/// <para>
/// Topology, one host namespace per reactor and one fabric namespace: a sender in the fabric
/// writes numbered frames at a fixed rate into the fabric's bridge, which floods each (its
/// destination is never learned) onto both fabric-side peers of the reactor whose turn it is
/// (flooding is switched off on the other hosts' ports); in its host namespace those are v1 and
/// v2, of which only the one in br0 forwards, to a receiver on a veth in br0 that counts every
/// sequence number once. The peers are isolated bridge ports (they forward only to the sender's
/// port, never to each other), so while both NICs are in br0 a frame makes a duplicate, never a
/// loop. (Not tc mirred: this kernel has no tc classifiers.)
/// </para>
/// <para>
/// Per turn: a quiet window (the noise floor), then (a) surprise removal of v1, (b) its return
/// (v1 is made in the fabric, its peer mirrored to, then moved into the host: an add uevent, as
/// a hot-plug; the reactor reverts), (c) a planned drain (the port moved to v2 make-before-break,
/// v1 released and taken down, then deleted), (b) again. Each window ends when the observer has
/// seen the port settle and 100 ms more of traffic have passed.
/// </para>
/// </summary>
public static class UnplugLossBenchmark
{
    private const string Active = "v1", Standby = "v2", Bridge = "br0", FabricBridge = "fab";
    private static readonly string[] Scenarios = ["surprise", "drain", "revert", "quiet"];

    /// <summary>--verbose: every receiver window as it closes.</summary>
    private static bool Verbose;

    private sealed class Subject(SwitchReactor reactor, BenchNamespace ns, int index)
    {
        public SwitchReactor Reactor { get; } = reactor;
        public BenchNamespace Namespace { get; } = ns;
        public int Index { get; } = index;
        public int BridgeIndex { get; set; }
        public BenchProcess? Receiver { get; set; }
        public string Peer(string device) => $"p{Index}{device}";
        /// <summary>Per rate and scenario: (lost frames, longest gap in frames) per window.</summary>
        public Dictionary<(int Rate, string Scenario), List<(long Lost, long Longest)>> Windows { get; } = [];
        public List<string> Problems { get; } = [];
    }

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Contains("-h") || args.Contains("--help"))
        {
            Console.WriteLine("usage: unplug-loss [--iterations N (10)] [--warmup N (2)] [--rates 10000,100000] [--only replug,replug-sa,c,udev (also: script)] [--timeout MS (3000)] [--verbose] [--fifo]");
            Console.WriteLine("  --fifo: every reactor SCHED_FIFO (priority 10), to tell waiting for a CPU from the work");
            Console.WriteLine("  root; needs gcc (sender, receiver, observer, C reactor), iproute2 bridge, systemd-udevd (udev); a reactor whose tool is missing is skipped");
            return 0;
        }
        if (ReactorRunOptions.Parse("unplug-loss", args, iterations: 10, warmup: 2, timeoutMs: 3000, ["replug", "replug-sa", "c", "udev"]) is not { } options)
            return 2;
        List<int> rates;
        try
        {
            rates = [.. (BenchFormat.Option(args, "--rates") ?? "10000,100000").Split(',', StringSplitOptions.RemoveEmptyEntries)
                .Select(r => int.Parse(r, CultureInfo.InvariantCulture))];
        }
        catch (FormatException e)
        {
            Console.Error.WriteLine($"unplug-loss: --rates: {e.Message} (a comma-separated list of whole numbers)");
            return 2;
        }
        if (rates.Count == 0 || rates.Any(r => r is < 100 or > 1_000_000))
        {
            Console.Error.WriteLine("unplug-loss: --rates: each rate 100 to 1,000,000 frames/s");
            return 2;
        }
        var (iterations, warmup, timeout, names) = options;
        if (Environment.UserName != "root")
        {
            Console.Error.WriteLine("unplug-loss: needs root (network namespaces, raw sockets)");
            return 2;
        }
        if (BenchTools.FindOnPath("bridge") is null)
        {
            Console.Error.WriteLine("unplug-loss: the iproute2 'bridge' command is not on PATH (the fabric's ports are set with it)");
            return 1;
        }
        var cancellation = BenchCleanup.Token;

        using var tools = BenchTools.Build("observer", "reactor", "sender", "receiver");
        foreach (var program in new[] { "observer", "sender", "receiver" })
            if (tools.Program(program) is null)
            {
                Console.Error.WriteLine($"unplug-loss: cannot build the {program}: {tools.Problem(program)}");
                return 1;
            }

        var subjects = new List<Subject>();
        var skipped = new List<(string Name, string Why)>();
        BenchNamespace? fabric = null;
        SwitchObserver? observer = null;
        BenchProcess? sender = null;
        var senderScheduling = "?";
        Verbose = BenchFormat.HasOption(args, "--verbose");
        try
        {
            fabric = new BenchNamespace("rulf");
            // The sender writes on "src"; its peer "srcp" is the fabric bridge's one ordinary port.
            fabric.Ip("link", "add", FabricBridge, "type", "bridge");
            fabric.Ip("link", "set", FabricBridge, "up");
            fabric.Ip("link", "add", "src", "type", "veth", "peer", "name", "srcp");
            fabric.Ip("link", "set", "srcp", "master", FabricBridge);
            fabric.Ip("link", "set", "src", "up");
            fabric.Ip("link", "set", "srcp", "up");

            foreach (var name in names)
            {
                var reactor = SwitchReactor.Create(name);
                if (reactor.Unavailable(tools) is { } why)
                {
                    skipped.Add((name, why));
                    reactor.Dispose();
                    continue;
                }
                var subject = new Subject(reactor, new BenchNamespace("rul"), subjects.Count);
                subjects.Add(subject);
                BuildHost(subject, fabric);
            }
            if (subjects.Count == 0)
            {
                Console.Error.WriteLine("unplug-loss: no reactor can run here: " + string.Join("; ", skipped.Select(s => $"{s.Name}: {s.Why}")));
                return 1;
            }

            observer = new SwitchObserver(tools.Program("observer")!, [.. subjects.Select(s => s.Namespace.Name)]);
            await observer.WaitReadyAsync(cancellation);
            foreach (var subject in subjects)
                foreach (var device in new[] { Active, Standby })
                    observer.Seed(subject.Index, device, SwitchLatencyBenchmark.ReadLink(subject.Namespace, device));

            foreach (var subject in subjects.ToList())
            {
                try
                {
                    await subject.Reactor.StartAsync(new SwitchPort(subject.Namespace.Name, Active, Standby, Bridge), tools, cancellation);
                    if (await observer.UntilAsync(subject.Index, links => Restored(links, subject.BridgeIndex), TimeSpan.FromSeconds(30), cancellation) is null)
                        throw new TimeoutException($"the port is not on {Active} alone after start");
                    subject.Receiver = new BenchProcess($"receiver in {subject.Namespace.Name}", tools.Program("receiver")!,
                        [Path.Combine(Replug.Agent.Linux.NetworkNamespace.RunDirectory, subject.Namespace.Name), "vmp"]);
                    await subject.Receiver.WaitLineAsync(0, l => l == "ready", timeout, "the receiver bound", cancellation);
                }
                catch (TimeoutException e)
                {
                    skipped.Add((subject.Reactor.Name, $"did not start: {e.Message}"));
                    subject.Reactor.Dispose();
                    subject.Receiver?.Dispose();
                    subjects.Remove(subject);
                }
            }
            if (subjects.Count == 0)
            {
                Console.Error.WriteLine("unplug-loss: no reactor started: " + string.Join("; ", skipped.Select(s => $"{s.Name}: {s.Why}")));
                return 1;
            }

            Console.WriteLine($"unplug-loss: {string.Join(", ", subjects.Select(s => $"{s.Reactor.Name} in {s.Namespace.Name}"))}; fabric {fabric.Name}");
            var total = Stopwatch.StartNew();
            foreach (var rate in rates)
            {
                sender = new BenchProcess($"sender at {rate}/s", tools.Program("sender")!,
                    [Path.Combine(Replug.Agent.Linux.NetworkNamespace.RunDirectory, fabric.Name), "src", rate.ToString(CultureInfo.InvariantCulture)]);
                var ready = sender.Line(await sender.WaitLineAsync(0, l => l.StartsWith("ready", StringComparison.Ordinal), timeout, "the sender bound", cancellation));
                senderScheduling = ready == "ready fifo" ? "SCHED_FIFO" : $"normal priority (SCHED_FIFO refused: {ready["ready refused ".Length..]})";
                Console.WriteLine($"  {rate:N0} frames/s: {warmup} warm-up + {iterations} turns per reactor, round robin ...");
                for (var round = 0; round < warmup + iterations; round++)
                    for (var k = 0; k < subjects.Count; k++)
                    {
                        cancellation.ThrowIfCancellationRequested();
                        var subject = subjects[(round + k) % subjects.Count];
                        await TurnAsync(subject, subjects, fabric, observer, round >= warmup ? rate : 0, timeout, cancellation);
                    }
                sender.Dispose();
                sender = null;
            }
            total.Stop();
            Report(subjects, skipped, rates, iterations, warmup, total.Elapsed,
                $"observer {observer.Scheduling}, sender {senderScheduling}, reactors {(SwitchReactor.RealTime ? "SCHED_FIFO (--fifo)" : "normal priority")}");
            return subjects.All(s => s.Problems.Count == 0) ? 0 : 1;
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            Console.Error.WriteLine("unplug-loss: interrupted");
            return 130;
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException or IOException)
        {
            Console.Error.WriteLine($"unplug-loss: {e.GetType().Name}: {e.Message}");
            return 1;
        }
        finally
        {
            sender?.Dispose();
            foreach (var subject in subjects)
            {
                subject.Receiver?.Dispose();
                subject.Reactor.Dispose();
            }
            observer?.Dispose();
            foreach (var subject in subjects) subject.Namespace.Dispose();
            fabric?.Dispose();
        }
    }

    /// <summary>A host: br0 with v1 (active) and the VM's veth "vm" (its far end "vmp" read by the receiver); v2 standby; v1 and v2's peers in the fabric.</summary>
    private static void BuildHost(Subject subject, BenchNamespace fabric)
    {
        var ns = subject.Namespace;
        ns.Ip("link", "add", Bridge, "type", "bridge");
        ns.Ip("link", "set", Bridge, "up");
        ns.Ip("link", "add", "vm", "type", "veth", "peer", "name", "vmp");
        ns.Ip("link", "set", "vm", "master", Bridge);
        ns.Ip("link", "set", "vm", "up");
        ns.Ip("link", "set", "vmp", "up");
        foreach (var device in new[] { Active, Standby })
        {
            ns.Ip("link", "add", device, "type", "veth", "peer", "name", subject.Peer(device), "netns", fabric.Name);
            ns.Ip("link", "set", device, "up");
            AttachToFabric(subject, fabric, device, flood: false);
        }
        ns.Ip("link", "set", Active, "master", Bridge);
        subject.BridgeIndex = int.Parse(File.ReadAllText(Path.Combine(ns.SysfsRoot, "class/net", Bridge, "ifindex")).Trim(), CultureInfo.InvariantCulture);
    }

    private static bool Restored(IReadOnlyDictionary<string, ObservedLink> links, int bridge) =>
        links.TryGetValue(Active, out var active) && active.Present && active.Up && active.Master == bridge
        && links.TryGetValue(Standby, out var standby) && standby.Master == 0;

    /// <summary>The fabric-side peer of a host's NIC: up, an isolated port of the fabric bridge, learning nothing.</summary>
    private static void AttachToFabric(Subject subject, BenchNamespace fabric, string device, bool flood)
    {
        var peer = subject.Peer(device);
        fabric.Ip("link", "set", peer, "master", FabricBridge);
        BenchShell.Run("bridge", "-n", fabric.Name, "link", "set", "dev", peer, "isolated", "on", "learning", "off", "flood", flood ? "on" : "off");
        fabric.Ip("link", "set", peer, "up");
    }

    /// <summary>The traffic to one host's two NICs: flooding on at its fabric ports, off at every other host's.</summary>
    private static void TrafficTo(Subject subject, IEnumerable<Subject> all, BenchNamespace fabric)
    {
        foreach (var other in all)
            foreach (var device in new[] { Active, Standby })
                BenchShell.Run("bridge", "-n", fabric.Name, "link", "set", "dev", other.Peer(device), "flood", other == subject ? "on" : "off");
    }

    /// <summary>One reactor's turn: the traffic to its host, then quiet, surprise, revert, drain, revert windows.</summary>
    /// <param name="rate">The sender's rate, under which the windows are kept; 0 for a warm-up turn.</param>
    private static async Task TurnAsync(Subject subject, IReadOnlyList<Subject> all, BenchNamespace fabric, SwitchObserver observer, int rate, TimeSpan timeout, CancellationToken cancellation)
    {
        var ns = subject.Namespace;
        TrafficTo(subject, all, fabric);
        await Task.Delay(50, cancellation);
        await WindowAsync(subject, rate, null, cancellation); // opens the first window on this host's traffic
        await Task.Delay(200, cancellation);
        await WindowAsync(subject, rate, "quiet", cancellation);

        // (a) Surprise removal: the active NIC is gone.
        observer.Drain(subject.Index);
        ns.Ip("link", "del", Active);
        if (await observer.NextAsync(subject.Index, e => e.IsEnslaved(Standby, subject.BridgeIndex), timeout, cancellation) is null)
            subject.Problems.Add($"surprise: no switch to {Standby} within {timeout.TotalMilliseconds:0} ms");
        else await Settle(subject, subject.Reactor.AfterSwitchAsync(timeout, cancellation), "surprise");
        await Task.Delay(100, cancellation);
        await WindowAsync(subject, rate, "surprise", cancellation);

        await ReturnAsync(subject, fabric, observer, rate, timeout, cancellation);

        // (c) Planned drain: Replug standalone's own planned detach; for the others the bench does
        // what that detach does: the port moved to the standby first (make before break), the NIC
        // released and its link taken down. Then the NIC is removed.
        observer.Drain(subject.Index);
        var planned = false;
        try { planned = await subject.Reactor.DrainAsync(timeout, cancellation); }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException) { subject.Problems.Add($"drain: {e.Message}"); }
        if (!planned)
        {
            ns.Ip("link", "set", Standby, "master", Bridge);
            ns.Ip("link", "set", Active, "nomaster");
            ns.Ip("link", "set", Active, "down");
        }
        ns.Ip("link", "del", Active);
        if (await observer.NextAsync(subject.Index, e => e.IsRemoval(Active), timeout, cancellation) is null)
            subject.Problems.Add("drain: the observer saw no removal");
        // A port that still had v1 active (the bench drained it) switches to where the traffic already is, and detaches.
        else if (!planned) await Settle(subject, subject.Reactor.AfterSwitchAsync(timeout, cancellation), "drain");
        await Task.Delay(100, cancellation);
        await WindowAsync(subject, rate, "drain", cancellation);

        await ReturnAsync(subject, fabric, observer, rate, timeout, cancellation);
    }

    /// <summary>
    /// (b) The preferred NIC returns: made in the fabric with its peer, flooded to, then moved
    /// into the host (an add uevent there, link down, as a hot-plugged NIC), where the reactor
    /// brings it up, takes it back into the bridge and releases the standby.
    /// </summary>
    private static async Task ReturnAsync(Subject subject, BenchNamespace fabric, SwitchObserver observer, int rate, TimeSpan timeout, CancellationToken cancellation)
    {
        var ns = subject.Namespace;
        fabric.Ip("link", "add", Active, "type", "veth", "peer", "name", subject.Peer(Active));
        AttachToFabric(subject, fabric, Active, flood: true);
        observer.Drain(subject.Index);
        fabric.Ip("link", "set", Active, "netns", ns.Name);
        if (await observer.UntilAsync(subject.Index, links => Restored(links, subject.BridgeIndex), timeout, cancellation) is null)
        {
            subject.Problems.Add($"revert: not back on {Active} within {timeout.TotalMilliseconds:0} ms; the bench restores the port itself");
            BenchShell.TryRun(out _, "ip", "-n", ns.Name, "link", "set", Active, "up", "master", Bridge);
            BenchShell.TryRun(out _, "ip", "-n", ns.Name, "link", "set", Standby, "nomaster");
            await observer.UntilAsync(subject.Index, links => Restored(links, subject.BridgeIndex), timeout, cancellation);
        }
        else await Settle(subject, subject.Reactor.AfterRevertAsync(timeout, cancellation), "revert");
        await Task.Delay(100, cancellation);
        await WindowAsync(subject, rate, "revert", cancellation);
    }

    private static async Task Settle(Subject subject, Task settled, string scenario)
    {
        try { await settled; }
        catch (TimeoutException e) { subject.Problems.Add($"{scenario}: {e.Message}"); }
    }

    /// <summary>Closes the receiver's window and keeps it under <paramref name="scenario"/> (null, or a warm-up turn: dropped).</summary>
    private static async Task WindowAsync(Subject subject, int rate, string? scenario, CancellationToken cancellation)
    {
        var receiver = subject.Receiver!;
        var from = receiver.LineCount;
        receiver.WriteLine("window");
        var line = receiver.Line(await receiver.WaitLineAsync(from, l => l.StartsWith("window ", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the receiver's window", cancellation));
        if (Verbose) Console.WriteLine($"    {subject.Reactor.Name} {scenario ?? "(start)"}{(rate == 0 ? " warm-up" : "")}: {line}");
        if (scenario is null || rate == 0) return;
        var f = line.Split(' ');
        var lost = long.Parse(f[4], CultureInfo.InvariantCulture);
        var longest = long.Parse(f[5], CultureInfo.InvariantCulture);
        if (!subject.Windows.TryGetValue((rate, scenario), out var list)) subject.Windows[(rate, scenario)] = list = [];
        list.Add((lost, longest));
    }

    private static void Report(List<Subject> subjects, List<(string Name, string Why)> skipped, List<int> rates, int iterations, int warmup,
        TimeSpan elapsed, string scheduling)
    {
        BenchFormat.Header("unplug-loss — frames lost while the active NIC is unplugged (median / max over turns; outage = longest gap / rate)");
        Console.WriteLine($"  {iterations} turns per reactor and rate (+{warmup} warm-up), interleaved, in {elapsed.TotalSeconds:0} s; {scheduling}; {Environment.ProcessorCount} cores");
        Console.WriteLine("  surprise: v1 deleted; drain: v2 into br0, v1 released and down, then deleted; revert: v1 returns (twice a turn); quiet: no event");
        foreach (var rate in rates)
        {
            Console.WriteLine();
            Console.WriteLine($"  {rate:N0} frames/s");
            Console.WriteLine($"  {"reactor",-10}" + string.Concat(Scenarios.Select(s => $" {s + " lost (outage ms)",-30}")));
            foreach (var subject in subjects)
            {
                var cells = Scenarios.Select(s => Cell(subject, rate, s));
                Console.WriteLine($"  {subject.Reactor.Name,-10}" + string.Concat(cells.Select(c => $" {c,-30}")));
            }
            var byName = subjects.ToDictionary(s => s.Reactor.Name);
            if (byName.TryGetValue("replug", out var replug) && byName.TryGetValue("c", out var c)
                && Median(replug, rate, "surprise", true) is { } r && Median(c, rate, "surprise", true) is { } cr && cr > 0)
                BenchFormat.Row("surprise: Replug's outage / the C reactor's (medians)", $"{r / cr:0.0}x ({r:0.0} ms / {cr:0.0} ms)");
        }
        Console.WriteLine();
        foreach (var (name, why) in skipped) BenchFormat.Row($"{name}: skipped", why);
        foreach (var s in subjects.Where(s => s.Problems.Count > 0))
            BenchFormat.Row($"{s.Reactor.Name}: problems ({s.Problems.Count})", s.Problems[0]);
        Console.WriteLine("  drain: replug-sa by its planned detach (POST /hosts/{host}/devices/{device}/detach); for the others (the agent alone has no");
        Console.WriteLine("  planned detach) the bench does what that detach does: standby into br0 first, then v1 released and down; then v1 deleted.");
    }

    private static double? Median(Subject subject, int rate, string scenario, bool outage)
    {
        if (!subject.Windows.TryGetValue((rate, scenario), out var list) || list.Count == 0) return null;
        var values = list.Select(w => outage ? w.Longest * 1000.0 / rate : w.Lost).Order().ToList();
        return BenchFormat.Percentile(values, 50);
    }

    private static string Cell(Subject subject, int rate, string scenario)
    {
        if (!subject.Windows.TryGetValue((rate, scenario), out var list) || list.Count == 0) return "n/a";
        var lost = list.Select(w => (double)w.Lost).Order().ToList();
        var outage = list.Select(w => w.Longest * 1000.0 / rate).Order().ToList();
        return $"{BenchFormat.Percentile(lost, 50):0} / {BenchFormat.Percentile(lost, 100):0} ({BenchFormat.Percentile(outage, 50):0.0} / {BenchFormat.Percentile(outage, 100):0.0})";
    }
}
