using Replug.Shared.Uevents;

namespace Replug.Agent.Sources;

/// <summary>
/// Appends events to a capture in the kernel's wire format ("ACTION@DEVPATH\0KEY=VALUE\0..."
/// back to back), the format <see cref="ReplayUeventSource"/> reads and a raw netlink dump
/// has: a capture taken by the agent can be replayed, compared with one taken by any other
/// tool, and holds the kernel's bytes exactly (field order included).
/// </summary>
public sealed class UeventCaptureWriter : IDisposable
{
    private readonly Stream _output;
    private readonly bool _leaveOpen;
    private readonly bool _flushEachEvent;
    private readonly Lock _gate = new();
    private long _eventsWritten;
    private bool _disposed;

    /// <summary>
    /// Appends to <paramref name="path"/> (created if missing). With <paramref name="flushEachEvent"/>,
    /// each event reaches the file at once, so a capture survives a crash and can be followed while
    /// it grows; without, writes are buffered (cheaper in a storm) until <see cref="Flush"/> or Dispose.
    /// </summary>
    public UeventCaptureWriter(string path, bool flushEachEvent = true)
        : this(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, 64 * 1024), leaveOpen: false, flushEachEvent)
    {
    }

    public UeventCaptureWriter(Stream output, bool leaveOpen = false, bool flushEachEvent = true)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!output.CanWrite) throw new ArgumentException("the capture stream is not writable", nameof(output));
        _output = output;
        _leaveOpen = leaveOpen;
        _flushEachEvent = flushEachEvent;
    }

    public long EventsWritten => Interlocked.Read(ref _eventsWritten);

    /// <summary>Writes one event; safe from several threads (each event is written whole).</summary>
    public void Write(Uevent uevent)
    {
        ArgumentNullException.ThrowIfNull(uevent);
        var bytes = uevent.ToWireFormat();
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _output.Write(bytes);
            if (_flushEachEvent) _output.Flush();
            _eventsWritten++;
        }
    }

    public void Flush()
    {
        lock (_gate)
        {
            if (!_disposed) _output.Flush();
        }
    }

    /// <summary>
    /// A sink that writes each event to this capture, then passes everything on to
    /// <paramref name="next"/>: how the agent's --capture option records what a source delivers.
    /// A failed write does not keep the event from <paramref name="next"/>.
    /// </summary>
    public IUeventSink Tee(IUeventSink next) => new TeeSink(this, next);

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            try { _output.Flush(); }
            finally { if (!_leaveOpen) _output.Dispose(); }
        }
    }

    private sealed class TeeSink(UeventCaptureWriter writer, IUeventSink next) : IUeventSink
    {
        public void OnEvent(Uevent uevent)
        {
            try { writer.Write(uevent); }
            finally { next.OnEvent(uevent); }
        }

        public void OnRejected(UeventRejection reason, string detail) => next.OnRejected(reason, detail);
        public void OnOverflow() => next.OnOverflow();
        public void OnCompleted(Exception? error) => next.OnCompleted(error);
    }
}
