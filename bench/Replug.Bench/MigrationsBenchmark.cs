using Replug.Coordinator.Tests.Support;
using System.Diagnostics;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Data.Sqlite;
using Replug.Coordinator.Hosting;
using Replug.Coordinator.Singleton;
using Replug.Coordinator.Tracking;
using Replug.Shared.Devices;
using Replug.Shared.Hosting;
using Replug.Shared.Protocol;
using static Replug.Coordinator.Singleton.CoordinatorQueries;

namespace Replug.Bench;

/// <summary>
/// NIC moves per second the coordinator can correlate (goal 10,000/s):
/// (a) the pure <see cref="NicTracker"/> (remove on A + add on B pairs, one thread);
/// (b) the coordinator end-to-end: NicRemoved / NicAdded pairs sent from another node through the
/// singleton proxy (TCP remoting) to the singleton, SQLite journal on, until every NicMigrated is
/// handled; the journal is then read to count the NicMigrated events. For the bound: the same
/// actor over Akka's in-memory journal (no SQLite), and SQLite's own commit rate (one insert per
/// transaction, as the coordinator persists each report on its own).
/// </summary>
public static class MigrationsBenchmark
{
    private const int NicsPerHost = 100;
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(4);

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Contains("-h") || args.Contains("--help"))
        {
            Console.WriteLine("usage: migrations [--nics N (coordinator, 20000)] [--tracker-nics N (100000)] [--snapshot-every N (production default)] [--paths abcd]");
            return 0;
        }
        var nics = BenchFormat.IntOption(args, "--nics", 20_000);
        var trackerNics = BenchFormat.IntOption(args, "--tracker-nics", 100_000);
        var snapshotEvery = BenchFormat.IntOption(args, "--snapshot-every", new PersistenceOptions().SnapshotEvery);
        if (nics < NicsPerHost || nics % NicsPerHost != 0 || trackerNics < 1000 || snapshotEvery <= 0)
        {
            Console.Error.WriteLine($"--nics must be a multiple of {NicsPerHost}, --tracker-nics at least 1000, --snapshot-every positive");
            return 2;
        }

        var paths = BenchFormat.HasOption(args, "--paths") ? StringOption(args, "--paths") : "abcd";
        try
        {
            var load = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            TrackerResult? batched = null, paired = null;
            CoordinatorResult? sqlite = null, memory = null, memoryNoSnapshots = null;
            double? commits = null;
            (double BuildMs, double SerializeMs, long Bytes)? snapshot = null;
            if (paths.Contains('a'))
            {
                Console.WriteLine($"migrations: (a) pure tracker, {trackerNics} NICs ...");
                (batched, paired) = TrackerRate(trackerNics);
            }
            if (paths.Contains('b'))
            {
                Console.WriteLine($"migrations: (b) coordinator with SQLite, {nics} NICs on {nics / NicsPerHost} hosts moving to {nics / NicsPerHost} others ...");
                sqlite = await CoordinatorRate(nics, snapshotEvery, inMemory: false);
            }
            if (paths.Contains('c'))
            {
                Console.WriteLine($"migrations: (c) coordinator with the in-memory journal, {nics} NICs, snapshots every {snapshotEvery} and none ...");
                memory = await CoordinatorRate(nics, snapshotEvery, inMemory: true);
                memoryNoSnapshots = await CoordinatorRate(nics, int.MaxValue, inMemory: true);
                snapshot = await SnapshotCost(nics);
            }
            if (paths.Contains('d'))
            {
                Console.WriteLine("migrations: (d) SQLite commits alone ...");
                commits = SqliteCommitRate(2000);
            }

            BenchFormat.Header("migrations — NIC moves (remove on A + add on B) the coordinator correlates per second; goal 10,000/s");
            BenchFormat.Row("machine", $"{Environment.ProcessorCount} cores; load average {load} at the start (other work on this machine shows here)");
            var rows = new List<IReadOnlyList<string>>();
            if (batched is not null && paired is not null)
            {
                rows.Add(["(a) NicTracker alone, batches of 1000 (one thread)", $"{batched.Pairs}", Rate(batched.PerSecond), Us(batched.PerSecond), $"{batched.Migrated} migrated"]);
                rows.Add(["(a) NicTracker alone, pair by pair", $"{paired.Pairs}", Rate(paired.PerSecond), Us(paired.PerSecond), $"{paired.Migrated} migrated"]);
            }
            if (sqlite is not null)
                rows.Add([$"(b) coordinator via proxy, SQLite, snapshot every {snapshotEvery}", $"{nics}", Rate(sqlite.MovesPerSecond), Us(sqlite.MovesPerSecond), sqlite.Verdicts]);
            if (memory is not null && memoryNoSnapshots is not null)
            {
                rows.Add([$"(c) coordinator, in-memory journal, snapshot every {snapshotEvery}", $"{nics}", Rate(memory.MovesPerSecond), Us(memory.MovesPerSecond), memory.Verdicts]);
                rows.Add(["(c) coordinator, in-memory journal, no snapshots", $"{nics}", Rate(memoryNoSnapshots.MovesPerSecond), Us(memoryNoSnapshots.MovesPerSecond), memoryNoSnapshots.Verdicts]);
            }
            BenchStats.Table(["path", "NICs", "moves/s", "us/move", "verdicts"], rows);
            if (sqlite is not null)
            {
                var j = sqlite.Journal!;
                BenchFormat.Row("(b) events persisted per move (NicRemoved, NicAdded, NicMigrated)",
                    $"{sqlite.EventsPerMove:0.00} -> {sqlite.MovesPerSecond * sqlite.EventsPerMove:N0} events/s, written in batches (a burst per journal write); setup adds {sqlite.AddsPerSecond:N0}/s");
                BenchFormat.Row("(b) snapshots: taken / latest size", $"~{j.HighestSequenceNr / snapshotEvery} / {j.SnapshotBytes / 1024.0:N0} KiB");
                BenchFormat.Row("(b) snapshot rows kept: when the last move was handled -> later",
                    $"{sqlite.SnapshotRowsAtBarrier} -> {j.SnapshotRows} after {sqlite.SettleSeconds:0.0} s (deletes queue behind the reports)");
                BenchFormat.Row("(b) SQLite file: size / free pages (journal_mode)",
                    $"{BenchFormat.Mib(sqlite.DatabaseBytes)} for {j.Events:N0} events / {BenchFormat.Mib(j.FreePages * j.PageSize)} free ({j.JournalMode}, never shrinks)");
            }
            if (memory is not null) BenchFormat.Row("(c) setup adds (snapshot every N / none)", $"{memory.AddsPerSecond:N0}/s / {memoryNoSnapshots!.AddsPerSecond:N0}/s");
            if (snapshot is { } snap)
                BenchFormat.Row($"(c) one snapshot of {nics} NICs: ToSnapshot / serialize / size",
                    $"{snap.BuildMs:0.0} ms / {snap.SerializeMs:0.0} ms / {snap.Bytes / 1024.0:N0} KiB -> {(snap.BuildMs + snap.SerializeMs) * 1000 / snapshotEvery:0} us per event");
            if (commits is { } c)
                BenchFormat.Row("(d) SQLite alone: one INSERT + COMMIT per transaction", $"{c:N0} commits/s ({1e6 / c:0} us each) -> with a write per event, {c / 3:N0} moves/s at most (the coordinator batches instead)");
            if (sqlite is not null)
                BenchFormat.Row("goal: 10,000 moves/s end-to-end (b)", sqlite.MovesPerSecond >= 10_000 ? $"MET ({sqlite.MovesPerSecond:N0}/s)" : $"NOT MET ({sqlite.MovesPerSecond:N0}/s)");
            if (batched is not null)
                BenchFormat.Row("goal: 10,000 moves/s in the tracker (a)", batched.PerSecond >= 10_000 && paired!.PerSecond >= 10_000 ? "MET" : "NOT MET");
            return (sqlite?.Complete ?? true) && (memory?.Complete ?? true) && (memoryNoSnapshots?.Complete ?? true) ? 0 : 1;
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException or SqliteException)
        {
            Console.Error.WriteLine($"migrations: {e.GetType().Name}: {e.Message}");
            return 1;
        }
    }

    private static string StringOption(string[] args, string name)
    {
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == name && i + 1 < args.Length) return args[i + 1];
            if (args[i].StartsWith(name + "=", StringComparison.Ordinal)) return args[i][(name.Length + 1)..];
        }
        return "";
    }

    private static string Rate(double perSecond) => $"{perSecond:N0}";
    private static string Us(double perSecond) => $"{1e6 / perSecond:0.0}";

    private static NicIdentity Identity(int i) => new(NicIdentityKind.PermanentMac, $"02:00:00:{i >> 16 & 0xff:x2}:{i >> 8 & 0xff:x2}:{i & 0xff:x2}");

    // ---- (a) ---------------------------------------------------------------------------------

    private sealed record TrackerResult(int Pairs, double PerSecond, int Migrated);

    private static (TrackerResult Batched, TrackerResult Paired) TrackerRate(int nics)
    {
        var identities = Enumerable.Range(0, nics).Select(Identity).ToArray();
        var devices = Enumerable.Range(0, nics).Select(i => DeviceId.Net($"eth{i}")).ToArray();
        var hosts = Enumerable.Range(0, 8).Select(i => new HostId($"host-{i}")).ToArray();
        // Warm-up (JIT, tiering) on a small tracker.
        for (var w = 0; w < 3; w++) Batched(Math.Min(nics, 10_000), 2);
        Paired(Math.Min(nics, 10_000), 2);
        return (Batched(nics, 3), Paired(nics, 3));

        (NicTracker, DateTimeOffset) Fresh(int n)
        {
            var tracker = new NicTracker(TimeSpan.FromSeconds(5));
            var now = new DateTimeOffset(2025, 1, 1, 12, 0, 0, TimeSpan.Zero);
            for (var i = 0; i < n; i++) tracker.OnAdded(hosts[0], devices[i], identities[i], now);
            return (tracker, now);
        }

        // A batch of removals pending at once, then their adds on the next host (a host drain).
        TrackerResult Batched(int n, int rounds)
        {
            var (tracker, now) = Fresh(n);
            var migrated = 0;
            var clock = Stopwatch.StartNew();
            for (var round = 0; round < rounds; round++)
                for (var start = 0; start < n; start += 1000)
                {
                    var end = Math.Min(n, start + 1000);
                    for (var i = start; i < end; i++) tracker.OnRemoved(hosts[round], devices[i], identities[i], now);
                    now += TimeSpan.FromMilliseconds(1);
                    for (var i = start; i < end; i++)
                        if (tracker.OnAdded(hosts[round + 1], devices[i], identities[i], now) is NicVerdict.Migrated) migrated++;
                    tracker.Expire(now);
                }
            clock.Stop();
            return new TrackerResult(n * rounds, n * rounds / clock.Elapsed.TotalSeconds, migrated);
        }

        // Each removal followed by its add, Expire before each report (what the coordinator does).
        TrackerResult Paired(int n, int rounds)
        {
            var (tracker, now) = Fresh(n);
            var migrated = 0;
            var clock = Stopwatch.StartNew();
            for (var round = 0; round < rounds; round++)
                for (var i = 0; i < n; i++)
                {
                    now += TimeSpan.FromTicks(10);
                    tracker.Expire(now);
                    tracker.OnRemoved(hosts[round], devices[i], identities[i], now);
                    tracker.Expire(now);
                    if (tracker.OnAdded(hosts[round + 1], devices[i], identities[i], now) is NicVerdict.Migrated) migrated++;
                }
            clock.Stop();
            return new TrackerResult(n * rounds, n * rounds / clock.Elapsed.TotalSeconds, migrated);
        }
    }

    // ---- (b), (c) ----------------------------------------------------------------------------

    private sealed record CoordinatorResult(double MovesPerSecond, double AddsPerSecond, string Verdicts, bool Complete, double EventsPerMove,
        JournalFacts? Journal, long DatabaseBytes, long SnapshotRowsAtBarrier = 0, double SettleSeconds = 0);

    private sealed class MemoryCoordinatorKey;

    private static async Task<CoordinatorResult> CoordinatorRate(int nics, int snapshotEvery, bool inMemory)
    {
        using var data = new BenchTempDirectory();
        var cluster = BenchCluster.Production();
        var options = BenchCluster.Coordinator(data.Path, snapshotEvery);
        var nodes = new List<TestNode>();
        try
        {
            IActorRef target;
            TestNode coordinatorNode;
            if (!inMemory)
            {
                coordinatorNode = await TestNode.StartCoordinator("coordinator", options, cluster);
                nodes.Add(coordinatorNode);
                await coordinatorNode.Join(null);
                // An agent-role node (never the singleton's) that can also ask the coordinator's queries.
                var reporter = await TestNode.Start("reporter", cluster, ClusterNodeOptions.AgentRole, _ => { }, coordinatorSerializers: true);
                nodes.Add(reporter);
                await reporter.Join(coordinatorNode);
                target = reporter.CoordinatorProxy;
            }
            else
            {
                // The same actor, not a singleton, on Akka's in-memory journal and snapshot store; messages sent locally.
                coordinatorNode = await TestNode.Start("coordinator-inmem", cluster, ClusterNodeOptions.CoordinatorRole,
                    b => b.WithActors((system, registry) =>
                        registry.Register<MemoryCoordinatorKey>(system.ActorOf(CoordinatorActor.Props(options.Settings(cluster)), "coordinator-inmem"))),
                    """
                    akka.persistence.journal.plugin = "akka.persistence.journal.inmem"
                    akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.inmem"
                    """);
                nodes.Add(coordinatorNode);
                target = coordinatorNode.Registry.Get<MemoryCoordinatorKey>();
            }
            await Wait.Until(async () => (await target.Ask<Readiness>(new GetReadiness(), TimeSpan.FromSeconds(5))).Recovered, "the coordinator", Timeout);

            var hostCount = nics / NicsPerHost;
            var sources = Enumerable.Range(0, hostCount).Select(h => new HostId($"src-{h:000}")).ToArray();
            var targets = Enumerable.Range(0, hostCount).Select(h => new HostId($"dst-{h:000}")).ToArray();
            // The coordinator answers a registration at the host's own address (none here): the readiness answer, ordered behind them, says they are in.
            foreach (var (h, i) in sources.Concat(targets).Select((h, i) => (h, i)))
                target.Tell(new HostProtocol.RegisterHost(h, $"akka.tcp://replug@127.0.0.1:9/user/bench-{i}", 1, HostInventory.Empty));
            var registered = await target.Ask<Readiness>(new GetReadiness(), Timeout);
            if (registered.Hosts != 2 * hostCount) throw new InvalidOperationException($"{registered.Hosts} hosts registered, not {2 * hostCount}");

            // Setup: every NIC added on its source host (one persisted event each).
            var devices = Enumerable.Range(0, NicsPerHost).Select(j => DeviceId.Net($"eth{j}")).ToArray();
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < nics; i++)
                target.Tell(new HostProtocol.NicAdded(sources[i / NicsPerHost], new NicReport(devices[i % NicsPerHost], Identity(i), null, true)));
            await target.Ask<Readiness>(new GetReadiness(), Timeout); // ordered behind the reports
            var addsPerSecond = nics / clock.Elapsed.TotalSeconds;
            var before = inMemory ? null : JournalFacts.Read(data.Database);

            // The moves: each NIC removed on its source and added on its target right after, as a live migration reports.
            clock.Restart();
            for (var i = 0; i < nics; i++)
            {
                target.Tell(new HostProtocol.NicRemoved(sources[i / NicsPerHost], devices[i % NicsPerHost], Identity(i)));
                target.Tell(new HostProtocol.NicAdded(targets[i / NicsPerHost], new NicReport(devices[i % NicsPerHost], Identity(i), null, true)));
            }
            await target.Ask<Readiness>(new GetReadiness(), Timeout);
            clock.Stop();
            var movesPerSecond = nics / clock.Elapsed.TotalSeconds;

            // Where every NIC is now, asked where the state lives (a view of 20,000 NICs exceeds a remoting frame).
            var locationsAsk = inMemory ? target : coordinatorNode.CoordinatorProxy;
            var locations = (await locationsAsk.Ask<NicsView>(new GetNics(), Timeout)).Nics;
            var onTargets = locations.Count(l => l.Host.Value.StartsWith("dst-", StringComparison.Ordinal));
            string verdicts;
            var complete = onTargets == nics;
            double eventsPerMove;
            JournalFacts? after = null;
            long rowsAtBarrier = 0;
            var settle = Stopwatch.StartNew();
            if (!inMemory)
            {
                after = JournalFacts.Read(data.Database);
                rowsAtBarrier = after.SnapshotRows;
                // The snapshot store's acknowledgements queue behind the reports in the coordinator's
                // mailbox, so its deletions of older snapshots lag: wait until they caught up.
                while (after.SnapshotRows > 1 && settle.Elapsed < TimeSpan.FromSeconds(60))
                {
                    await Task.Delay(500);
                    after = JournalFacts.Read(data.Database);
                }
                // Rows behind a snapshot are deleted (compaction) as the run goes: the sequence numbers count what was written.
                var written = after.HighestSequenceNr - before!.HighestSequenceNr;
                var faulted = after.Count("coordinator.nic-faulted");
                complete &= written == 3L * nics && faulted == 0;
                verdicts = $"{onTargets} on B, {written} events, {faulted} faulted";
                eventsPerMove = written / (double)nics;
            }
            else
            {
                verdicts = $"{onTargets} NICs on B";
                eventsPerMove = 3;
            }
            long bytes = 0;
            if (!inMemory)
                foreach (var file in Directory.EnumerateFiles(data.Path)) bytes += new FileInfo(file).Length;
            return new CoordinatorResult(movesPerSecond, addsPerSecond, verdicts, complete, eventsPerMove, after, bytes, rowsAtBarrier,
                settle.Elapsed.TotalSeconds);
        }
        finally
        {
            await Task.WhenAll(nodes.Select(n => n.Crash()));
        }
    }

    /// <summary>
    /// What one snapshot costs at this state size: the state built by applying the same events the
    /// coordinator persisted (hosts, then every NIC added), then ToSnapshot (on the actor's thread)
    /// and the coordinator's serializer (on the snapshot store's). Median of 5 after a warm-up.
    /// </summary>
    private static async Task<(double BuildMs, double SerializeMs, long Bytes)> SnapshotCost(int nics)
    {
        var setup = Shared.Serialization.ReplugSerializers.CreateActorSystemSetup(
            Akka.Configuration.ConfigurationFactory.ParseString("akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING"), CoordinatorEventSerializer.Binding);
        var system = ActorSystem.Create("replug-bench-snapshot", setup);
        try
        {
            var state = new CoordinatorState(TimeSpan.FromSeconds(5));
            var at = DateTimeOffset.UtcNow;
            var hosts = Enumerable.Range(0, nics / NicsPerHost).Select(h => new HostId($"src-{h:000}")).ToArray();
            foreach (var host in hosts)
                state.Apply(new CoordinatorEvents.HostRegistered(host, "akka.tcp://replug@127.0.0.1:9/user/x", 1, HostInventory.Empty, at));
            for (var i = 0; i < nics; i++)
                state.Apply(new CoordinatorEvents.NicAdded(hosts[i / NicsPerHost], new NicReport(DeviceId.Net($"eth{i % NicsPerHost}"), Identity(i), null, true), at));
            var serializer = system.Serialization.FindSerializerFor(state.ToSnapshot());
            var build = new List<double>();
            var serialize = new List<double>();
            long bytes = 0;
            for (var i = 0; i < 6; i++)
            {
                var t0 = Stopwatch.GetTimestamp();
                var snapshot = state.ToSnapshot();
                var t1 = Stopwatch.GetTimestamp();
                bytes = serializer.ToBinary(snapshot).LongLength;
                var t2 = Stopwatch.GetTimestamp();
                if (i == 0) continue;
                build.Add(Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
                serialize.Add(Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds);
            }
            return (BenchStats.Median(build), BenchStats.Median(serialize), bytes);
        }
        finally
        {
            await system.Terminate();
        }
    }

    // ---- (d) ---------------------------------------------------------------------------------

    /// <summary>One small row per transaction into a fresh SQLite file, as Microsoft.Data.Sqlite opens it by default.</summary>
    private static double SqliteCommitRate(int commits)
    {
        using var data = new BenchTempDirectory();
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = data.Database, Mode = SqliteOpenMode.ReadWriteCreate }.ToString());
        connection.Open();
        using (var create = connection.CreateCommand())
        {
            create.CommandText = "CREATE TABLE t (id INTEGER PRIMARY KEY, payload BLOB)";
            create.ExecuteNonQuery();
        }
        var payload = new byte[300];
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < commits; i++)
        {
            using var transaction = connection.BeginTransaction();
            using var insert = connection.CreateCommand();
            insert.Transaction = transaction;
            insert.CommandText = "INSERT INTO t (payload) VALUES ($p)";
            insert.Parameters.AddWithValue("$p", payload);
            insert.ExecuteNonQuery();
            transaction.Commit();
        }
        clock.Stop();
        connection.Close();
        return commits / clock.Elapsed.TotalSeconds;
    }
}
