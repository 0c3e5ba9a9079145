namespace Replug.Coordinator.Locking;

/// <summary>
/// The right to write the coordinator's journal and to act on it: held by one process at a
/// time, whatever the cluster membership says. Two coordinator clusters can exist (a restarted
/// first seed that could not reach the others founds its own); both would start the singleton,
/// write the same journal, and grant leases from different states. The database is the one thing
/// both see, so the lock lives there, and it dies with its holder's process (its connection or
/// file handle), not after a timeout an operator must wait out.
/// </summary>
public interface IJournalLock : IAsyncDisposable
{
    /// <summary>Takes the lock if nobody holds it; otherwise names the holder as far as the database knows.</summary>
    Task<JournalLockAttempt> TryAcquireAsync(CancellationToken cancellation);

    /// <summary>
    /// Whether the lock is still this process's. The answer covers the moment the check was sent:
    /// the holder counts its hold from then (<see cref="JournalLockSettings.HeldFor"/>), as an agent
    /// counts a lease from its request.
    /// </summary>
    Task<bool> ConfirmAsync(CancellationToken cancellation);

    /// <summary>Gives the lock up (a hand-over); idempotent.</summary>
    Task ReleaseAsync();
}

/// <summary>What an attempt found: <see cref="Acquired"/>, or the holder (null when the database cannot say).</summary>
public sealed record JournalLockAttempt(bool Acquired, string? Holder)
{
    public static readonly JournalLockAttempt Taken = new(true, null);
    public static JournalLockAttempt HeldBy(string? holder) => new(false, holder);
}

/// <summary>
/// How the lock is kept. <see cref="ServerTimeout"/>: how long the database keeps a silent
/// holder's lock (PostgreSQL ends its session; a crashed process's lock goes at once, with its
/// connection). The holder confirms every <see cref="CheckInterval"/> and counts itself the
/// holder only <see cref="HeldFor"/> after its last confirmed check was sent, which ends before
/// the database can give the lock to anyone else.
/// </summary>
public sealed record JournalLockSettings(TimeSpan CheckInterval, TimeSpan ServerTimeout)
{
    public static readonly JournalLockSettings Default = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(6));

    /// <summary>The database releases a silent holder no earlier than this after its last check: one interval short of it.</summary>
    public TimeSpan HeldFor => ServerTimeout - CheckInterval;

    /// <summary>
    /// How long the lock may be held by a node outside this one's cluster before this node counts
    /// itself in a second cluster: longer than a silent holder's lock can outlive it (twice the
    /// server's timeout, and a few checks).
    /// </summary>
    public TimeSpan SplitAfter => ServerTimeout * 2 + CheckInterval * 3;
}

/// <summary>
/// The coordinator was about to write the journal while this process's hold on the journal lock
/// is not confirmed (paused, cut off from the database, lost): a successor may be writing already.
/// Thrown before the write, so nothing of the batch is written or sent; the instance stops.
/// </summary>
public sealed class JournalLockNotHeldException(int events)
    : Exception($"not writing {events} event(s): this node's hold on the coordinator's journal lock is not confirmed (another coordinator may hold it)");
