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
    private enum BenchJournal { Sqlite, Postgres }

    private const int NicsPerHost = 100;
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(4);

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Contains("-h") || args.Contains("--help"))
        {
            Console.WriteLine("usage: migrations [--nics N[,N...] (coordinator, 20000)] [--journal sqlite|postgres|both (sqlite)] [--tracker-nics N (100000)] [--snapshot-every N (production default)] [--paths abcde]");
            Console.WriteLine("  paths: (a) the tracker alone, (b) the coordinator, reports remoted from another node, (c) in-memory journal, (d) SQLite commits, (e) as (b), reports sent on the coordinator's node (no remoting)");
            Console.WriteLine($"  postgres: the server in {BenchPostgres.EnvironmentVariable} (or the tests' default), one new schema per run, dropped after it");
            return 0;
        }
        var nicCounts = BenchFormat.HasOption(args, "--nics")
            ? StringOption(args, "--nics").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(n => int.TryParse(n, out var v) ? v : -1).ToArray()
            : [20_000];
        var journals = StringOption(args, "--journal") switch
        {
            "" or "sqlite" => new[] { BenchJournal.Sqlite },
            "postgres" or "postgresql" => [BenchJournal.Postgres],
            "both" => [BenchJournal.Sqlite, BenchJournal.Postgres],
            var other => null,
        };
        if (journals is null)
        {
            Console.Error.WriteLine("--journal must be sqlite, postgres or both");
            return 2;
        }
        if (nicCounts.Length == 0 || nicCounts.Any(n => n < NicsPerHost || n % NicsPerHost != 0))
        {
            Console.Error.WriteLine($"--nics must be multiples of {NicsPerHost}, separated by commas");
            return 2;
        }
        var nics = nicCounts.Max();
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
            var durable = new List<(string Path, BenchJournal Journal, int Nics, CoordinatorResult Result)>();
            CoordinatorResult? memory = null, memoryNoSnapshots = null;
            IReadOnlyList<(string Mode, double PerSecond)>? commits = null;
            SnapshotFacts? snapshot = null;
            NicEventCost? eventCost = null;
            if (paths.Contains('a'))
            {
                Console.WriteLine($"migrations: (a) pure tracker, {trackerNics} NICs ...");
                (batched, paired) = TrackerRate(trackerNics);
            }
            if (paths.Contains('b'))
                foreach (var journal in journals)
                    foreach (var count in nicCounts)
                    {
                        Console.WriteLine($"migrations: (b) coordinator with {journal}, {count} NICs on {count / NicsPerHost} hosts moving to {count / NicsPerHost} others ...");
                        durable.Add(("(b)", journal, count, await CoordinatorRate(count, snapshotEvery, inMemory: false, journal)));
                    }
            if (paths.Contains('e'))
                foreach (var journal in journals)
                    foreach (var count in nicCounts)
                    {
                        Console.WriteLine($"migrations: (e) coordinator with {journal}, {count} NICs, reports sent on its own node ...");
                        durable.Add(("(e)", journal, count, await CoordinatorRate(count, snapshotEvery, inMemory: false, journal, remote: false)));
                    }
            if (paths.Contains('c'))
            {
                Console.WriteLine($"migrations: (c) coordinator with the in-memory journal, {nics} NICs, snapshots every {snapshotEvery} and none ...");
                memory = await CoordinatorRate(nics, snapshotEvery, inMemory: true, BenchJournal.Sqlite);
                memoryNoSnapshots = await CoordinatorRate(nics, int.MaxValue, inMemory: true, BenchJournal.Sqlite);
                snapshot = await SnapshotCost(nics);
                eventCost = await NicEventSerializationCost(nics);
            }
            if (paths.Contains('d'))
            {
                Console.WriteLine("migrations: (d) SQLite commits alone ...");
                commits = [("rollback journal (delete), synchronous FULL", SqliteCommitRate(1000, "DELETE", "FULL")),
                    ("WAL, synchronous FULL (the coordinator's)", SqliteCommitRate(1000, "WAL", "FULL")),
                    ("WAL, synchronous NORMAL", SqliteCommitRate(1000, "WAL", "NORMAL"))];
            }

            BenchFormat.Header("migrations — NIC moves (remove on A + add on B) the coordinator correlates per second; goal 10,000/s");
            BenchFormat.Row("machine", $"{Environment.ProcessorCount} cores; load average {load} at the start (other work on this machine shows here)");
            var rows = new List<IReadOnlyList<string>>();
            if (batched is not null && paired is not null)
            {
                rows.Add(["(a) NicTracker alone, batches of 1000 (one thread)", $"{batched.Pairs}", Rate(batched.PerSecond), Us(batched.PerSecond), $"{batched.Migrated} migrated"]);
                rows.Add(["(a) NicTracker alone, pair by pair", $"{paired.Pairs}", Rate(paired.PerSecond), Us(paired.PerSecond), $"{paired.Migrated} migrated"]);
            }
            foreach (var (path, journal, count, result) in durable)
                rows.Add([$"{path} coordinator via proxy{(path == "(e)" ? " on its node" : "")}, {journal}, snapshot every >= {snapshotEvery}", $"{count}", Rate(result.MovesPerSecond), Us(result.MovesPerSecond), result.Verdicts]);
            if (memory is not null && memoryNoSnapshots is not null)
            {
                rows.Add([$"(c) coordinator, in-memory journal, snapshot every {snapshotEvery}", $"{nics}", Rate(memory.MovesPerSecond), Us(memory.MovesPerSecond), memory.Verdicts]);
                rows.Add(["(c) coordinator, in-memory journal, no snapshots", $"{nics}", Rate(memoryNoSnapshots.MovesPerSecond), Us(memoryNoSnapshots.MovesPerSecond), memoryNoSnapshots.Verdicts]);
            }
            BenchStats.Table(["path", "NICs", "moves/s", "us/move", "verdicts"], rows);
            foreach (var (path, journal, count, result) in durable)
            {
                var j = result.Journal!;
                var label = $"{path} {journal}, {count} NICs:";
                BenchFormat.Row($"{label} events per move (NicRemoved, NicAdded, NicMigrated)",
                    $"{result.EventsPerMove:0.00} -> {result.MovesPerSecond * result.EventsPerMove:N0} events/s in {result.Writes:N0} journal writes ({result.EventsPerMove * count / Math.Max(1, result.Writes):N0} events each, {result.WritingShare:P0} of the time spent writing); setup adds {result.AddsPerSecond:N0}/s");
                BenchFormat.Row($"{label} snapshots during the moves / latest size",
                    $"{result.SnapshotsDuringMoves} / {j.SnapshotBytes / 1024.0:N0} KiB (due after max(SnapshotEvery, records) events)");
                BenchFormat.Row($"{label} events a recovery would replay: when the last move was handled -> later",
                    $"{result.ReplayAtBarrier:N0} -> {j.HighestSequenceNr - (j.SnapshotSequenceNr ?? 0):N0} after {result.WithinBoundAfterSeconds:0.0} s (bound {new SnapshotSchedule(snapshotEvery).MostEventsReplayed(count + 2 * (count / NicsPerHost), 1000):N0}; the snapshot in flight had to land)");
                BenchFormat.Row($"{label} snapshot rows kept: when the last move was handled -> later",
                    $"{result.SnapshotRowsAtBarrier} -> {j.SnapshotRows} after {result.SettleSeconds:0.0} s (deletes queue behind the reports)");
                if (journal == BenchJournal.Sqlite)
                    BenchFormat.Row($"{label} SQLite files: size / free pages (journal_mode)",
                        $"{BenchFormat.Mib(result.DatabaseBytes)} for {j.Events:N0} events / {BenchFormat.Mib(j.FreePages * j.PageSize)} free ({j.JournalMode}, never shrinks)");
                BenchFormat.Row($"goal: 10,000 moves/s end-to-end, {journal}, {count} NICs",
                    result.MovesPerSecond >= 10_000 ? $"MET ({result.MovesPerSecond:N0}/s)" : $"NOT MET ({result.MovesPerSecond:N0}/s)");
            }
            if (memory is not null) BenchFormat.Row("(c) setup adds (snapshot every N / none)", $"{memory.AddsPerSecond:N0}/s / {memoryNoSnapshots!.AddsPerSecond:N0}/s");
            if (snapshot is { } snap)
            {
                BenchFormat.Row($"(c) one snapshot of {nics} NICs ({snap.Records:N0} records): ToSnapshot / serialize / size",
                    $"{snap.BuildMs:0.0} ms / {snap.SerializeMs:0.0} ms / {snap.Bytes / 1024.0:N0} KiB -> {(snap.BuildMs + snap.SerializeMs) * 1000 / Math.Max(snapshotEvery, snap.Records):0.0} us per event (one snapshot per {Math.Max(snapshotEvery, snap.Records):N0} events)");
                BenchFormat.Row($"(c) recovery, worst case the schedule allows: the snapshot + {snap.ReplayedEvents:N0} events",
                    $"{snap.RecoveryMs:N0} ms (snapshot read {snap.SnapshotReadMs:N0} ms); from the snapshot before it (latest unreadable), + {2 * snap.ReplayedEvents:N0} events: {snap.RecoveryFromPreviousMs:N0} ms");
            }
            if (eventCost is { } cost)
                BenchFormat.Row($"(c) the {3 * nics:N0} events of {nics:N0} moves serialized: compact (written) / JSON (v1)",
                    $"{cost.CompactUs:0.00} us, {cost.CompactBytes:0} bytes / {cost.JsonUs:0.00} us, {cost.JsonBytes:0} bytes per event");
            foreach (var (mode, c) in commits ?? [])
                BenchFormat.Row($"(d) SQLite alone, one INSERT + COMMIT per transaction, {mode}", $"{c:N0} commits/s ({1e6 / c:0} us each)");
            if (batched is not null)
                BenchFormat.Row("goal: 10,000 moves/s in the tracker (a)", batched.PerSecond >= 10_000 && paired!.PerSecond >= 10_000 ? "MET" : "NOT MET");
            return durable.All(d => d.Result.Complete) && (memory?.Complete ?? true) && (memoryNoSnapshots?.Complete ?? true) ? 0 : 1;
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException or SqliteException or Npgsql.NpgsqlException)
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
        JournalFacts? Journal, long DatabaseBytes, long SnapshotRowsAtBarrier = 0, double SettleSeconds = 0, long Writes = 0, long SnapshotsDuringMoves = 0, double WritingShare = 0,
        long ReplayAtBarrier = 0, double WithinBoundAfterSeconds = 0);

    private sealed class MemoryCoordinatorKey;

    /// <param name="remote">Reports sent from another node through the singleton proxy (TCP remoting); false: from the coordinator's own node.</param>
    private static async Task<CoordinatorResult> CoordinatorRate(int nics, int snapshotEvery, bool inMemory, BenchJournal journal, bool remote = true)
    {
        using var data = new BenchTempDirectory();
        var cluster = BenchCluster.Production();
        var options = BenchCluster.Coordinator(data.Path, snapshotEvery);
        await using var schema = journal == BenchJournal.Postgres && !inMemory ? await BenchPostgres.CreateSchemaAsync() : null;
        if (schema is not null)
        {
            options.Persistence.Provider = PersistenceOptions.PostgreSql;
            options.Persistence.ConnectionString = schema.ConnectionString;
            options.Persistence.Schema = schema.Name;
        }
        JournalFacts ReadJournal() => schema is null ? JournalFacts.Read(data.Database) : JournalFacts.ReadPostgres(schema.ConnectionString, schema.Name);
        var nodes = new List<TestNode>();
        using var writes = new JournalWriteCounter();
        try
        {
            IActorRef target;
            TestNode coordinatorNode;
            if (!inMemory)
            {
                coordinatorNode = await TestNode.StartCoordinator("coordinator", options, cluster);
                nodes.Add(coordinatorNode);
                await coordinatorNode.Join(null);
                if (!remote) target = coordinatorNode.CoordinatorProxy;
                else
                {
                // An agent-role node (never the singleton's) that can also ask the coordinator's queries.
                var reporter = await TestNode.Start("reporter", cluster, ClusterNodeOptions.AgentRole, _ => { }, coordinatorSerializers: true);
                nodes.Add(reporter);
                await reporter.Join(coordinatorNode);
                target = reporter.CoordinatorProxy;
                }
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
            var before = inMemory ? null : ReadJournal();
            var writesBefore = writes.Writes;
            var writeSecondsBefore = writes.WriteSeconds;
            var snapshotsBefore = writes.SnapshotsSaved;

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
            var writesDuringMoves = writes.Writes - writesBefore;
            var writingShare = (writes.WriteSeconds - writeSecondsBefore) / clock.Elapsed.TotalSeconds;
            var snapshotsDuringMoves = writes.SnapshotsSaved - snapshotsBefore;

            // Where every NIC is now, asked where the state lives (a view of 20,000 NICs exceeds a remoting frame).
            var locationsAsk = inMemory ? target : coordinatorNode.CoordinatorProxy;
            var locations = (await locationsAsk.Ask<NicsView>(new GetNics(), Timeout)).Nics;
            var onTargets = locations.Count(l => l.Host.Value.StartsWith("dst-", StringComparison.Ordinal));
            string verdicts;
            var complete = onTargets == nics;
            double eventsPerMove;
            JournalFacts? after = null;
            long rowsAtBarrier = 0, replayAtBarrier = 0;
            double withinBoundAfter = 0;
            var settle = Stopwatch.StartNew();
            if (!inMemory)
            {
                after = ReadJournal();
                rowsAtBarrier = after.SnapshotRows;
                // The snapshot store's acknowledgements queue behind the reports in the coordinator's
                // mailbox, so its deletions of older snapshots lag: wait until they caught up (the
                // coordinator keeps the latest two).
                while (after.SnapshotRows > 2 && settle.Elapsed < TimeSpan.FromSeconds(60))
                {
                    await Task.Delay(500);
                    after = ReadJournal();
                }
                // The snapshot in flight when the last move was handled: how long until the replay is back within the schedule's bound.
                var bound = new SnapshotSchedule(options.Persistence.SnapshotEvery).MostEventsReplayed(nics + 2 * hostCount, batchEvents: 1000);
                replayAtBarrier = after.HighestSequenceNr - (after.SnapshotSequenceNr ?? 0);
                var landing = Stopwatch.StartNew();
                while (after.HighestSequenceNr - (after.SnapshotSequenceNr ?? 0) > bound && landing.Elapsed < TimeSpan.FromSeconds(60))
                {
                    await Task.Delay(100);
                    after = ReadJournal();
                }
                withinBoundAfter = landing.Elapsed.TotalSeconds;
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
                settle.Elapsed.TotalSeconds, writesDuringMoves, snapshotsDuringMoves, writingShare, replayAtBarrier, withinBoundAfter);
        }
        finally
        {
            await Task.WhenAll(nodes.Select(n => n.Crash()));
        }
    }

    /// <summary>The coordinator's journal writes and saved snapshots, from its meter (<see cref="Coordinator.Observability.CoordinatorMetrics"/>).</summary>
    private sealed class JournalWriteCounter : IDisposable
    {
        private readonly System.Diagnostics.Metrics.MeterListener _listener = new();
        private long _writes;
        private long _snapshotsObserved;
        private double _writeSeconds;

        public JournalWriteCounter()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == Coordinator.Observability.CoordinatorMetrics.MeterName && instrument.Name is "journal.write.events" or "journal.write.latency" or "snapshots")
                    listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<int>((instrument, _, _, _) =>
            {
                if (instrument.Name == "journal.write.events") Interlocked.Increment(ref _writes);
            });
            _listener.SetMeasurementEventCallback<double>((instrument, seconds, _, _) =>
            {
                if (instrument.Name == "journal.write.latency") lock (_listener) _writeSeconds += seconds;
            });
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            {
                foreach (var tag in tags)
                    if (tag is { Key: "outcome", Value: Coordinator.Observability.SnapshotOutcome.Saved }) _snapshotsObserved += value;
            });
            _listener.Start();
        }

        public long Writes => Interlocked.Read(ref _writes);

        /// <summary>Seconds spent in journal writes (persist call to confirmation), summed.</summary>
        public double WriteSeconds
        {
            get { lock (_listener) return _writeSeconds; }
        }

        /// <summary>Snapshots saved so far, summed over every coordinator's meter (each reports its own total).</summary>
        public long SnapshotsSaved
        {
            get
            {
                lock (_listener)
                {
                    _snapshotsObserved = 0;
                    _listener.RecordObservableInstruments();
                    return _snapshotsObserved;
                }
            }
        }

        public void Dispose() => _listener.Dispose();
    }

    private sealed record SnapshotFacts(double BuildMs, double SerializeMs, long Bytes, long Records, long ReplayedEvents,
        double SnapshotReadMs, double RecoveryMs, double RecoveryFromPreviousMs);

    /// <summary>
    /// What one snapshot costs at this state size: the state built by applying the same events the
    /// coordinator persisted (hosts, then every NIC added), then ToSnapshot (on the actor's thread)
    /// and the coordinator's serializer (on the snapshot store's). Median of 5 after a warm-up.
    /// And the recovery the snapshot schedule allows at worst: the snapshot read back and as many move
    /// events as <see cref="SnapshotSchedule.MostEventsReplayed"/> (and twice as many: recovering from the
    /// snapshot kept before an unreadable latest one), each deserialized and applied as recovery does
    /// (the database's read of the rows not counted).
    /// </summary>
    private sealed record NicEventCost(double CompactUs, double CompactBytes, double JsonUs, double JsonBytes);

    /// <summary>What one NIC event costs to serialize (the journal does it once per event), in its compact form and in JSON.</summary>
    private static async Task<NicEventCost> NicEventSerializationCost(int nics)
    {
        var setup = Shared.Serialization.ReplugSerializers.CreateActorSystemSetup(
            Akka.Configuration.ConfigurationFactory.ParseString("akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING"), CoordinatorEventSerializer.Binding);
        var system = ActorSystem.Create("replug-bench-events", setup);
        try
        {
            var at = DateTimeOffset.UtcNow;
            var events = new List<object>(3 * nics);
            for (var i = 0; i < nics; i++)
            {
                var device = DeviceId.Net($"eth{i % NicsPerHost}");
                var from = new HostId($"src-{i / NicsPerHost:000}");
                var to = new HostId($"dst-{i / NicsPerHost:000}");
                events.Add(new CoordinatorEvents.NicRemoved(from, device, Identity(i), at));
                events.Add(new CoordinatorEvents.NicAdded(to, new NicReport(device, Identity(i), null, true), at));
                events.Add(new CoordinatorEvents.NicMigrated(Identity(i), from, to, device, false, at));
            }
            var serializer = (CoordinatorEventSerializer)system.Serialization.FindSerializerFor(events[0]);
            (double Us, double Bytes) Measure(Func<object, byte[]> write)
            {
                long bytes = 0;
                foreach (var e in events.Take(1000)) write(e); // warm-up
                var t0 = Stopwatch.GetTimestamp();
                foreach (var e in events) bytes += write(e).Length;
                return (Stopwatch.GetElapsedTime(t0).TotalMicroseconds / events.Count, bytes / (double)events.Count);
            }
            var compact = Measure(serializer.ToBinary);
            var json = Measure(e => System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(e, e.GetType(), serializer.Options));
            return new NicEventCost(compact.Us, compact.Bytes, json.Us, json.Bytes);
        }
        finally
        {
            await system.Terminate();
        }
    }

    private static async Task<SnapshotFacts> SnapshotCost(int nics)
    {
        var setup = Shared.Serialization.ReplugSerializers.CreateActorSystemSetup(
            Akka.Configuration.ConfigurationFactory.ParseString("akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING"), CoordinatorEventSerializer.Binding);
        var system = ActorSystem.Create("replug-bench-snapshot", setup);
        try
        {
            var state = new CoordinatorState(TimeSpan.FromSeconds(5));
            var at = DateTimeOffset.UtcNow;
            var hosts = Enumerable.Range(0, nics / NicsPerHost).Select(h => new HostId($"src-{h:000}")).ToArray();
            var targets = Enumerable.Range(0, nics / NicsPerHost).Select(h => new HostId($"dst-{h:000}")).ToArray();
            foreach (var host in hosts.Concat(targets))
                state.Apply(new CoordinatorEvents.HostRegistered(host, "akka.tcp://replug@127.0.0.1:9/user/x", 1, HostInventory.Empty, at));
            for (var i = 0; i < nics; i++)
                state.Apply(new CoordinatorEvents.NicAdded(hosts[i / NicsPerHost], new NicReport(DeviceId.Net($"eth{i % NicsPerHost}"), Identity(i), null, true), at));
            var serializer = system.Serialization.FindSerializerFor(state.ToSnapshot());
            var build = new List<double>();
            var serialize = new List<double>();
            byte[] bytes = [];
            for (var i = 0; i < 6; i++)
            {
                var t0 = Stopwatch.GetTimestamp();
                var snapshot = state.ToSnapshot();
                var t1 = Stopwatch.GetTimestamp();
                bytes = serializer.ToBinary(snapshot);
                var t2 = Stopwatch.GetTimestamp();
                if (i == 0) continue;
                build.Add(Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
                serialize.Add(Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds);
            }

            var records = state.SnapshotRecords;
            var replayed = new SnapshotSchedule(new PersistenceOptions().SnapshotEvery).MostEventsReplayed(records, batchEvents: 1000);
            // Moves, as the journal holds them after the snapshot: removed on the source, added on the target, migrated.
            var events = new List<(byte[] Bytes, string Manifest)>();
            for (var i = 0; events.Count < 2 * replayed; i = (i + 1) % nics)
            {
                var device = DeviceId.Net($"eth{i % NicsPerHost}");
                var (from, to) = events.Count / 3 / nics % 2 == 0 ? (hosts[i / NicsPerHost], targets[i / NicsPerHost]) : (targets[i / NicsPerHost], hosts[i / NicsPerHost]);
                foreach (var e in new ICoordinatorEvent[]
                {
                    new CoordinatorEvents.NicRemoved(from, device, Identity(i), at),
                    new CoordinatorEvents.NicAdded(to, new NicReport(device, Identity(i), null, true), at),
                    new CoordinatorEvents.NicMigrated(Identity(i), from, to, device, false, at),
                })
                    events.Add((serializer.ToBinary(e), Akka.Serialization.Serialization.ManifestFor(serializer, e)));
            }
            var snapshotManifest = Akka.Serialization.Serialization.ManifestFor(serializer, state.ToSnapshot());
            (double Read, double Total) Recover(long count)
            {
                var t0 = Stopwatch.GetTimestamp();
                var recovered = new CoordinatorState(TimeSpan.FromSeconds(5));
                recovered.Restore((CoordinatorSnapshot)system.Serialization.Deserialize(bytes, serializer.Identifier, snapshotManifest));
                var read = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                for (var i = 0; i < count; i++)
                    recovered.Apply((ICoordinatorEvent)system.Serialization.Deserialize(events[i].Bytes, serializer.Identifier, events[i].Manifest));
                return (read, Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
            Recover(Math.Min(3000, replayed)); // warm-up
            var latest = Enumerable.Range(0, 3).Select(_ => Recover(replayed)).ToList();
            var previous = Enumerable.Range(0, 3).Select(_ => Recover(2 * replayed)).ToList();
            return new SnapshotFacts(BenchStats.Median(build), BenchStats.Median(serialize), bytes.LongLength, records, replayed,
                BenchStats.Median([.. latest.Select(r => r.Read)]), BenchStats.Median([.. latest.Select(r => r.Total)]), BenchStats.Median([.. previous.Select(r => r.Total)]));
        }
        finally
        {
            await system.Terminate();
        }
    }

    // ---- (d) ---------------------------------------------------------------------------------

    /// <summary>One small row per transaction into a fresh SQLite file, in the given journal mode and synchronous setting.</summary>
    private static double SqliteCommitRate(int commits, string journalMode, string synchronous)
    {
        using var data = new BenchTempDirectory();
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = data.Database, Mode = SqliteOpenMode.ReadWriteCreate }.ToString());
        connection.Open();
        using (var create = connection.CreateCommand())
        {
            create.CommandText = $"PRAGMA journal_mode={journalMode}; PRAGMA synchronous={synchronous}; CREATE TABLE t (id INTEGER PRIMARY KEY, payload BLOB)";
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

/// <summary>A schema of its own on the tests' PostgreSQL server (<see cref="EnvironmentVariable"/>), dropped on dispose.</summary>
internal sealed class BenchPostgres : IAsyncDisposable
{
    public const string EnvironmentVariable = "REPLUG_TEST_POSTGRES";
    private const string DefaultConnectionString = "Host=127.0.0.1;Port=5432;Username=replug;Password=replug;Database=replug_test";

    private BenchPostgres(string name, string connectionString) => (Name, ConnectionString) = (name, connectionString);

    public string Name { get; }
    public string ConnectionString { get; }

    public static async Task<BenchPostgres> CreateSchemaAsync()
    {
        var connectionString = Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } configured ? configured : DefaultConnectionString;
        var name = $"bench_{Guid.NewGuid():N}";
        await Execute(connectionString, $"CREATE SCHEMA \"{name}\"");
        return new BenchPostgres(name, connectionString);
    }

    public async ValueTask DisposeAsync()
    {
        Npgsql.NpgsqlConnection.ClearAllPools();
        await Execute(ConnectionString, $"DROP SCHEMA IF EXISTS \"{Name}\" CASCADE");
    }

    private static async Task Execute(string connectionString, string sql)
    {
        await using var connection = new Npgsql.NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
