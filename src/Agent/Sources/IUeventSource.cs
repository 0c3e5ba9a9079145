using Replug.Shared.Uevents;

namespace Replug.Agent.Sources;

/// <summary>
/// Where uevents come from: the kernel's netlink socket, or a capture being replayed.
/// A source runs its own receive loop (its own thread) and reports to a sink; it never
/// throws out of that loop for bad input.
/// </summary>
public interface IUeventSource : IDisposable
{
    /// <summary>A short description for logs ("netlink (rcvbuf 128 MiB)", "replay capture.txt").</summary>
    string Description { get; }

    /// <summary>Starts delivering to <paramref name="sink"/>; returns once the loop runs.</summary>
    void Start(IUeventSink sink);

    /// <summary>Stops the loop and waits for it to end.</summary>
    void Stop();
}

/// <summary>Receives what a source produces. Called on the source's thread: implementations must be quick.</summary>
public interface IUeventSink
{
    void OnEvent(Uevent uevent);

    /// <summary>A message that was read but not accepted, with the reason.</summary>
    void OnRejected(UeventRejection reason, string detail);

    /// <summary>
    /// The kernel dropped messages (ENOBUFS): the consumer must resync from sysfs. Called after the
    /// events that were queued before the loss, once the kernel delivers again: a rescan started
    /// now misses nothing, and the events before this call are older than it.
    /// </summary>
    void OnOverflow();

    /// <summary>The source has no more events (end of a replay) or failed for good.</summary>
    void OnCompleted(Exception? error);
}
