using System.Diagnostics;
using System.Runtime.InteropServices;
using Replug.Agent.Linux;
using Replug.Shared.Uevents;

namespace Replug.Agent.Sources;

/// <summary>How to open the kernel's uevent socket.</summary>
public sealed record NetlinkSourceOptions
{
    /// <summary>What udevd asks for (systemd's udev_monitor_set_receive_buffer_size: 128 MiB).</summary>
    public const int DefaultReceiveBufferBytes = 128 * 1024 * 1024;

    /// <summary>
    /// The receive buffer to ask for. The kernel doubles it (for its bookkeeping) and reports
    /// the doubled value; see <see cref="NetlinkUeventSource.GrantedReceiveBufferBytes"/>.
    /// </summary>
    public int ReceiveBufferBytes { get; init; } = DefaultReceiveBufferBytes;

    /// <summary>
    /// A network namespace name (as `ip netns add` makes) to open the socket in, or null for
    /// the caller's. Net device uevents go only to sockets of the device's own namespace.
    /// </summary>
    public string? NetworkNamespace { get; init; }
}

/// <summary>
/// The kernel's uevents from an AF_NETLINK / NETLINK_KOBJECT_UEVENT socket bound to multicast
/// group 1, read on a dedicated thread. Each datagram goes through the checks of systemd's
/// udev_monitor_receive_device, in its order, each with its own counter: read error (ENOBUFS
/// is an overflow, never a dead socket), truncated, sender not the kernel, credentials not
/// root, then the parser. The socket is opened by the constructor, so nothing is missed
/// between construction and <see cref="Start"/>: the kernel queues for it meanwhile.
/// <para>
/// An overflow is reported to the sink only once the queue has been read empty after the
/// ENOBUFS, not when the ENOBUFS is read. The kernel reports ENOBUFS before the messages still
/// queued, and it keeps dropping every broadcast to the socket (silently: the error is set once
/// per episode) until a read finds the queue empty (NETLINK_S_CONGESTED, cleared by
/// netlink_rcv_wake in net/netlink/af_netlink.c). So everything queued before the loss reaches
/// the sink before the report, and nothing sent after the report is lost: a rescan started on
/// the report sees every change the dropped messages described.
/// </para>
/// </summary>
public sealed unsafe class NetlinkUeventSource : IUeventSource
{
    /// <summary>
    /// One reusable buffer. Kernel messages are at most 2048 bytes of environment plus the
    /// header (UEVENT_BUFFER_SIZE); anything above the parser's limit is rejected as too large,
    /// anything above this buffer arrives with MSG_TRUNC and is dropped.
    /// </summary>
    public const int ReceiveBufferSize = 16 * 1024;

    // CMSG_SPACE(sizeof(struct ucred)) = CMSG_ALIGN(16) + CMSG_ALIGN(12) = 32 on 64-bit;
    // twice that leaves room should the kernel ever add a control message.
    private const int ControlBufferSize = 64;
    private static readonly int CmsgHeaderSize = Align(sizeof(Libc.CmsgHdr));

    private readonly int _socket;
    private readonly int _stopEvent;
    private readonly Lock _lifecycle = new();
    private Thread? _thread;
    private volatile bool _stopRequested;
    private bool _disposed;
    // Read and written by the receive loop only.
    private bool _overflowPending;

    /// <summary>Opens and binds the socket (in <see cref="NetlinkSourceOptions.NetworkNamespace"/> when set).</summary>
    /// <exception cref="IOException">The socket could not be opened, configured or bound.</exception>
    public NetlinkUeventSource(NetlinkSourceOptions? options = null)
    {
        Options = options ?? new NetlinkSourceOptions();
        if (Options.ReceiveBufferBytes <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), Options.ReceiveBufferBytes, "receive buffer must be positive");

