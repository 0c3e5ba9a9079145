using System.Collections.Concurrent;
using System.Text.Json;
using Akka.Actor;
using Akka.Event;
using Microsoft.Data.Sqlite;
using Replug.Coordinator.Api;
using Replug.Coordinator.Hosting;
using Replug.Coordinator.Singleton;
using Replug.Coordinator.Tests.Support;
using Replug.Shared.Protocol;
using static Replug.Coordinator.Singleton.CoordinatorQueries;

namespace Replug.Coordinator.Tests.Singleton;

/// <summary>
/// What an operator found on a real node, on real SQLite files: a journal file cut short, and a
/// snapshot whose payload does not deserialize. The coordinator names the fault in its readiness,
/// logs it once per attempt, falls back to a full replay for a bad snapshot, and gives up (the
/// process would exit with code 3) after its allowed attempts.
/// </summary>
[Collection(Api.RealNodes.Name)]
public sealed class JournalFaultTests : ClusterTestBase
{
    private static string Fixture => Path.Combine(AppContext.BaseDirectory, "Singleton", "Fixtures", "journal-v1", "replug.db");
    private string Database => Path.Combine(Data.Path, "replug.db");

    /// <summary>Every warning and error a node logs, as text.</summary>
    private sealed class LogCollector : ReceiveActor
    {
        public LogCollector(ConcurrentQueue<LogEvent> log) => Receive<LogEvent>(log.Enqueue);
    }

    private static ConcurrentQueue<LogEvent> CollectWarnings(TestNode node)
    {
        var log = new ConcurrentQueue<LogEvent>();
        var collector = node.System.ActorOf(Props.Create(() => new LogCollector(log)));
        node.System.EventStream.Subscribe(collector, typeof(Warning));
        node.System.EventStream.Subscribe(collector, typeof(Error));
        return log;
    }

    private CoordinatorOptions Options(int attempts = 3)
    {
        var options = TestNode.Coordinator(Data.Path);
        options.RecoveryAttempts = attempts;
        options.RecoveryBackoff = TimeSpan.FromMilliseconds(100);
        options.Persistence.SnapshotEvery = 1;
        return options;
    }

    [Fact]
    public async Task A_truncated_journal_file_is_named_in_readiness_logged_once_per_attempt_and_given_up_on_after_the_attempts()
    {
        File.Copy(Fixture, Database);
        using (var file = new FileStream(Database, FileMode.Open)) file.SetLength(file.Length / 2);
        var gaveUp = new TaskCompletionSource<CoordinatorGaveUp>(TaskCreationOptions.RunContinuationsAsynchronously);
        var c = await TestNode.StartCoordinator("c1", Options(attempts: 3), giveUp: (_, why) => gaveUp.TrySetResult(why));
        Nodes.Add(c);
        var log = CollectWarnings(c);
        await c.Join(null);

        var decision = await gaveUp.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(3, decision.Attempts);
        Assert.Contains("journal is unreadable", decision.Problem);
        Assert.Contains("malformed", decision.Problem); // SQLite's own words: "database disk image is malformed"

        var readiness = await c.Ask<Readiness>(new GetReadiness());
        Assert.False(readiness.Recovered);
        Assert.Contains("journal is unreadable", readiness.Problem);
        Assert.Contains("malformed", readiness.Problem);
        Assert.DoesNotContain("recovering its state", readiness.Problem);

        // One warning per backoff step, one error when giving up; nothing else repeats. The log
        // reaches the collector through the event stream, after the decision: wait for the last line.
        await Wait.Until(() => log.Any(e => $"{e.Message}".Contains("did not recover in 3 attempt(s)")), "the give-up error in the log");
        var lines = log.Select(e => $"{e.LogSource}: {e.Message}").ToList();
        Assert.Equal(2, lines.Count(l => l.Contains("Coordinator recovery failed (attempt")));
        Assert.Single(lines, l => l.Contains("did not recover in 3 attempt(s)"));
        Assert.True(lines.Count <= 6, $"{lines.Count} warnings and errors:\n{string.Join("\n", lines)}");
        Assert.True(lines.Sum(l => l.Length) < 8_000, $"{lines.Sum(l => l.Length)} characters logged");
    }

