using System.Diagnostics;
using System.Text;
using System.Text.Unicode;
using Replug.Shared.Uevents;

namespace Replug.Agent.Sources;

/// <summary>The two capture formats a replay reads.</summary>
public enum CaptureFormat
{
    /// <summary>Raw netlink messages back to back ("add@/devices/...\0ACTION=add\0...\0"), as <see cref="UeventCaptureWriter"/> writes.</summary>
    KernelWire,

    /// <summary>The text of <c>udevadm monitor --kernel --property</c>: blocks separated by blank lines.</summary>
    UdevadmText,
}

public sealed record ReplayOptions
{
    /// <summary>A pause after each message; zero (the default) replays as fast as the sink takes them.</summary>
    public TimeSpan DelayBetweenEvents { get; init; } = TimeSpan.Zero;

    /// <summary>
    /// How long <see cref="ReplayUeventSource.Stop"/> waits for the loop. A read from a pipe
    /// (stdin) cannot be interrupted; after this the loop is left to end with the pipe, on its
    /// background thread.
    /// </summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// Replays a capture, read as a stream so a pipe works as well as a file
/// (<c>udevadm monitor --kernel --property | replug-agent --replay -</c>). The format is
/// recognised from the first delimiter: a NUL before any newline is the kernel's wire format,
/// otherwise udevadm's text, where a NUL can only be corruption (rejected as
/// <see cref="UeventRejection.EmbeddedNul"/>) and a line starting with '#' is a comment.
/// Events carry <see cref="UeventOrigin.Replay"/>.
/// <see cref="IUeventSink.OnCompleted"/> is called once at the end of the input (or with the
/// error that ended it), not after a <see cref="Stop"/>.
/// </summary>
public sealed class ReplayUeventSource : IUeventSource
{
    /// <summary>The path that means standard input.</summary>
    public const string StandardInputPath = "-";

    // udevadm monitor prints these before the first event; they are not events, nor errors.
    private static readonly string[] UdevadmPreamble =
    [
        "monitor will print the received events for:",
        "KERNEL - the kernel uevent",
        "UDEV - the event which udev sends out after rule processing",
    ];

    private readonly Stream _input;
    private readonly bool _leaveOpen;
    private readonly ManualResetEventSlim _stopSignal = new();
    private readonly Lock _lifecycle = new();
    private Thread? _thread;
    private volatile bool _stopRequested;
    private bool _disposed;

    /// <summary>Replays <paramref name="path"/>, or standard input when it is "-". The file is opened now.</summary>
    public ReplayUeventSource(string path, ReplayOptions? options = null)
        : this(path == StandardInputPath ? Console.OpenStandardInput() : File.OpenRead(path),
            path == StandardInputPath ? "stdin" : path, options, leaveOpen: false)
    {
    }

    /// <summary>Replays <paramref name="input"/>; <paramref name="name"/> is for <see cref="Description"/>.</summary>
    public ReplayUeventSource(Stream input, string name, ReplayOptions? options = null, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (!input.CanRead) throw new ArgumentException("the capture stream is not readable", nameof(input));
        _input = input;
        _leaveOpen = leaveOpen;
        Name = name;
        Options = options ?? new ReplayOptions();
    }

    public string Name { get; }

    public ReplayOptions Options { get; }

    public SourceCounters Counters { get; } = new();

    /// <summary>The format found at the start of the input; null until the loop has read that far (or for empty input).</summary>
    public CaptureFormat? Format { get; private set; }

    public string Description => $"replay {Name}";

