namespace Replug.Coordinator.Locking;

/// <summary>
/// The journal lock for an embedded SQLite journal: an exclusive lock on a file next to the
/// database (.NET takes it with <c>flock</c> for <see cref="FileShare.None"/>), which the kernel
/// frees when the holder's process ends, however it ends. Every process that can open the
/// database file sees the same lock. The holder's name goes in a second file, since the locked
/// one cannot be read by the others.
/// </summary>
public sealed class FileJournalLock(string lockPath, string owner) : IJournalLock
{
    private FileStream? _held;

    public string LockPath { get; } = lockPath;
    public string OwnerPath => LockPath + ".owner";

    public Task<JournalLockAttempt> TryAcquireAsync(CancellationToken cancellation)
    {
        if (_held is not null) return Task.FromResult(JournalLockAttempt.Taken);
        try
        {
            _held = new FileStream(LockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            return Task.FromResult(JournalLockAttempt.HeldBy(ReadOwner()));
        }
        var written = OwnerPath + ".new";
        File.WriteAllText(written, owner);
        File.Move(written, OwnerPath, overwrite: true);
        return Task.FromResult(JournalLockAttempt.Taken);
    }

    /// <summary>The kernel keeps the lock for as long as the handle is open.</summary>
    public Task<bool> ConfirmAsync(CancellationToken cancellation) => Task.FromResult(_held is not null);

    public Task ReleaseAsync()
    {
        Interlocked.Exchange(ref _held, null)?.Dispose();
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync() => new(ReleaseAsync());

    private string? ReadOwner()
    {
        try
        {
            return File.Exists(OwnerPath) ? File.ReadAllText(OwnerPath).Trim() : null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