    [Fact]
    public async Task A_snapshot_that_does_not_deserialize_is_skipped_and_the_full_replay_recovers_the_same_state()
    {
        File.Copy(Fixture, Database);
        string before;
        long epochBefore;
        var first = await TestNode.StartCoordinator("c1", Options());
        await first.Join(null);
        await Wait.Until(async () => (await first.Ask<Readiness>(new GetReadiness())).Recovered, "the first recovery");
        await Wait.Until(() => Count("SELECT count(*) FROM snapshot") > 0, "a snapshot");
        epochBefore = (await first.Ask<Readiness>(new GetReadiness())).Epoch;
        before = await State(first);
        await first.Leave();

        SqliteConnection.ClearAllPools();
        Execute("UPDATE snapshot SET snapshot = CAST('{not json' AS BLOB)");
        Assert.True(Count("SELECT count(*) FROM snapshot") > 0);

        var second = await TestNode.StartCoordinator("c2", Options(), giveUp: (_, why) => Assert.Fail($"gave up: {why}"));
        Nodes.Add(second);
        var log = CollectWarnings(second);
        await second.Join(null);
        await Wait.Until(async () => (await second.Ask<Readiness>(new GetReadiness())).Recovered, "recovery by full replay");

        Assert.Equal(epochBefore + 1, (await second.Ask<Readiness>(new GetReadiness())).Epoch);
        Assert.Equal(before, await State(second));
        var warnings = log.Select(e => e.Message.ToString() ?? "").ToList();
        Assert.Single(warnings, w => w.Contains("skipping snapshots (full replay of the journal)") && w.Contains("does not deserialize"));
        Assert.Equal(1, Observability.CoordinatorMetrics.For(second.System).Snapshots(Observability.SnapshotOutcome.Unreadable));
    }

    [Fact]
    public async Task A_recovery_from_the_latest_snapshot_replays_no_more_than_the_schedule_allows_and_rebuilds_the_same_state()
    {
        File.Copy(Fixture, Database);
        var options = Options();
        options.Persistence.SnapshotEvery = 25;
        var first = await TestNode.StartCoordinator("c1", options);
        await first.Join(null);
        await Wait.Until(async () => (await first.Ask<Readiness>(new GetReadiness())).Recovered, "the first recovery");
        var host = (await first.Ask<HostsView>(new GetHosts())).Hosts[0].Host;
        // Drains and undrains (one event each), several snapshots' worth.
        for (var i = 0; i < 200; i++)
            await first.Ask<OperatorProtocol.OperatorAck>(i % 2 == 0 ? new OperatorProtocol.DrainHost(host) : new OperatorProtocol.UndrainHost(host));
        var schedule = new SnapshotSchedule(options.Persistence.SnapshotEvery);
        // A handful of hosts, ports and fail-overs: far fewer records than SnapshotEvery, so SnapshotEvery rules.
        var bound = schedule.MostEventsReplayed(records: 10, batchEvents: 1000);
        long journalEnd = 0, snapshotAt = 0;
        try
        {
            await Wait.Until(() =>
            {
                journalEnd = Count("SELECT max(sequence_number) FROM journal");
                snapshotAt = Count("SELECT coalesce(max(sequence_number), 0) FROM snapshot");
                return journalEnd - snapshotAt < options.Persistence.SnapshotEvery;
            }, "a snapshot within SnapshotEvery events of the journal's end");
        }
        catch (TimeoutException)
        {
            Assert.Fail($"no snapshot within {options.Persistence.SnapshotEvery} events of the end: the journal ends at {journalEnd}, the latest snapshot is at {snapshotAt}");
        }
        // Several snapshots were saved (one at a time: a slow store makes them fewer, never more than 200 / SnapshotEvery).
        var saved = Observability.CoordinatorMetrics.For(first.System).Snapshots(Observability.SnapshotOutcome.Saved);
        Assert.InRange(saved, 2, 200 / options.Persistence.SnapshotEvery + 1);
        var before = await State(first);
        await first.Leave();

        var second = await TestNode.StartCoordinator("c2", options, giveUp: (_, why) => Assert.Fail($"gave up: {why}"));
        Nodes.Add(second);
        await second.Join(null);
        await Wait.Until(async () => (await second.Ask<Readiness>(new GetReadiness())).Recovered, "recovery from the latest snapshot");

        Assert.Equal(before, await State(second));
        Assert.True(Count("SELECT max(sequence_number) FROM journal") - Count("SELECT max(sequence_number) FROM snapshot") <= bound);
    }

