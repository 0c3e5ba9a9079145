using Replug.Coordinator.Tests.Support;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Akka.Actor;
using Akka.Cluster;
using Replug.Coordinator.Hosting;
using Replug.Coordinator.Singleton;
using Replug.Shared.Devices;
using Replug.Shared.Hosting;
using Replug.Shared.Protocol;
using static Replug.Coordinator.Singleton.CoordinatorQueries;
using static Replug.Shared.Protocol.HostProtocol;

namespace Replug.Bench;

/// <summary>
/// Coordinator singleton hand-over: two coordinator nodes and a witness agent; the singleton's
/// node is hard-stopped; from the crash to the new instance (on the other coordinator node)
/// answering GetReadiness with a higher epoch, recovered from the SQLite journal. State is built
/// first through the coordinator's own protocol: fake hosts registered with NICs and ports (their
/// "agents" are actors on the witness node that acknowledge every command), fail-overs of some of
/// their ports (placed, commanded, acknowledged), and NIC migrations between them. Then, on the
/// same journal, recovery alone: a CoordinatorActor started on a fresh node, with the snapshot and
/// with the snapshot deleted (every event replayed).
/// </summary>
public static class HandoverBenchmark
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);
    private const int NicsPerHost = 8;
    private const int PortsPerHost = 4;

    private sealed record Run(double ReadyMs, double UnreachableMs, double RemovedMs, double EpochMs, double BuildMs,
        JournalFacts Before, (int Hosts, int Ports, int Failovers, int Nics) StateBefore, (int Hosts, int Ports, int Failovers, int Nics) StateAfter,
        double RecoverSnapshotMs, double RecoverFullMs, long EpochBefore, long EpochAfter);

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Contains("-h") || args.Contains("--help"))
        {
            Console.WriteLine("usage: handover [--runs N (5)] [--hosts N (50)] [--failovers N (50)] [--migrations N (200)] [--stable-after SECONDS (production)]");
            return 0;
        }
        var runs = BenchFormat.IntOption(args, "--runs", 5);
        var hosts = BenchFormat.IntOption(args, "--hosts", 50);
        var failovers = BenchFormat.IntOption(args, "--failovers", 50);
        var migrations = BenchFormat.IntOption(args, "--migrations", 200);
        if (runs <= 0 || hosts < 2 || failovers < 0 || failovers > hosts * PortsPerHost || migrations < 0 || migrations > hosts * (NicsPerHost - PortsPerHost))
        {
            Console.Error.WriteLine($"--runs > 0, --hosts >= 2, --failovers <= hosts x {PortsPerHost}, --migrations <= hosts x {NicsPerHost - PortsPerHost}");
            return 2;
        }
        var cluster = BenchCluster.Production();
        // Another StableAfter on the same build and load: a before/after comparison in one sitting.
        if (BenchFormat.Option(args, "--stable-after") is { } stable)
            cluster.StableAfter = TimeSpan.FromSeconds(double.Parse(stable, CultureInfo.InvariantCulture));
        if (cluster.Validate() is [var problem, ..])
        {
            Console.Error.WriteLine($"handover: {problem}");
            return 2;
        }
        var snapshotEvery = new PersistenceOptions().SnapshotEvery;
        Console.WriteLine($"handover: 2 coordinator nodes + witness; state: {hosts} fake hosts x {NicsPerHost} NICs / {PortsPerHost} ports, " +
            $"{failovers} fail-overs, {migrations} NIC migrations; snapshot every {snapshotEvery}; {runs} runs ...");

        var load = File.ReadAllText("/proc/loadavg").Split(' ')[0];
        var results = new List<Run>();
        var clock = Stopwatch.StartNew();
        try
        {
            for (var i = 0; i < runs; i++)
            {
                var run = await RunOnce(cluster, hosts, failovers, migrations);
                results.Add(run);
                Console.Error.WriteLine($"  run #{i + 1}: ready after {run.ReadyMs / 1000:0.00} s (unreachable {run.UnreachableMs / 1000:0.00}, " +
                    $"removed {run.RemovedMs / 1000:0.00}, epoch {run.EpochBefore}->{run.EpochAfter} at {run.EpochMs / 1000:0.00}); " +
                    $"recovery alone {run.RecoverSnapshotMs:0} ms (snapshot) / {run.RecoverFullMs:0} ms (full replay)");
            }
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException)
        {
            Console.Error.WriteLine($"handover: {e.GetType().Name}: {e.Message}");
            return 1;
        }
        clock.Stop();

        var last = results[^1];
        BenchFormat.Header("handover — coordinator singleton: hard stop of its node -> new instance recovered and answering (SQLite)");
        BenchFormat.Row("cluster options",
            $"heartbeat {cluster.HeartbeatInterval.TotalMilliseconds:0} ms, pause {cluster.AcceptableHeartbeatPause.TotalSeconds:0.0} s, " +
            $"stable-after {cluster.StableAfter.TotalSeconds:0.#} s (keep-majority{(BenchFormat.HasOption(args, "--stable-after") ? ", from --stable-after" : ", production default")})");
        BenchFormat.Row("runs / wall time", $"{results.Count} in {clock.Elapsed.TotalSeconds:0} s (fresh cluster and journal per run)");
        BenchFormat.Row("machine", $"{Environment.ProcessorCount} cores, 3 ActorSystems in this process; load average {load} at the start");
        BenchFormat.Row("state built per run (events persisted / time)",
            $"{last.Before.Events} events in {BenchStats.MedianSeconds([.. results.Select(r => r.BuildMs)])} s (median)");
        BenchFormat.Row("journal at the crash: events / snapshot at seq / replayed after it",
            $"{last.Before.HighestSequenceNr} / {last.Before.SnapshotSequenceNr?.ToString(CultureInfo.InvariantCulture) ?? "none"} / " +
            $"{last.Before.HighestSequenceNr - (last.Before.SnapshotSequenceNr ?? 0)} (snapshot {last.Before.SnapshotBytes / 1024.0:0} KiB, {last.Before.SnapshotRows} row(s) kept)");
        BenchFormat.Row("state before -> recovered: hosts / ports / fail-overs / NICs",
            $"{Fmt(last.StateBefore)} -> {Fmt(last.StateAfter)}{(results.All(r => r.StateBefore == r.StateAfter) ? " (identical, every run)" : " (DIFFERENT)")}");
        Console.WriteLine("  seconds from the hard stop, seen on the surviving coordinator node c2: median (min-max), and the step from the row above");
        IReadOnlyList<string> Milestone(string name, Func<Run, double> at, Func<Run, double> previous) =>
            [name, BenchStats.Seconds([.. results.Select(at)]), BenchStats.MedianSeconds([.. results.Select(r => at(r) - previous(r))])];
        BenchStats.Table(["milestone", "since stop", "step"],
        [
            Milestone("c1 unreachable (failure detector)", r => r.UnreachableMs, _ => 0),
            Milestone($"c1 downed + removed (SBR stable-after {cluster.StableAfter.TotalSeconds:0.#} s, leader)", r => r.RemovedMs, r => r.UnreachableMs),
            Milestone($"new instance recovered (EpochStarted stamp)", r => r.EpochMs, r => r.RemovedMs),
            Milestone($"GetReadiness answers through c2's proxy (identify every {ClusterHosting.CoordinatorIdentificationInterval.TotalMilliseconds:0} ms)", r => r.ReadyMs, r => r.EpochMs),
        ]);
        Console.WriteLine($"  removed -> recovered: no removal margin ({CoordinatorNode.SingletonRemovalMargin.TotalMilliseconds:0} ms; the journal lock excludes, README \"Singleton hand-over\"):");
        Console.WriteLine("  the new node takes the journal lock (freed with the stopped node) and recovers; recovery itself is the small figure below.");
        Console.WriteLine("  recovery alone (CoordinatorActor started on a fresh node over the same journal, cold plugin), ms:");
        BenchStats.Table(["recovery", "ms"],
        [
            [$"from snapshot + {last.Before.HighestSequenceNr - (last.Before.SnapshotSequenceNr ?? 0)} events", Ms([.. results.Select(r => r.RecoverSnapshotMs)])],
            [$"full replay of {last.Before.HighestSequenceNr + 1} events (snapshot deleted)",
                results.Any(r => double.IsNaN(r.RecoverFullMs)) ? "n/a (events behind the older snapshot compacted)" : Ms([.. results.Select(r => r.RecoverFullMs)])],
        ]);
        Console.WriteLine("  anchor: Akka's defaults (FD pause 3 s, SBR stable-after 20 s) move a singleton in ~45 s.");
        return results.All(r => r.StateBefore == r.StateAfter && r.EpochAfter > r.EpochBefore) ? 0 : 1;
    }

    private static string Fmt((int Hosts, int Ports, int Failovers, int Nics) s) => $"{s.Hosts} / {s.Ports} / {s.Failovers} / {s.Nics}";

    private static string Ms(IReadOnlyList<double> ms) =>
        ms.Count == 1 ? $"{ms[0]:0}" : $"{BenchStats.Median(ms):0} ({ms.Min():0}-{ms.Max():0})";

    private static async Task<(int, int, int, int)> StateOf(TestNode via) =>
    (
        (await via.Ask<HostsView>(new GetHosts())).Hosts.Count,
        (await via.Ask<PortsView>(new GetPorts())).Ports.Count,
        (await via.Ask<FailoversView>(new GetFailovers())).Failovers.Count,
        (await via.Ask<NicsView>(new GetNics())).Nics.Count
    );

    private static async Task<Run> RunOnce(ClusterNodeOptions cluster, int hostCount, int failoverCount, int migrationCount)
    {
        using var data = new BenchTempDirectory();
        var options = BenchCluster.Coordinator(data.Path);
        var nodes = new List<TestNode>();
        FakeHost? witnessHost = null;
        try
        {
            var c1 = await TestNode.StartCoordinator("c1", options, cluster);
            nodes.Add(c1);
            await c1.Join(null);
            var c2 = await TestNode.StartCoordinator("c2", options, cluster);
            nodes.Add(c2);
            await c2.Join(c1);
            witnessHost = new FakeHost("witness", 1000, ["w1"]);
            var witness = await TestNode.StartAgent("witness", witnessHost.Options([], []), witnessHost.Bus, _ => witnessHost.Path, cluster);
            nodes.Add(witness);
            await witness.Join(c1);
            await Wait.Until(async () => (await c1.Ask<Readiness>(new GetReadiness())) is { Recovered: true, Hosts: 1 }, "c1's coordinator ready", Timeout);
            var epochBefore = (await c1.Ask<Readiness>(new GetReadiness())).Epoch;

            // ---- state, through the coordinator's protocol: reports from c2 (remote to the singleton on c1), fake agents on the witness ----
            var build = Stopwatch.StartNew();
            var ids = Enumerable.Range(0, hostCount).Select(h => new HostId($"fake-{h:000}")).ToArray();
            NicIdentity Identity(int h, int j) => new(NicIdentityKind.PermanentMac, $"02:bb:{h / 256:x2}:{h % 256:x2}:00:{j:x2}");
            for (var h = 0; h < hostCount; h++)
            {
                var host = ids[h];
                var agent = witness.System.ActorOf(Props.Create(() => new Nest("user", Props.Create(() => new Nest("host-agent", FakeAgent.Props(host))))), $"fake-{h}");
                var nics = Enumerable.Range(0, NicsPerHost).Select(j => new NicReport(DeviceId.Net($"eth{j}"), Identity(h, j), null, true)).ToList();
                var ports = Enumerable.Range(0, PortsPerHost).Select(j =>
                    new PortReport(new PortSpec(new PortId($"{host}-p{j}")), [DeviceId.Net($"eth{j}")], DeviceId.Net($"eth{j}"), false)).ToList();
                var inventory = new HostInventory(nics, ports, 2 * PortsPerHost, PortsPerHost);
                // Answered at the host's own address (the fake agent), not to the sender: the readiness answer below, ordered behind them, says they are in.
                c2.CoordinatorProxy.Tell(new RegisterHost(host, agent.Path.ToStringWithAddress(witness.Address), 1, inventory));
            }
            var registered = await c2.Ask<Readiness>(new GetReadiness(), Timeout);
            if (registered.Hosts != hostCount + 1) throw new InvalidOperationException($"{registered.Hosts} hosts registered, not {hostCount + 1} (the witness and {hostCount} fake hosts)");
            for (var f = 0; f < failoverCount; f++)
                c2.CoordinatorProxy.Tell(new HostProtocol.PortEscalated(ids[f % hostCount], new PortId($"{ids[f % hostCount]}-p{f / hostCount}"), "bench: no healthy device"));
            await Wait.Until(async () => (await c1.Ask<FailoversView>(new GetFailovers())).Failovers.Count(f => f.Status == FailoverStatus.Completed) == failoverCount,
                $"{failoverCount} fail-overs completed", Timeout);
            for (var m = 0; m < migrationCount; m++)
            {
                var h = m % hostCount;
                var j = PortsPerHost + m / hostCount; // NICs no port runs over
                c2.CoordinatorProxy.Tell(new HostProtocol.NicRemoved(ids[h], DeviceId.Net($"eth{j}"), Identity(h, j)));
                c2.CoordinatorProxy.Tell(new HostProtocol.NicAdded(ids[(h + 1) % hostCount], new NicReport(DeviceId.Net($"mig{m}"), Identity(h, j), null, true)));
            }
            // Ordered behind the reports: answered once they are all handled.
            await c2.Ask<Readiness>(new GetReadiness(), Timeout);
            build.Stop();
            var stateBefore = await StateOf(c1);
            await Task.Delay(TimeSpan.FromSeconds(1)); // the last snapshot, if one is due, is written
            var before = JournalFacts.Read(data.Database);

            // ---- the hand-over ----
            var times = new ConcurrentDictionary<string, DateTimeOffset>();
            c2.System.ActorOf(Props.Create(() => new MemberEventTimes(c1.Address, times)), "bench-member-events");
            await Wait.Until(() => times.ContainsKey("subscribed"), "the member event recorder", Timeout);

            var t0 = DateTimeOffset.UtcNow;
            var crashing = c1.Crash();
            Readiness? ready = null;
            await Wait.Until(async () =>
            {
                var r = await c2.Ask<Readiness>(new GetReadiness(), TimeSpan.FromSeconds(2));
                if (!r.Recovered || r.Epoch <= epochBefore) return false;
                ready = r;
                return true;
            }, "a new coordinator epoch on c2", Timeout, pollMs: 20);
            var readyAt = DateTimeOffset.UtcNow;
            await crashing;
            var epochAt = (await c2.Ask<EventsView>(new GetRecentEvents(1000))).Events
                .Last(e => e.Type == nameof(CoordinatorEvents.EpochStarted)).At;
            var stateAfter = await StateOf(c2);

            await Task.WhenAll(nodes.Select(n => n.Crash()));
            nodes.Clear();

            // ---- recovery alone, on the same journal ----
            var withSnapshot = await RecoverAlone(options, cluster);
            // A full replay needs every event: once compaction has deleted those behind the older kept
            // snapshot, the coordinator refuses to recover on the hole (JournalGapException), by design.
            var full = double.NaN;
            if (LowestSequenceNr(data.Database) <= 1)
            {
                DeleteSnapshots(data.Database);
                full = await RecoverAlone(options, cluster);
            }

            double Ms(DateTimeOffset at) => (at - t0).TotalMilliseconds;
            return new Run(Ms(readyAt), times.TryGetValue("unreachable", out var u) ? Ms(u) : double.NaN,
                times.TryGetValue("removed", out var rm) ? Ms(rm) : double.NaN, Ms(epochAt), build.Elapsed.TotalMilliseconds,
                before, stateBefore, stateAfter, withSnapshot, full, epochBefore, ready!.Epoch);
        }
        finally
        {
            await Task.WhenAll(nodes.Select(n => n.Crash()));
            witnessHost?.Dispose();
        }
    }

    /// <summary>A CoordinatorActor started directly on a fresh node (persistence plugin cold): until its EpochStarted is stamped.</summary>
    private static async Task<double> RecoverAlone(CoordinatorOptions options, ClusterNodeOptions cluster)
    {
        var node = await TestNode.Start("recovery", cluster, ClusterNodeOptions.CoordinatorRole, b => b.WithReplugPersistence(options.Persistence));
        try
        {
            var t0 = DateTimeOffset.UtcNow;
            var actor = node.System.ActorOf(CoordinatorActor.Props(options.Settings(cluster)), "coordinator-recovery");
            await Wait.Until(async () => (await actor.Ask<Readiness>(new GetReadiness(), TimeSpan.FromSeconds(30))).Recovered,
                "the recovering coordinator", Timeout, pollMs: 10);
            var epochAt = (await actor.Ask<EventsView>(new GetRecentEvents(1000), Timeout)).Events
                .Last(e => e.Type == nameof(CoordinatorEvents.EpochStarted)).At;
            return (epochAt - t0).TotalMilliseconds;
        }
        finally
        {
            await node.Crash();
        }
    }

    private static long LowestSequenceNr(string database)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={database}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COALESCE(MIN(sequence_number), 0) FROM journal WHERE persistence_id = $id";
        command.Parameters.AddWithValue("$id", CoordinatorActor.PersistenceIdValue);
        return (long)command.ExecuteScalar()!;
    }

    private static void DeleteSnapshots(string database)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={database}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "DELETE FROM snapshot";
        command.ExecuteNonQuery();
    }

    /// <summary>Creates one child and nothing else: puts a fake agent at ADDRESS/user/fake-N/user/host-agent, where the coordinator looks.</summary>
    private sealed class Nest : UntypedActor
    {
        public Nest(string child, Props props) => Context.ActorOf(props, child);

        protected override void OnReceive(object message) => Unhandled(message);
    }

    /// <summary>A host agent that carries out every command at once: what the coordinator sees of a healthy host.</summary>
    private sealed class FakeAgent : ReceiveActor
    {
        public FakeAgent(HostId host)
        {
            Receive<AttachPort>(a => Sender.Tell(new CommandAcknowledged(a.Id, host, a.Epoch)));
            Receive<DetachPort>(d => Sender.Tell(new CommandAcknowledged(d.Id, host, d.Epoch)));
            Receive<HostRegistered>(_ => { });
        }

        public static Props Props(HostId host) => Akka.Actor.Props.Create(() => new FakeAgent(host));
    }

    /// <summary>When this node saw the watched member become unreachable, downed and removed.</summary>
    private sealed class MemberEventTimes : ReceiveActor
    {
        public MemberEventTimes(Address watched, ConcurrentDictionary<string, DateTimeOffset> times)
        {
            Receive<ClusterEvent.CurrentClusterState>(_ => times.TryAdd("subscribed", DateTimeOffset.UtcNow));
            Receive<ClusterEvent.UnreachableMember>(m => { if (m.Member.Address == watched) times.TryAdd("unreachable", DateTimeOffset.UtcNow); });
            Receive<ClusterEvent.MemberDowned>(m => { if (m.Member.Address == watched) times.TryAdd("downed", DateTimeOffset.UtcNow); });
            Receive<ClusterEvent.MemberRemoved>(m => { if (m.Member.Address == watched) times.TryAdd("removed", DateTimeOffset.UtcNow); });
            ReceiveAny(_ => { });
        }

        protected override void PreStart() => Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot,
            typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));

        protected override void PostStop() => Cluster.Get(Context.System).Unsubscribe(Self);
    }
}