    public void Start(IUeventSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        lock (_lifecycle)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_thread is not null) throw new InvalidOperationException("the source was already started");
            _thread = new Thread(() => Run(sink)) { IsBackground = true, Name = "uevents-replay" };
            _thread.Start();
        }
    }

    public void Stop()
    {
        Thread? thread;
        lock (_lifecycle)
        {
            thread = _thread;
            _stopRequested = true;
            _stopSignal.Set();
        }
        if (thread is not null && thread != Thread.CurrentThread) thread.Join(Options.StopTimeout);
    }

    public void Dispose()
    {
        Stop();
        lock (_lifecycle)
        {
            if (_disposed) return;
            _disposed = true;
        }
        if (!_leaveOpen) _input.Dispose();
    }

    private void Run(IUeventSink sink)
    {
        Exception? error = null;
        try
        {
            var reader = new DelimitedReader(_input);
            Format = reader.DetectFormat();
            if (Format == CaptureFormat.KernelWire) ReplayKernelWire(reader, sink);
            else if (Format == CaptureFormat.UdevadmText) ReplayUdevadmText(reader, sink);
        }
        catch (Exception e)
        {
            error = e;
        }
        // A stop the caller asked for is not an end of input, and a read failing because
        // Dispose closed the stream under it is not an I/O error.
        if (!_stopRequested) SinkCalls.Complete(sink, error);
    }

    private void ReplayKernelWire(DelimitedReader reader, IUeventSink sink)
    {
        var message = new MessageBuffer();
        while (!_stopRequested && reader.TryReadToken((byte)'\0', out var token))
        {
            if (token.IsEmpty) continue; // "\0\0": nothing between two terminators
            // A token whose '@' comes before any '=' is an "ACTION@DEVPATH" header (a DEVPATH may
            // hold '=', as in an interface named "a=b"; a field's '=' always comes first): a new message starts.
            if (!message.IsEmpty && IsHeader(token))
                DeliverKernelMessage(message, sink);
            message.Append(token, (byte)'\0');
        }
        if (!message.IsEmpty && !_stopRequested) DeliverKernelMessage(message, sink);
    }

    private static bool IsHeader(ReadOnlySpan<byte> token)
    {
        var at = token.IndexOf((byte)'@');
        var eq = token.IndexOf((byte)'=');
        return at > 0 && (eq < 0 || at < eq);
    }

    private void DeliverKernelMessage(MessageBuffer message, IUeventSink sink)
    {
        Counters.CountReceived();
        if (message.IsTooLarge)
            SinkCalls.Reject(sink, Counters, UeventRejection.TooLarge, $"{message.TotalLength} bytes > {UeventParser.MaxMessageBytes}");
        else
            SinkCalls.Deliver(sink, Counters, UeventParser.ParseKernelMessage(message.Content, UeventOrigin.Replay, Stopwatch.GetTimestamp()));
        message.Clear();
        Pace();
    }

    private void ReplayUdevadmText(DelimitedReader reader, IUeventSink sink)
    {
        var block = new MessageBuffer();
        while (!_stopRequested && reader.TryReadToken((byte)'\n', out var line))
        {
            if (IsBlank(line))
            {
                if (!block.IsEmpty) DeliverUdevadmBlock(block, sink);
                continue;
            }
            if (IsPreamble(line) || IsComment(line)) continue;
            block.Append(line, (byte)'\n');
        }
        if (!block.IsEmpty && !_stopRequested) DeliverUdevadmBlock(block, sink);
    }

    private void DeliverUdevadmBlock(MessageBuffer block, IUeventSink sink)
    {
        Counters.CountReceived();
        if (block.IsTooLarge)
            SinkCalls.Reject(sink, Counters, UeventRejection.TooLarge, $"{block.TotalLength} bytes > {UeventParser.MaxMessageBytes}");
        else if (!Utf8.IsValid(block.Content))
            SinkCalls.Reject(sink, Counters, UeventRejection.InvalidUtf8, "block is not valid UTF-8");
        else
            SinkCalls.Deliver(sink, Counters,
                UeventParser.ParseUdevadmBlock(Encoding.UTF8.GetString(block.Content), UeventOrigin.Replay, Stopwatch.GetTimestamp()));
        block.Clear();
        Pace();
    }

    private void Pace()
    {
        if (Options.DelayBetweenEvents > TimeSpan.Zero) _stopSignal.Wait(Options.DelayBetweenEvents);
    }

    private static bool IsBlank(ReadOnlySpan<byte> line) => line.Trim(" \t\r"u8).IsEmpty;

    /// <summary>
    /// An operator's note ("# host-a, 10:00"): no line of udevadm's output starts with '#' (a
    /// header starts with KERNEL or UDEV, a property with its key), so it is never part of an event.
    /// </summary>
    private static bool IsComment(ReadOnlySpan<byte> line) => line.TrimStart(" \t"u8) is [(byte)'#', ..];

    private static bool IsPreamble(ReadOnlySpan<byte> line)
    {
        var trimmed = line.Trim(" \t\r"u8);
        foreach (var text in UdevadmPreamble)
            if (trimmed.Length == text.Length && Encoding.ASCII.GetString(trimmed) == text) return true;
        return false;
    }

    /// <summary>
    /// Collects one message (or block) up to the parser's limit. Beyond it, bytes are counted
    /// but not kept: a capture is input like any other, and one without delimiters must not
    /// make the agent buffer it whole.
    /// </summary>
    private sealed class MessageBuffer
    {
        private readonly byte[] _bytes = new byte[UeventParser.MaxMessageBytes];
        private int _length;

        public long TotalLength { get; private set; }
        public bool IsEmpty => TotalLength == 0;
        public bool IsTooLarge => TotalLength > UeventParser.MaxMessageBytes;
        public ReadOnlySpan<byte> Content => _bytes.AsSpan(0, _length);

        public void Append(ReadOnlySpan<byte> part, byte terminator)
        {
            TotalLength += part.Length + 1;
            if (IsTooLarge) return;
            part.CopyTo(_bytes.AsSpan(_length));
            _bytes[_length + part.Length] = terminator;
            _length += part.Length + 1;
        }

        public void Clear() => _length = (int)(TotalLength = 0);
    }

    /// <summary>
    /// Splits a stream on a delimiter byte through one fixed buffer. A token longer than the
    /// buffer is cut into buffer-sized pieces; that only happens to input far over any message
    /// limit, which the message buffer then rejects as too large.
    /// </summary>
    private sealed class DelimitedReader(Stream stream)
    {
        private const int BufferSize = 64 * 1024;
        private readonly byte[] _buffer = new byte[BufferSize];
        private int _start, _end;
        private bool _endOfStream;

        /// <summary>Reads until the first NUL or newline: whichever comes first names the format; null for empty input.</summary>
        public CaptureFormat? DetectFormat()
        {
            var scanned = 0;
            while (true)
            {
                var found = _buffer.AsSpan(scanned, _end - scanned).IndexOfAny((byte)'\0', (byte)'\n');
                if (found >= 0) return _buffer[scanned + found] == 0 ? CaptureFormat.KernelWire : CaptureFormat.UdevadmText;
                scanned = _end;
                if (_end == BufferSize || !Fill()) return _end == 0 ? null : CaptureFormat.UdevadmText;
            }
        }

        /// <summary>The next token without its delimiter; false at the end of the stream.</summary>
        public bool TryReadToken(byte delimiter, out ReadOnlySpan<byte> token)
        {
            var scanned = _start;
            while (true)
            {
                var found = _buffer.AsSpan(scanned, _end - scanned).IndexOf(delimiter);
                if (found >= 0)
                {
                    token = _buffer.AsSpan(_start, scanned + found - _start);
                    _start = scanned + found + 1;
                    return true;
                }
                if ((_start == 0 && _end == BufferSize) || (_endOfStream && _end > _start))
                {
                    // Buffer full without a delimiter, or the last token has none: hand out what there is.
                    token = _buffer.AsSpan(_start, _end - _start);
                    _start = _end;
                    return true;
                }
                if (_start > 0)
                {
                    // Move the unfinished token to the front so the next read can complete it.
                    _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
                    _end -= _start;
                    _start = 0;
                }
                scanned = _end;
                if (!Fill())
                {
                    if (_end > _start) continue; // the final token, without a delimiter
                    token = default;
                    return false;
                }
            }
        }

        private bool Fill()
        {
            if (_endOfStream) return false;
            var read = stream.Read(_buffer, _end, BufferSize - _end);
            if (read == 0)
            {
                _endOfStream = true;
                return false;
            }
            _end += read;
            return true;
        }
    }
}
