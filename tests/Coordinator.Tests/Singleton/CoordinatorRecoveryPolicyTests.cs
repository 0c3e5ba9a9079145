using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Persistence;
using Microsoft.Data.Sqlite;
using Replug.Coordinator.Singleton;

namespace Replug.Coordinator.Tests.Singleton;

public sealed class CoordinatorRecoveryPolicyTests
{
    private static readonly RecoverySettings Settings = new(4, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3));

    private static CoordinatorRecoveryFailed Unreadable(string what) =>
        new(new SerializationException($"Cannot read '{what}'", new FormatException("bad json")), null, 0);

    [Fact]
    public void An_unreadable_snapshot_is_skipped_on_the_next_attempt_by_a_full_replay()
    {
        var next = Assert.IsType<RecoveryDecision.Retry>(
            CoordinatorRecoveryPolicy.Next(Settings, 1, SnapshotSelectionCriteria.Latest, Unreadable("coordinator.snapshot.v1"), null));
        Assert.True(next.SkipsSnapshots);
        Assert.Equal(SnapshotSelectionCriteria.None, next.Snapshots);
        Assert.Contains("does not deserialize", next.Problem);
        Assert.Contains("coordinator.snapshot.v1", next.Problem);
    }

    [Fact]
    public void A_hole_in_a_full_replay_is_retried_at_once_from_the_snapshot_taken_just_before_the_hole()
    {
        var failure = new CoordinatorRecoveryFailed(new JournalGapException(1, 301), null, 301);

        var next = Assert.IsType<RecoveryDecision.Retry>(CoordinatorRecoveryPolicy.Next(Settings, 2, SnapshotSelectionCriteria.None, failure, null));

        Assert.Equal(300, next.Snapshots.MaxSequenceNr);
        Assert.False(next.SkipsSnapshots);
        Assert.Equal(TimeSpan.Zero, next.Delay);
        Assert.Contains("the journal continues at event 301 where 1 was expected", next.Problem);
    }

    [Fact]
    public void A_full_replay_that_fails_too_is_retried_as_a_full_replay_and_says_so_once()
    {
        var next = Assert.IsType<RecoveryDecision.Retry>(
            CoordinatorRecoveryPolicy.Next(Settings, 2, SnapshotSelectionCriteria.None, Unreadable("coordinator.nic-added.v1"), null));
        Assert.False(next.SkipsSnapshots);
        Assert.Equal(SnapshotSelectionCriteria.None, next.Snapshots);
    }

    [Fact]
    public void A_database_error_names_the_journal_and_keeps_the_snapshots()
    {
        var failure = new CoordinatorRecoveryFailed(new ApplicationException("Failed", new SqliteException("SQLite Error 11: 'database disk image is malformed'.", 11)), null, 0);
        var next = Assert.IsType<RecoveryDecision.Retry>(CoordinatorRecoveryPolicy.Next(Settings, 1, SnapshotSelectionCriteria.Latest, failure, null));
        Assert.False(next.SkipsSnapshots);
        Assert.Equal(SnapshotSelectionCriteria.Latest, next.Snapshots);
        Assert.StartsWith("the journal is unreadable: SQLite Error 11: 'database disk image is malformed'.", next.Problem);
    }

    [Fact]
    public void The_waits_double_up_to_the_maximum()
    {
        var delays = Enumerable.Range(1, 3).Select(n =>
            ((RecoveryDecision.Retry)CoordinatorRecoveryPolicy.Next(Settings, n, SnapshotSelectionCriteria.Latest, null, new InvalidOperationException("x"))).Delay);
        Assert.Equal([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(3)], delays);
    }

    [Fact]
    public void After_the_allowed_attempts_it_gives_up_with_the_last_problem()
    {
        var giveUp = Assert.IsType<RecoveryDecision.GiveUp>(
            CoordinatorRecoveryPolicy.Next(Settings, 4, SnapshotSelectionCriteria.None, new CoordinatorRecoveryFailed(new RecoveryTimedOutException("no answer"), null, 0), null));
        Assert.Equal(4, giveUp.Attempts);
        Assert.StartsWith("the journal did not answer", giveUp.Problem);
    }

    [Fact]
    public void A_readiness_answer_of_version_1_is_read_with_no_problem()
    {
        using var system = ActorSystem.Create("readiness-v1");
        var serializer = new CoordinatorEventSerializer((ExtendedActorSystem)system);
        var v1 = """{"recovered":true,"epoch":7,"hosts":3}"""u8.ToArray();
        var read = Assert.IsType<CoordinatorQueries.Readiness>(serializer.FromBinary(v1, "coordinator.query.readiness.v1"));
        Assert.Equal(new CoordinatorQueries.Readiness(true, 7, 3, null), read);
        Assert.Equal("coordinator.query.readiness.v2", serializer.Manifest(read));
        var problem = new CoordinatorQueries.Readiness(false, 0, 0, "the journal is unreadable: x");
        Assert.Equal(problem, serializer.FromBinary(serializer.ToBinary(problem), serializer.Manifest(problem)));
    }
}
