using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Persistence;

namespace Replug.Coordinator.Singleton;

/// <summary>How the coordinator's supervisor restarts it when its recovery fails (section "Replug:Coordinator").</summary>
/// <param name="Attempts">Recoveries tried in a row before the process exits (<see cref="Shared.Hosting.ExitCodes.CoordinatorUnrecoverable"/>).</param>
/// <param name="FirstBackoff">The wait before the second attempt; each next wait is twice the last, up to <paramref name="MaxBackoff"/>.</param>
public sealed record RecoverySettings(int Attempts, TimeSpan FirstBackoff, TimeSpan MaxBackoff)
{
    public static readonly RecoverySettings Default = new(5, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
}

/// <summary>
/// The coordinator's recovery failed (Akka's <c>OnRecoveryFailure</c>: the snapshot store's
/// <c>LoadSnapshotFailed</c>, the journal's <c>ReplayMessagesFailure</c>, a recovery timeout, or an
/// event its handler could not apply). Sent by the coordinator to its parent just before Akka stops
/// it. Local only: never crosses the network nor the journal.
/// </summary>
public sealed record CoordinatorRecoveryFailed(Exception Cause, object? Event, long LastSequenceNr) : INoSerializationVerificationNeeded;

/// <summary>
/// Recovery met an event after a hole in the sequence: the events before <see cref="Found"/> were
/// deleted behind a snapshot, and the snapshot offered (none, or an older one) does not cover them.
/// The state rebuilt from here would be wrong, so recovery stops; the next attempt reads the snapshot
/// taken at <see cref="Found"/> - 1 or before.
/// </summary>
public sealed class JournalGapException(long expected, long found)
    : Exception($"the journal continues at event {found} where {expected} was expected (events before {found} were deleted behind a snapshot)")
{
    public long Expected { get; } = expected;
    public long Found { get; } = found;
}

/// <summary>What the supervisor does after its coordinator stopped before or after it recovered.</summary>
public abstract record RecoveryDecision
{
    /// <summary>Start a new coordinator after <paramref name="Delay"/>, reading snapshots per <paramref name="Snapshots"/>.</summary>
    public sealed record Retry(int Attempt, TimeSpan Delay, SnapshotSelectionCriteria Snapshots, bool SkipsSnapshots, string Problem) : RecoveryDecision;

    /// <summary>Out of attempts: the process exits so that the service manager sees it.</summary>
    public sealed record GiveUp(int Attempts, string Problem) : RecoveryDecision;
}

/// <summary>
/// The supervisor's decisions, pure: what went wrong in words an operator can act on, and what
/// to try next. A snapshot that does not deserialize is skipped: a full replay, which, on a journal
/// compacted behind snapshots, stops at the first hole and is followed by a recovery from the snapshot
/// kept before the latest (the events after it are kept). A journal the database cannot read is
/// retried with backoff, then given up on.
/// </summary>
public static class CoordinatorRecoveryPolicy
{
    /// <summary>Why the coordinator stopped: from its recovery failure, else from the exception that stopped it.</summary>
    public static string Problem(CoordinatorRecoveryFailed? failure, Exception? crash)
    {
        if (failure is not null)
        {
            if (Gap(failure) is { } gap)
                return $"{gap.Message}: the latest snapshot could not be read, so the coordinator recovers from the one kept before it";
            var cause = Innermost(failure.Cause);
            if (failure.Event is not null)
                return $"the journal holds an event the coordinator cannot apply ({failure.Event.GetType().Name} after sequence number {failure.LastSequenceNr}): {cause}";
            if (IsUnreadablePayload(failure.Cause))
                return $"the journal or its snapshot holds a payload that does not deserialize: {cause}";
            if (failure.Cause is RecoveryTimedOutException)
                return $"the journal did not answer: {cause}";
            return $"the journal is unreadable: {cause}";
        }
        return crash is null ? "the coordinator stopped" : $"the coordinator failed: {Innermost(crash)}";
    }

    /// <summary>
    /// The next step after the <paramref name="failedAttempts"/>-th failed recovery in a row,
    /// which read snapshots per <paramref name="used"/>.
    /// </summary>
    public static RecoveryDecision Next(RecoverySettings settings, int failedAttempts, SnapshotSelectionCriteria used,
        CoordinatorRecoveryFailed? failure, Exception? crash)
    {
        var problem = Problem(failure, crash);
        if (failedAttempts >= settings.Attempts) return new RecoveryDecision.GiveUp(failedAttempts, problem);
        // A hole in a full replay: the journal was compacted behind snapshots, and the latest one did
        // not load. The snapshot kept before it, taken just before the hole, covers the deleted events.
        if (failure is not null && Gap(failure) is { } gap)
            return new RecoveryDecision.Retry(failedAttempts + 1, TimeSpan.Zero, new SnapshotSelectionCriteria(gap.Found - 1), false, problem);
        // A snapshot that does not deserialize cannot get better by waiting; the events it
        // summarises are still in the journal. An event that does not deserialize fails the full
        // replay too, and then the attempts run out with the cause named.
        var skip = failure is { Event: null } && IsUnreadablePayload(failure.Cause) && !IsFullReplay(used);
        var delay = TimeSpan.FromTicks(Math.Min(settings.MaxBackoff.Ticks,
            settings.FirstBackoff.Ticks * (1L << Math.Min(failedAttempts - 1, 20))));
        return new RecoveryDecision.Retry(failedAttempts + 1, delay, skip ? SnapshotSelectionCriteria.None : used, skip, problem);
    }

    public static bool IsFullReplay(SnapshotSelectionCriteria criteria) => criteria.MaxSequenceNr <= 0;

    private static JournalGapException? Gap(CoordinatorRecoveryFailed failure) => Chain(failure.Cause).OfType<JournalGapException>().FirstOrDefault();

    private static bool IsUnreadablePayload(Exception e) => Chain(e).Any(x => x is SerializationException);

    /// <summary>The first line of the deepest cause: "SQLite Error 11: 'database disk image is malformed'."</summary>
    private static string Innermost(Exception e)
    {
        // The SQL plugins wrap the database's own error; the serializer's message names the manifest.
        var useful = Chain(e).LastOrDefault(x => x is SerializationException or System.Data.Common.DbException) ?? Chain(e).Last();
        var message = useful.Message.Split('\n')[0].Trim();
        return $"{message} ({useful.GetType().Name})";
    }

    private static IEnumerable<Exception> Chain(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
        {
            yield return x;
            if (x is AggregateException { InnerExceptions.Count: > 0 } aggregate && aggregate.InnerException != aggregate.InnerExceptions[0])
                yield return aggregate.InnerExceptions[0];
        }
    }
}
