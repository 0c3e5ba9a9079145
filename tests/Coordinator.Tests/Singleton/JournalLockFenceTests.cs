using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Event;
using Microsoft.Data.Sqlite;
using Replug.Coordinator.Hosting;
using Replug.Coordinator.Locking;
using Replug.Coordinator.Policies;
using Replug.Coordinator.Singleton;
using Replug.Coordinator.Tests.Support;
using Replug.Shared.Hosting;
using static Replug.Coordinator.Singleton.CoordinatorQueries;

namespace Replug.Coordinator.Tests.Singleton;

/// <summary>
/// The coordinator acts only while its node's hold on the journal lock is confirmed: the hold is
/// set by hand here (<see cref="JournalLocks.HeldUntil"/>), as the lock's checks would set it, so
/// that a lapsed hold (a process that wakes from SIGSTOP, a database session gone) is exact.
/// </summary>
[Collection(Api.RealNodes.Name)]
public sealed class JournalLockFenceTests : ClusterTestBase
{
    private sealed class LogCollector : ReceiveActor
    {
        public LogCollector(ConcurrentQueue<string> log) => Receive<LogEvent>(e => log.Enqueue($"{e.Message}"));
    }

    private static long JournalRows(CoordinatorOptions options)
    {
        using var connection = new SqliteConnection($"Data Source={options.Persistence.SqliteDatabasePath};Pooling=False");
        connection.Open();
        // The journal plugin creates its tables with its first use: none yet is no row yet.
        using var exists = new SqliteCommand("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'journal'", connection);
        if ((long)exists.ExecuteScalar()! == 0) return 0;
        using var count = new SqliteCommand("SELECT count(*) FROM journal", connection);
        return (long)count.ExecuteScalar()!;
    }

    [Fact]
    public async Task A_coordinator_whose_hold_on_the_journal_lock_is_not_confirmed_does_not_start_and_writes_and_answers_nothing()
    {
        var options = TestNode.Coordinator(Data.Path);
        var cluster = TestNode.FastCluster();
        var node = await TestNode.Start("c1", cluster, ClusterNodeOptions.CoordinatorRole, b => b.WithReplugPersistence(options.Persistence));
        Nodes.Add(node);
        await node.Join(null);
        var log = new ConcurrentQueue<string>();
        var collector = node.System.ActorOf(Props.Create(() => new LogCollector(log)));
        node.System.EventStream.Subscribe(collector, typeof(Warning));
        node.System.EventStream.Subscribe(collector, typeof(Error));
        var locks = JournalLocks.Get(node.System);
        // A lock is configured but its hold never confirmed: the lock itself is not needed here.
        locks.Use(_ => throw new InvalidOperationException("no lock is taken in this test"), JournalLockSettings.Default);

        var supervisor = node.System.ActorOf(CoordinatorSupervisor.Props(options.Settings(cluster), options.Recovery), "coordinator");
        await Wait.Until(() => log.Any(l => l.Contains("The coordinator does not start")), "the supervisor waiting for the lock");
        var waiting = await supervisor.Ask<Readiness>(new GetReadiness(), TimeSpan.FromSeconds(10));
        Assert.False(waiting.Recovered);
        Assert.Contains("journal lock is not confirmed", waiting.Problem);
        Assert.Equal(0, JournalRows(options));

        locks.HeldUntil(long.MaxValue);
        await Wait.Until(async () => (await supervisor.Ask<Readiness>(new GetReadiness(), TimeSpan.FromSeconds(10))).Recovered,
            "the coordinator started once the hold is confirmed", TimeSpan.FromSeconds(30));
        var rows = JournalRows(options);
        Assert.True(rows >= 1, "no EpochStarted was written");

        // The hold lapses; the next decision that must be written is refused before its write.
        locks.HeldUntil(0);
        var answer = supervisor.Ask<object>(new CoordinatorRequests.ConfigurePolicies(PolicySettings.Default with { Interval = TimeSpan.FromSeconds(45) }, "test"),
            TimeSpan.FromSeconds(60));
        await Wait.Until(() => log.Any(l => l.Contains("not writing")), "the refused write");

        Assert.False(answer.IsCompleted, "the change was answered although it was never written");
        Assert.Equal(rows, JournalRows(options));
    }
}
