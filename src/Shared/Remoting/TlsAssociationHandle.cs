using System.Buffers;
using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Threading.Channels;
using Akka.Actor;
using Akka.Event;
using Akka.Remote.Transport;
using Google.Protobuf;

namespace Replug.Shared.Remoting;

/// <summary>
/// One TLS connection of <see cref="TlsTcpTransport"/>: frames of a four-byte little-endian length and
/// the payload, in order. Writes queue and one writer sends them, several frames per TLS record when
/// they pile up. Reading starts when Akka registers its listener. Any failure, either way, ends the
/// connection and tells the listener once (<see cref="Disassociated"/>), which Akka handles as a lost
/// connection: it gates the address and connects again.
/// </summary>
internal sealed class TlsAssociationHandle : AssociationHandle
{
    private const int Open = 0, Closing = 1, Ended = 2;
    private const int BatchBytes = 64 * 1024;

    private readonly SslStream _stream;
    private readonly Socket _socket;
    private readonly TlsTransportSettings _settings;
    private readonly ILoggingAdapter _log;
    private readonly Channel<byte[]> _outbox = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _abort = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _peerDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _queuedBytes;
    private int _state;
    private int _listenerTold;

    public TlsAssociationHandle(Address localAddress, Address remoteAddress, SslStream stream, Socket socket, TlsTransportSettings settings, ILoggingAdapter log)
        : base(localAddress, remoteAddress)
    {
        _stream = stream;
        _socket = socket;
        _settings = settings;
        _log = log;
        _ = Task.Run(WriteAsync);
        ReadHandlerSource.Task.ContinueWith(t => ReadAsync(t.Result), CancellationToken.None,
            TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
    }

    /// <summary>Done when the connection is closed and disposed.</summary>
    public Task Closed => _closed.Task;

    public override bool Write(ByteString payload)
    {
        if (Volatile.Read(ref _state) != Open || Interlocked.Read(ref _queuedBytes) > _settings.WriteQueueBytes) return false;
        var frame = new byte[4 + payload.Length];
        BinaryPrimitives.WriteInt32LittleEndian(frame, payload.Length);
        payload.Span.CopyTo(frame.AsSpan(4));
        Interlocked.Add(ref _queuedBytes, frame.Length);
        if (_outbox.Writer.TryWrite(frame)) return true;
        Interlocked.Add(ref _queuedBytes, -frame.Length);
        return false;
    }

#pragma warning disable CS0672 // Akka's Disassociate(reason, log) calls this one.
    public override void Disassociate() => BeginClose();
#pragma warning restore CS0672

    /// <summary>Sends what is queued, says goodbye (TLS close_notify, then FIN) and closes once the peer has closed too, or after the flush wait.</summary>
    public void BeginClose()
    {
        if (Interlocked.CompareExchange(ref _state, Closing, Open) != Open) return;
        _outbox.Writer.TryComplete();
        _ = Task.WhenAny(_peerDone.Task, Task.Delay(_settings.FlushWait)).ContinueWith(_ => Abort(), TaskScheduler.Default);
    }

    /// <summary>Closes the connection now.</summary>
    public void Abort()
    {
        if (Interlocked.Exchange(ref _state, Ended) == Ended) return;
        _outbox.Writer.TryComplete();
        _abort.Cancel();
        try { _stream.Dispose(); }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException) { }
        _closed.TrySetResult();
    }

    private async Task WriteAsync()
    {
        var batch = new ArrayBufferWriter<byte>(BatchBytes);
        try
        {
            while (await _outbox.Reader.WaitToReadAsync(_abort.Token))
            {
                while (batch.WrittenCount < BatchBytes && _outbox.Reader.TryRead(out var frame))
                {
                    batch.Write(frame);
                    Interlocked.Add(ref _queuedBytes, -frame.Length);
                }
                await _stream.WriteAsync(batch.WrittenMemory, _abort.Token);
                batch.ResetWrittenCount();
            }
            // Disassociated: everything queued is sent. The peer reads to the end, then closes its side.
            await _stream.ShutdownAsync();
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e)
        {
            // Whatever the cause (a reset, a TLS alert, the stream disposed by Abort), the connection is over.
            if (Volatile.Read(ref _state) == Open) _log.Debug("Connection to {0}: write failed: {1}", RemoteAddress, e.Message);
            Abort();
        }
    }

    private async Task ReadAsync(IHandleEventListener listener)
    {
        var info = DisassociateInfo.Unknown;
        var header = new byte[4];
        try
        {
            while (true)
            {
                var read = await _stream.ReadAtLeastAsync(header, header.Length, throwOnEndOfStream: false, _abort.Token);
                if (read == 0) break;
                if (read < header.Length) throw new IOException("the connection ended inside a frame's length");
                var length = BinaryPrimitives.ReadInt32LittleEndian(header);
                if (length < 0 || length > _settings.MaximumFrameSize)
                    throw new InvalidDataException($"a frame of {length} bytes (maximum-frame-size is {_settings.MaximumFrameSize})");
                var payload = new byte[length];
                await _stream.ReadExactlyAsync(payload, _abort.Token);
                // After our goodbye the rest is drained, not delivered.
                if (Volatile.Read(ref _state) == Open) listener.Notify(new InboundPayload(UnsafeByteOperations.UnsafeWrap(payload)));
            }
        }
        catch (Exception e)
        {
            // Whatever the cause (end of stream mid-frame, a TLS alert, a forged frame, Abort), the listener hears it once.
            if (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset }) info = DisassociateInfo.Shutdown;
            if (e is InvalidDataException) _log.Warning("Connection with {0} closed: {1}", RemoteAddress, e.Message);
            else if (Volatile.Read(ref _state) == Open) _log.Debug("Connection with {0}: read failed: {1}", RemoteAddress, e.Message);
        }
        _peerDone.TrySetResult();
        if (Volatile.Read(ref _state) == Open) Abort();
        if (Interlocked.Exchange(ref _listenerTold, 1) == 0) listener.Notify(new Disassociated(info));
    }
}