        // A socket belongs to the network namespace of the thread that created it, for its whole
        // life; NetworkNamespace.Run creates it on a thread that entered the namespace.
        var (fd, errno) = NetworkNamespace.Run(Options.NetworkNamespace, () =>
        {
            var s = Libc.socket(Libc.AF_NETLINK, Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC, Libc.NETLINK_KOBJECT_UEVENT);
            return (s, s < 0 ? Libc.LastError : 0);
        });
        if (fd < 0) throw new IOException($"cannot open a NETLINK_KOBJECT_UEVENT socket: {Libc.Describe(errno)}");
        _socket = fd;
        _stopEvent = -1;
        try
        {
            Configure();
            _stopEvent = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
            if (_stopEvent < 0) throw new IOException($"cannot create the stop eventfd: {Libc.Describe(Libc.LastError)}");
        }
        catch
        {
            Libc.close(_socket);
            throw;
        }
    }

    public NetlinkSourceOptions Options { get; }

    public SourceCounters Counters { get; } = new();

    /// <summary>
    /// The receive buffer the kernel actually granted (getsockopt SO_RCVBUF): twice what was
    /// asked when forced, or clamped to 2 × net.core.rmem_max when only SO_RCVBUF was allowed.
    /// </summary>
    public int GrantedReceiveBufferBytes { get; private set; }

    /// <summary>True when SO_RCVBUFFORCE worked; false when it was refused (no CAP_NET_ADMIN) and SO_RCVBUF was used.</summary>
    public bool ReceiveBufferForced { get; private set; }

    /// <summary>The port id the kernel assigned to this socket (bound with 0).</summary>
    public uint PortId { get; private set; }

    public string Description =>
        $"netlink{(Options.NetworkNamespace is { } ns ? $" in netns {ns}" : "")} (rcvbuf {FormatBytes(GrantedReceiveBufferBytes)}" +
        $"{(ReceiveBufferForced ? "" : ", not forced")}, port {PortId})";

    private void Configure()
    {
        var one = 1;
        // Without SO_PASSCRED the kernel attaches no SCM_CREDENTIALS, and uid 0 cannot be checked.
        if (Libc.setsockopt(_socket, Libc.SOL_SOCKET, Libc.SO_PASSCRED, &one, sizeof(int)) != 0)
            throw new IOException($"cannot set SO_PASSCRED: {Libc.Describe(Libc.LastError)}");

        // SO_RCVBUF is silently clamped to net.core.rmem_max (4 MiB here); SO_RCVBUFFORCE is not,
        // but needs CAP_NET_ADMIN in the socket's namespace (EPERM otherwise).
        var requested = Options.ReceiveBufferBytes;
        if (Libc.setsockopt(_socket, Libc.SOL_SOCKET, Libc.SO_RCVBUFFORCE, &requested, sizeof(int)) == 0)
            ReceiveBufferForced = true;
        else if (Libc.setsockopt(_socket, Libc.SOL_SOCKET, Libc.SO_RCVBUF, &requested, sizeof(int)) != 0)
            throw new IOException($"cannot set SO_RCVBUF: {Libc.Describe(Libc.LastError)}");

        int granted = 0, length = sizeof(int);
        if (Libc.getsockopt(_socket, Libc.SOL_SOCKET, Libc.SO_RCVBUF, &granted, &length) != 0)
            throw new IOException($"cannot read SO_RCVBUF back: {Libc.Describe(Libc.LastError)}");
        GrantedReceiveBufferBytes = granted;

        // Port id 0: the kernel picks a free one. Group 1 is the kernel's uevents; group 2 is
        // udevd's processed events (libudev format), which this source does not want.
        var address = new Libc.SockaddrNl { Family = Libc.AF_NETLINK, PortId = 0, Groups = 1 };
        if (Libc.bind(_socket, &address, sizeof(Libc.SockaddrNl)) != 0)
            throw new IOException($"cannot bind to uevent multicast group 1: {Libc.Describe(Libc.LastError)}");
        var bound = default(Libc.SockaddrNl);
        var boundLength = sizeof(Libc.SockaddrNl);
        if (Libc.getsockname(_socket, &bound, &boundLength) == 0) PortId = bound.PortId;
    }

    /// <summary>Whether the socket is open and its loop receiving: started, not stopped, not ended by a failure.</summary>
    public bool Listening
    {
        get
        {
            lock (_lifecycle) return _thread is { IsAlive: true } && !_stopRequested && !_disposed;
        }
    }

    public void Start(IUeventSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        lock (_lifecycle)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_thread is not null) throw new InvalidOperationException("the source was already started");
            _thread = new Thread(() => ReceiveLoop(sink))
            {
                IsBackground = true,
                Name = Options.NetworkNamespace is { } ns ? $"uevents-{ns}" : "uevents",
            };
            _thread.Start();
        }
    }

    /// <summary>
    /// Wakes the loop through the eventfd and waits for it to end. The sink's
    /// <see cref="IUeventSink.OnCompleted"/> is not called for a stop the caller asked for.
    /// Called from the sink (on the loop's own thread) it only asks, and returns.
    /// </summary>
    public void Stop()
    {
        Thread? thread;
        lock (_lifecycle)
        {
            thread = _thread;
            if (thread is null || _disposed) return;
            if (!_stopRequested)
            {
                _stopRequested = true;
                ulong one = 1;
                Libc.write(_stopEvent, &one, sizeof(ulong));
            }
        }
        if (thread != Thread.CurrentThread) thread.Join();
    }

    public void Dispose()
    {
        Stop();
        lock (_lifecycle)
        {
            if (_disposed) return;
            _disposed = true;
            // Safe even when disposed from the sink: the loop checks _stopRequested after every
            // sink call and touches neither fd again once it is set.
            Libc.close(_socket);
            Libc.close(_stopEvent);
        }
    }

    /// <summary>What to do with one datagram, from what recvmsg said about it; pure, so it is testable without a kernel.</summary>
    internal enum Verdict { Parse, Truncated, ForeignSender, BadCredentials }

    /// <summary>
    /// The checks of systemd's udev_monitor_receive_device, in order. The port id is the one
    /// that matters: any root process may multicast to group 1, and its message then carries
    /// uid 0 too, but only the kernel sends from port id 0.
    /// </summary>
    internal static Verdict Check(int messageFlags, uint senderAddressLength, in Libc.SockaddrNl sender, bool hasCredentials, uint uid)
    {
        if ((messageFlags & Libc.MSG_TRUNC) != 0) return Verdict.Truncated;
        if (senderAddressLength < sizeof(Libc.SockaddrNl) || sender.Family != Libc.AF_NETLINK || sender.PortId != 0)
            return Verdict.ForeignSender;
        if (!hasCredentials || uid != 0) return Verdict.BadCredentials;
        return Verdict.Parse;
    }

    private void ReceiveLoop(IUeventSink sink)
    {
        var buffer = (byte*)NativeMemory.Alloc(ReceiveBufferSize);
        try
        {
            var control = stackalloc byte[ControlBufferSize];
            var fds = stackalloc Libc.PollFd[2];
            while (!_stopRequested)
            {
                fds[0] = new Libc.PollFd { Fd = _socket, Events = Libc.POLLIN };
                fds[1] = new Libc.PollFd { Fd = _stopEvent, Events = Libc.POLLIN };
                if (Libc.poll(fds, 2, -1) < 0)
                {
                    var errno = Libc.LastError;
                    if (errno is Libc.EINTR or Libc.EAGAIN or Libc.ENOMEM) continue;
                    Counters.CountReceiveError();
                    SinkCalls.Complete(sink, new IOException($"poll on the uevent socket failed: {Libc.Describe(errno)}"));
                    return;
                }
                if (fds[1].Revents != 0 || _stopRequested) return;
                if ((fds[0].Revents & Libc.POLLNVAL) != 0)
                {
                    SinkCalls.Complete(sink, new IOException("the uevent socket was closed under the receive loop"));
                    return;
                }
                // POLLERR is how a pending ENOBUFS shows: recvmsg reports it, so drain in every case.
                if (!Drain(sink, buffer, control)) return;
            }
        }
        catch (Exception e)
        {
            // Nothing above throws by design; this keeps a bug from killing the process.
            SinkCalls.Complete(sink, e);
        }
        finally
        {
            NativeMemory.Free(buffer);
        }
    }

    /// <summary>Reads until EAGAIN. False when the loop must end (stop asked, or the socket is gone).</summary>
    private bool Drain(IUeventSink sink, byte* buffer, byte* control)
    {
        Libc.SockaddrNl sender;
        Libc.IoVec iov;
        Libc.MsgHdr msg;
        while (!_stopRequested)
        {
            sender = default;
            iov = new Libc.IoVec { Base = buffer, Length = ReceiveBufferSize };
            msg = new Libc.MsgHdr
            {
                Name = &sender,
                NameLength = (uint)sizeof(Libc.SockaddrNl),
                Iov = &iov,
                IovLength = 1,
                Control = control,
                ControlLength = ControlBufferSize,
            };
            var length = Libc.recvmsg(_socket, &msg, Libc.MSG_DONTWAIT);
            if (length < 0)
            {
                var errno = Libc.LastError;
                switch (errno)
                {
                    case Libc.EAGAIN:
                        // The queue is empty: the kernel delivers again from here on.
                        if (_overflowPending)
                        {
                            _overflowPending = false;
                            SinkCalls.Overflow(sink, Counters);
                        }
                        return true;
                    case Libc.EINTR:
                        continue;
                    case Libc.ENOBUFS:
                        // The kernel dropped broadcasts to this full socket (netlink_overrun), and drops
                        // every next one until the queue is read empty. The socket is fine: DPDK stops
                        // listening here forever; Replug reports it once the queue is empty, and resyncs.
                        _overflowPending = true;
                        continue;
                    case Libc.EBADF or Libc.ENOTSOCK:
                        Counters.CountReceiveError();
                        SinkCalls.Complete(sink, new IOException($"the uevent socket is gone: {Libc.Describe(errno)}"));
                        return false;
                    default:
                        // Back to poll rather than retry at once: a socket error is cleared by the read that reports it.
                        Counters.CountReceiveError();
                        return true;
                }
            }

            Counters.CountReceived();
            var hasCredentials = TryGetCredentials(&msg, out var credentials);
            switch (Check(msg.Flags, msg.NameLength, sender, hasCredentials, credentials.Uid))
            {
                case Verdict.Truncated: Counters.CountTruncated(); continue;
                case Verdict.ForeignSender: Counters.CountForeignSender(); continue;
                case Verdict.BadCredentials: Counters.CountBadCredentials(); continue;
            }

            var result = UeventParser.ParseKernelMessage(new ReadOnlySpan<byte>(buffer, (int)length),
                UeventOrigin.Kernel, Stopwatch.GetTimestamp());
            SinkCalls.Deliver(sink, Counters, result);
        }
        return false;
    }

    /// <summary>Finds SCM_CREDENTIALS among the control messages (CMSG_FIRSTHDR / CMSG_NXTHDR by hand).</summary>
    private static bool TryGetCredentials(Libc.MsgHdr* msg, out Libc.UCred credentials)
    {
        credentials = default;
        if ((msg->Flags & Libc.MSG_CTRUNC) != 0) return false;
        var start = (byte*)msg->Control;
        var end = start + (long)msg->ControlLength;
        var cmsg = start;
        while (cmsg + sizeof(Libc.CmsgHdr) <= end)
        {
            var header = (Libc.CmsgHdr*)cmsg;
            var length = (long)header->Length;
            if (length < sizeof(Libc.CmsgHdr) || cmsg + length > end) return false;
            if (header->Level == Libc.SOL_SOCKET && header->Type == Libc.SCM_CREDENTIALS &&
                length >= CmsgHeaderSize + sizeof(Libc.UCred))
            {
                credentials = *(Libc.UCred*)(cmsg + CmsgHeaderSize);
                return true;
            }
            cmsg += Align((int)length);
        }
        return false;
    }

    private static int Align(int length) => (length + sizeof(nuint) - 1) & ~(sizeof(nuint) - 1);

    private static string FormatBytes(int bytes) =>
        bytes >= 1 << 20 && bytes % (1 << 20) == 0 ? $"{bytes >> 20} MiB"
        : bytes >= 1 << 10 && bytes % (1 << 10) == 0 ? $"{bytes >> 10} KiB"
        : $"{bytes} B";
}
