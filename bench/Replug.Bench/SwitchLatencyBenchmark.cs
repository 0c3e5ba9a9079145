using System.Diagnostics;

namespace Replug.Bench;

/// <summary>
/// A local switch as a user sees it, measured from outside the reacting process: an observer
/// (bench/observer/observer.c, SCHED_FIFO) stamps the kernel's removal uevent of the active NIC
/// (t0) and the rtnetlink message that shows the standby in the bridge (t1). Four reactors, each
/// in a fresh namespace with the same port (bridge br0, veths v1 active and v2 standby, their
/// peers in a shared peer namespace), are measured interleaved, round robin per iteration, so
/// each sees the same machine: Replug's agent as its own process, a minimal C reactor, a python
/// script, and a udev rule. Each reverts by itself when v1 returns, as a revertive port does.
/// </summary>
public static class SwitchLatencyBenchmark
{
    private const string Active = "v1", Standby = "v2", Bridge = "br0";

    private sealed class Subject(SwitchReactor reactor, BenchNamespace ns, int index)
    {
        public SwitchReactor Reactor { get; } = reactor;
        public BenchNamespace Namespace { get; } = ns;
        /// <summary>The observer's index of the namespace.</summary>
        public int Index { get; } = index;
        public int BridgeIndex { get; set; }
        public string PeerPrefix => $"p{Index}";
        public List<double> Switches { get; } = [];
        public List<double> Reverts { get; } = [];
        public List<double> OwnFigures { get; } = [];
        /// <summary>From the active NIC's first down/deleted link message to its removal uevent (µs).</summary>
        public List<double> KernelLead { get; } = [];
        public int Missed { get; set; }
        public int RevertsMissed { get; set; }
        public List<string> Problems { get; } = [];
        public string? Dropped { get; set; }
    }

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Contains("-h") || args.Contains("--help"))
        {
            Console.WriteLine("usage: switch-latency [--iterations N (200)] [--warmup N (20)] [--only replug,c,script,udev (also: replug-sa)] [--timeout MS (2000)] [--gap MS (20)] [--fifo]");
            Console.WriteLine("  --fifo: every reactor SCHED_FIFO (priority 10), to tell waiting for a CPU from the work");
            Console.WriteLine("  root; needs gcc (observer, C reactor), python3 (script), systemd-udevd (udev); a reactor whose tool is missing is skipped");
            return 0;
        }
        if (ReactorRunOptions.Parse("switch-latency", args, iterations: 200, warmup: 20, timeoutMs: 2000, ["replug", "c", "script", "udev"]) is not { } options)
            return 2;
        int gapMs;
        try { gapMs = BenchFormat.IntOption(args, "--gap", 20); }
        catch (FormatException e)
        {
            Console.Error.WriteLine($"switch-latency: {e.Message} (options take whole numbers)");
            return 2;
        }
        if (gapMs < 0)
        {
            Console.Error.WriteLine("switch-latency: --gap must not be negative");
            return 2;
        }
        var (iterations, warmup, timeout, names) = options;
        if (Environment.UserName != "root")
        {
            Console.Error.WriteLine("switch-latency: needs root (network namespaces, SCHED_FIFO)");
            return 2;
        }
        var cancellation = BenchCleanup.Token;

        using var tools = BenchTools.Build("observer", "reactor");
        if (tools.Program("observer") is null)
        {
            Console.Error.WriteLine($"switch-latency: cannot build the observer: {tools.Problem("observer")}");
            return 1;
        }

        var subjects = new List<Subject>();
        var skipped = new List<(string Name, string Why)>();
        BenchNamespace? peers = null;
        SwitchObserver? observer = null;
        try
        {
            peers = new BenchNamespace("rslp");
            foreach (var name in names)
            {
                var reactor = SwitchReactor.Create(name);
                if (reactor.Unavailable(tools) is { } why)
                {
                    skipped.Add((name, why));
                    reactor.Dispose();
                    continue;
                }
                var subject = new Subject(reactor, new BenchNamespace("rsl"), subjects.Count);
                subjects.Add(subject);
                BuildPort(subject, peers.Name);
            }
            if (subjects.Count == 0)
            {
                Console.Error.WriteLine("switch-latency: no reactor can run here: " + string.Join("; ", skipped.Select(s => $"{s.Name}: {s.Why}")));
                return 1;
            }

            observer = new SwitchObserver(tools.Program("observer")!, [.. subjects.Select(s => s.Namespace.Name)]);
            await observer.WaitReadyAsync(cancellation);
            foreach (var subject in subjects)
                foreach (var device in new[] { Active, Standby })
                    observer.Seed(subject.Index, device, ReadLink(subject.Namespace, device));

            foreach (var subject in subjects.ToList())
            {
                var port = new SwitchPort(subject.Namespace.Name, Active, Standby, Bridge);
                try
                {
                    await subject.Reactor.StartAsync(port, tools, cancellation);
                    if (await observer.UntilAsync(subject.Index, links => Restored(links, subject.BridgeIndex), TimeSpan.FromSeconds(30), cancellation) is null)
                        throw new TimeoutException($"the port is not on {Active} alone after start");
                }
                catch (TimeoutException e)
                {
                    skipped.Add((subject.Reactor.Name, $"did not start: {e.Message}"));
                    subject.Reactor.Dispose();
                    subjects.Remove(subject);
                }
            }
            if (subjects.Count == 0)
            {
                Console.Error.WriteLine("switch-latency: no reactor started: " + string.Join("; ", skipped.Select(s => $"{s.Name}: {s.Why}")));
                return 1;
            }

            Console.WriteLine($"switch-latency: {string.Join(", ", subjects.Select(s => $"{s.Reactor.Name} in {s.Namespace.Name}"))}; observer {observer.Scheduling}");
            Console.WriteLine($"  {warmup} warm-up + {iterations} iterations each, round robin ...");
            var total = Stopwatch.StartNew();
            for (var round = 0; round < warmup + iterations; round++)
            {
                var counted = round >= warmup;
                // The first of each round moves on, so that no reactor always follows the same one.
                for (var k = 0; k < subjects.Count; k++)
                {
                    cancellation.ThrowIfCancellationRequested();
                    var subject = subjects[(round + k) % subjects.Count];
                    if (subject.Dropped is not null) continue;
                    await IterateAsync(subject, observer, peers.Name, counted, timeout, cancellation);
                    if (gapMs > 0) await Task.Delay(gapMs, cancellation);
                }
                if ((round + 1) % 50 == 0) Console.WriteLine($"  round {round + 1} of {warmup + iterations} ({total.Elapsed.TotalSeconds:0} s)");
            }
            total.Stop();
            Report(subjects, skipped, observer, iterations, warmup, total.Elapsed, timeout);
            return subjects.All(s => s.Missed == 0 && s.RevertsMissed == 0 && s.Dropped is null) ? 0 : 1;
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            Console.Error.WriteLine("switch-latency: interrupted");
            return 130;
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException or IOException)
        {
            Console.Error.WriteLine($"switch-latency: {e.GetType().Name}: {e.Message}");
            return 1;
        }
        finally
        {
            foreach (var subject in subjects) subject.Reactor.Dispose();
            observer?.Dispose();
            foreach (var subject in subjects) subject.Namespace.Dispose();
            peers?.Dispose();
        }
    }

    /// <summary>The port: br0 up, v1 (active, in br0) and v2 (standby) up, their peers in the shared peer namespace.</summary>
    private static void BuildPort(Subject subject, string peerNamespace)
    {
        var ns = subject.Namespace;
        ns.Ip("link", "add", Bridge, "type", "bridge");
        ns.Ip("link", "set", Bridge, "up");
        foreach (var device in new[] { Active, Standby })
        {
            ns.Ip("link", "add", device, "type", "veth", "peer", "name", subject.PeerPrefix + device, "netns", peerNamespace);
            PeerUp(peerNamespace, subject.PeerPrefix + device);
            ns.Ip("link", "set", device, "up");
        }
        ns.Ip("link", "set", Active, "master", Bridge);
        subject.BridgeIndex = int.Parse(File.ReadAllText(Path.Combine(ns.SysfsRoot, "class/net", Bridge, "ifindex")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// A NIC that is present has carrier: its veth peer is up, so the NIC is operationally up (a
    /// bridge port forwards only then, and Replug's switch keeps the previous NIC until it is).
    /// </summary>
    private static void PeerUp(string peerNamespace, string peer)
    {
        if (!BenchShell.TryRun(out var error, "ip", "-n", peerNamespace, "link", "set", peer, "up"))
            throw new InvalidOperationException($"cannot bring {peer} up in {peerNamespace}: {error}");
    }

    /// <summary>A link's state from the namespace's sysfs.</summary>
    internal static ObservedLink ReadLink(BenchNamespace ns, string device)
    {
        var dir = Path.Combine(ns.SysfsRoot, "class/net", device);
        int Index(string path) => int.Parse(File.ReadAllText(path).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        var flags = Convert.ToInt32(File.ReadAllText(Path.Combine(dir, "flags")).Trim(), 16);
        var master = ns.MasterOf(device) is { } bridge ? Index(Path.Combine(ns.SysfsRoot, "class/net", bridge, "ifindex")) : 0;
        return new ObservedLink(Index(Path.Combine(dir, "ifindex")), master, (flags & 1) != 0, true);
    }

    /// <summary>The port as it starts each iteration: v1 up in the bridge, v2 out of it.</summary>
    private static bool Restored(IReadOnlyDictionary<string, ObservedLink> links, int bridge) =>
        links.TryGetValue(Active, out var active) && active.Present && active.Up && active.Master == bridge
        && links.TryGetValue(Standby, out var standby) && standby.Master == 0;

    /// <summary>
    /// One iteration: v1 deleted (the switch, timed from the observer's events), then re-created
    /// (the reactor reverts). Each step waits for the `ip` command to finish too, so the kernel's
    /// work for it (the deletion's RCU wait) is not left to overlap the next reactor's turn.
    /// </summary>
    private static async Task IterateAsync(Subject subject, SwitchObserver observer, string peerNamespace, bool counted, TimeSpan timeout, CancellationToken cancellation)
    {
        var ns = subject.Namespace;
        observer.Drain(subject.Index);
        var delete = Task.Run(() => ns.Ip("link", "del", Active), cancellation);
        var (removed, enslaved) = await observer.BothAsync(subject.Index, e => e.IsRemoval(Active), e => e.IsEnslaved(Standby, subject.BridgeIndex), timeout, cancellation);
        await delete;
        if (removed is null) throw new InvalidOperationException($"{subject.Reactor.Name}: the observer saw no removal of {Active} in {ns.Name} ({observer.Tail})");
        var switched = enslaved is not null;
        if (switched)
        {
            try { await subject.Reactor.AfterSwitchAsync(timeout, cancellation); }
            catch (TimeoutException e) { Problem(subject, e.Message); }
        }
        if (counted)
        {
            if (switched)
            {
                subject.Switches.Add((enslaved!.At - removed.At) / 1000.0);
                if (observer.WentDownAt(subject.Index, Active) is { } down && down <= removed.At) subject.KernelLead.Add((removed.At - down) / 1000.0);
                if (subject.Reactor.OwnReaction is { } own) subject.OwnFigures.Add(own);
            }
            else subject.Missed++;
        }
        if (!switched) Problem(subject, $"no switch within {timeout.TotalMilliseconds:0} ms");

        var add = Task.Run(() =>
        {
            ns.Ip("link", "add", Active, "type", "veth", "peer", "name", subject.PeerPrefix + Active, "netns", peerNamespace);
            PeerUp(peerNamespace, subject.PeerPrefix + Active);
        }, cancellation);
        var added = await observer.NextAsync(subject.Index, e => e.IsAddition(Active), timeout, cancellation);
        var restoredAt = await observer.UntilAsync(subject.Index, links => Restored(links, subject.BridgeIndex), timeout, cancellation);
        await add;
        if (restoredAt is { } at && added is not null)
        {
            if (counted) subject.Reverts.Add((at - added.At) / 1000.0);
            try { await subject.Reactor.AfterRevertAsync(timeout, cancellation); }
            catch (TimeoutException e) { Problem(subject, e.Message); }
        }
        else
        {
            if (counted) subject.RevertsMissed++;
            Problem(subject, $"no revert within {timeout.TotalMilliseconds:0} ms; the bench restores the port itself");
            // Put the port back by hand so that the next iteration starts as every other does.
            BenchShell.TryRun(out _, "ip", "-n", ns.Name, "link", "set", Active, "up", "master", Bridge);
            BenchShell.TryRun(out _, "ip", "-n", ns.Name, "link", "set", Standby, "nomaster");
            await observer.UntilAsync(subject.Index, links => Restored(links, subject.BridgeIndex), timeout, cancellation);
        }
    }

    /// <summary>Keeps a problem for the report; a reactor with many is dropped rather than slowing every round by its timeouts.</summary>
    private static void Problem(Subject subject, string what)
    {
        subject.Problems.Add(what);
        if (subject.Problems.Count >= 20) subject.Dropped = $"dropped after {subject.Problems.Count} problems";
    }

    private static void Report(List<Subject> subjects, List<(string Name, string Why)> skipped, SwitchObserver observer, int iterations, int warmup,
        TimeSpan elapsed, TimeSpan timeout)
    {
        foreach (var s in subjects) { s.Switches.Sort(); s.Reverts.Sort(); s.OwnFigures.Sort(); s.KernelLead.Sort(); }
        BenchFormat.Header("switch-latency — removal uevent of the active NIC -> standby in the bridge, seen by an outside observer (µs)");
        Console.WriteLine($"  {iterations} iterations per reactor (+{warmup} warm-up), interleaved, in {elapsed.TotalSeconds:0} s; observer {observer.Scheduling}; reactors {(SwitchReactor.RealTime ? "SCHED_FIFO (--fifo)" : "normal priority")}; {Environment.ProcessorCount} cores");
        Console.WriteLine();
        Console.WriteLine($"  {"reactor",-56} {"p50",8} {"p90",8} {"p99",8} {"max",8}  {"missed",6}  {"revert p50 / p99",18}");
        foreach (var s in subjects)
        {
            string P(List<double> v, double p) => v.Count == 0 ? "n/a" : $"{BenchFormat.Percentile(v, p):0}";
            Console.WriteLine($"  {s.Reactor.Name + ": " + s.Reactor.Description,-56} {P(s.Switches, 50),8} {P(s.Switches, 90),8} {P(s.Switches, 99),8} {P(s.Switches, 100),8}  {s.Missed,6}  {P(s.Reverts, 50) + " / " + P(s.Reverts, 99),18}");
        }
        foreach (var (name, why) in skipped) Console.WriteLine($"  {name + ": skipped",-56} {why}");

        var byName = subjects.ToDictionary(s => s.Reactor.Name);
        void Ratio(string label, string over, string under)
        {
            if (!byName.TryGetValue(over, out var a) || !byName.TryGetValue(under, out var b) || a.Switches.Count == 0 || b.Switches.Count == 0) return;
            BenchFormat.Row(label, $"{BenchFormat.Percentile(a.Switches, 50) / BenchFormat.Percentile(b.Switches, 50):0.0}x at p50, {BenchFormat.Percentile(a.Switches, 99) / BenchFormat.Percentile(b.Switches, 99):0.0}x at p99");
        }
        Console.WriteLine();
        Ratio("Replug / C reactor", "replug", "c");
        Ratio("udev rule / Replug", "udev", "replug");
        Ratio("script / Replug", "script", "replug");
        if (byName.TryGetValue("replug", out var replug) && replug.OwnFigures.Count > 0)
            BenchFormat.Row("Replug's own figure (netlink receive -> ack) p50 / p99 / max",
                $"{BenchFormat.Percentile(replug.OwnFigures, 50):0} / {BenchFormat.Percentile(replug.OwnFigures, 99):0} / {BenchFormat.Percentile(replug.OwnFigures, 100):0} us");
        var lead = subjects.SelectMany(s => s.KernelLead).Order().ToList();
        if (lead.Count > 0)
            BenchFormat.Row("kernel: v1 down/deleted (rtnetlink) -> removal uevent p50 / p99", $"{BenchFormat.Percentile(lead, 50):0} / {BenchFormat.Percentile(lead, 99):0} us (before any reactor can know)");
        BenchFormat.Row("switches that never came (timeout)", $"{string.Join(", ", subjects.Select(s => $"{s.Reactor.Name} {s.Missed}"))} (timeout {timeout.TotalMilliseconds:0} ms)");
        BenchFormat.Row("reverts that never came", string.Join(", ", subjects.Select(s => $"{s.Reactor.Name} {s.RevertsMissed}")));
        var errors = subjects.Where(s => s.Reactor.Errors > 0).Select(s => $"{s.Reactor.Name} {s.Reactor.Errors}").ToList();
        if (errors.Count > 0) BenchFormat.Row("reactor error lines", string.Join(", ", errors));
        foreach (var s in subjects.Where(s => s.Problems.Count > 0))
            BenchFormat.Row($"{s.Reactor.Name}: problems ({s.Problems.Count})", (s.Dropped is null ? "" : s.Dropped + "; first: ") + s.Problems[0]);
        Console.WriteLine("  revert: the addition uevent of v1 -> v1 up in the bridge and v2 out of it (each reactor reverts by itself)");
    }
}