    [Fact]
    public async Task The_journal_is_compacted_behind_snapshots_and_an_unreadable_latest_snapshot_recovers_from_the_one_kept_before_it()
    {
        File.Copy(Fixture, Database);
        var first = await TestNode.StartCoordinator("c1", Options());
        await first.Join(null);
        await Wait.Until(async () => (await first.Ask<Readiness>(new GetReadiness())).Recovered, "the first recovery");
        var host = (await first.Ask<HostsView>(new GetHosts())).Hosts[0].Host;
        // Drains and undrains (one event each) until two snapshots were taken and the events behind the older were deleted.
        for (var i = 0; i < 5000 && !(Count("SELECT count(*) FROM snapshot") >= 2 && Count("SELECT min(sequence_number) FROM journal") > 1); i++)
            await first.Ask<OperatorProtocol.OperatorAck>(i % 2 == 0 ? new OperatorProtocol.DrainHost(host) : new OperatorProtocol.UndrainHost(host));
        var total = Count("SELECT max(sequence_number) FROM journal");
        var kept = Count("SELECT count(*) FROM journal");
        Assert.True(kept < total, $"{kept} of {total} events kept: the journal was not compacted");
        var before = await State(first);
        await first.Leave();

        SqliteConnection.ClearAllPools();
        Execute("UPDATE snapshot SET snapshot = CAST('{not json' AS BLOB) WHERE sequence_number = (SELECT max(sequence_number) FROM snapshot)");

        var second = await TestNode.StartCoordinator("c2", Options(attempts: 4), giveUp: (_, why) => Assert.Fail($"gave up: {why}"));
        Nodes.Add(second);
        var log = CollectWarnings(second);
        await second.Join(null);
        await Wait.Until(async () => (await second.Ask<Readiness>(new GetReadiness())).Recovered, "recovery from the older snapshot");

        Assert.Equal(before, await State(second));
        var warnings = log.Select(e => e.Message.ToString() ?? "").ToList();
        Assert.Contains(warnings, w => w.Contains("recovers from the one kept before it"));
    }

    /// <summary>Hosts, ports and fail-overs as the API shows them.</summary>
    private static async Task<string> State(TestNode node) =>
        JsonSerializer.Serialize(new object[]
        {
            await node.Ask<HostsView>(new GetHosts()),
            await node.Ask<PortsView>(new GetPorts()),
            await node.Ask<FailoversView>(new GetFailovers()),
        }, CoordinatorApi.Json);

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Database, Pooling = false }.ToString());
        connection.Open();
        return connection;
    }

    private long Count(string sql)
    {
        using var connection = Open();
        using var command = new SqliteCommand(sql, connection);
        return Convert.ToInt64(command.ExecuteScalar());
    }

    private void Execute(string sql)
    {
        using var connection = Open();
        using var command = new SqliteCommand(sql, connection);
        command.ExecuteNonQuery();
    }
}
