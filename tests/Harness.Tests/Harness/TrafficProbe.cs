using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Replug.Harness;

/// <summary>
/// Traffic, measured outside Replug: every millisecond the fabric (the top-of-rack switch) sends
/// one broadcast frame per port into its bridge, which floods it to every NIC of every host; on
/// each host a raw socket per port sits on that port's "VM" end, behind the port's bridge, and
/// counts the frames of that port that arrive there. A port forwards on a host exactly when one
/// of the host's NICs is enslaved to the port's bridge and up: that is what "active" means here.
/// <para>
/// Frame: broadcast, EtherType 0x88B5 (IEEE local experimental), then "RP", the run's tag (4
/// bytes), the port's index (2) and the slot (4, the millisecond since the probe started), all big
/// endian, padded to 60 bytes. Each receiving socket has a classic BPF filter that keeps only its
/// run's frames of its own port, so the other ports' frames cost no wake-up.
/// </para>
/// <para>
/// Threads, not tasks: each lives in one network namespace (setns changes only the calling
/// thread) and must never be a pool thread. The sender wakes on absolute millisecond boundaries
/// (clock_nanosleep on CLOCK_MONOTONIC, the clock <see cref="Stopwatch"/> reads on Linux); a slot
/// it wakes too late for is skipped and counted, never sent late under a wrong number.
/// </para>
/// </summary>
public sealed unsafe partial class TrafficProbe : IDisposable
{
    public const ushort EtherType = 0x88B5;
    private const int FrameLength = 60;
    private const int TagOffset = 16;
    private const int PortOffset = 20;
    private const int SlotOffset = 22;

    private readonly string _fabricNamespace;
    private readonly string _fabricBridge;
    private readonly IReadOnlyList<string> _hostNamespaces;
    private readonly IReadOnlyList<string> _vmEnds;
    private readonly uint _tag;
    private readonly ForwardingRecord _record;
    private readonly long _start;
    private readonly List<Thread> _threads = [];
    private readonly CountdownEvent _ready;
    private readonly List<string> _errors = [];
    private volatile bool _stopping;

    /// <param name="vmEnds">Per port (in the record's order), the name of its VM end on every host.</param>
    public TrafficProbe(string fabricNamespace, string fabricBridge, IReadOnlyList<string> hostNamespaces, IReadOnlyList<string> vmEnds,
        uint tag, ForwardingRecord record)
    {
        _fabricNamespace = fabricNamespace;
        _fabricBridge = fabricBridge;
        _hostNamespaces = hostNamespaces;
        _vmEnds = vmEnds;
        _tag = tag;
        _record = record;
        _start = Stopwatch.GetTimestamp();
        _ready = new CountdownEvent(1 + hostNamespaces.Count);
    }

    /// <summary>Milliseconds since the probe started: the slot the sender is sending now.</summary>
    public int Now => (int)Stopwatch.GetElapsedTime(_start).TotalMilliseconds;

    public ForwardingRecord Record => _record;

    /// <summary>Opens every socket (in its namespace) and starts sending; throws when a socket cannot be opened.</summary>
    public void Start()
    {
        Spawn("probe-send", Send);
        for (var h = 0; h < _hostNamespaces.Count; h++)
        {
            var host = h;
            Spawn($"probe-recv-{h}", ready => Receive(host, ready));
        }
        if (!_ready.Wait(TimeSpan.FromSeconds(10))) throw new TimeoutException("the traffic probe's sockets did not open within 10 s");
        lock (_errors)
            if (_errors.Count > 0) throw new IOException($"traffic probe: {string.Join("; ", _errors)}");
    }

    private void Spawn(string name, Action<Action> body)
    {
        var thread = new Thread(() =>
        {
            var signalled = false;
            void Ready()
            {
                if (signalled) return;
                signalled = true;
                _ready.Signal();
            }
            try { body(Ready); }
            catch (Exception e)
            {
                lock (_errors) _errors.Add($"{name}: {e.Message}");
                Ready();
            }
        }) { IsBackground = true, Name = name, Priority = ThreadPriority.AboveNormal };
        _threads.Add(thread);
        thread.Start();
    }

    public IReadOnlyList<string> Errors
    {
        get { lock (_errors) return [.. _errors]; }
    }

    private void Send(Action ready)
    {
        Native.EnterNetworkNamespace(_fabricNamespace);
        Native.MakeRealTime(20);
        var fd = Native.socket(Native.AF_PACKET, Native.SOCK_RAW | Native.SOCK_CLOEXEC, 0);
        if (fd < 0) throw new IOException($"socket(AF_PACKET): {Native.Describe(Native.LastError)}");
        try
        {
            var ifindex = (int)Native.if_nametoindex(_fabricBridge);
            if (ifindex == 0) throw new IOException($"no interface {_fabricBridge} in {_fabricNamespace}");
            var address = new Native.SockaddrLl { Family = Native.AF_PACKET, Protocol = 0, IfIndex = ifindex };
            if (Native.bind(fd, &address, sizeof(Native.SockaddrLl)) != 0) throw new IOException($"bind: {Native.Describe(Native.LastError)}");
            var sndbuf = 4 << 20;
            Native.setsockopt(fd, Native.SOL_SOCKET, Native.SO_SNDBUF, &sndbuf, sizeof(int));

            var frames = new byte[_vmEnds.Count][];
            for (var p = 0; p < frames.Length; p++)
            {
                var f = frames[p] = new byte[FrameLength];
                f.AsSpan(0, 6).Fill(0xff);
                byte[] source = [0x02, 0x52, 0x50, (byte)(_tag >> 16), (byte)(_tag >> 8), (byte)_tag];
                source.CopyTo(f, 6);
                BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), EtherType);
                f[14] = (byte)'R';
                f[15] = (byte)'P';
                BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(TagOffset), _tag);
                BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(PortOffset), (ushort)p);
            }
            ready();

            var last = -1;
            while (!_stopping)
            {
                var slot = Now;
                if (slot > last)
                {
                    foreach (var f in frames)
                    {
                        BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(SlotOffset), (uint)slot);
                        fixed (byte* b = f) Native.send(fd, b, FrameLength, 0); // ENOBUFS under load: that slot is simply not evidence
                    }
                    _record.Sent(slot, last < 0 ? 0 : slot - last - 1);
                    last = slot;
                }
                SleepUntil(_start + (long)(last + 1) * (Stopwatch.Frequency / 1000));
            }
        }
        finally { Native.close(fd); }
    }

    private void Receive(int host, Action ready)
    {
        Native.EnterNetworkNamespace(_hostNamespaces[host]);
        Native.MakeRealTime(10);
        var fds = new int[_vmEnds.Count];
        Array.Fill(fds, -1);
        try
        {
            for (var p = 0; p < fds.Length; p++) fds[p] = OpenReceiver(_vmEnds[p], (ushort)p);
            ready();
            var polls = stackalloc Native.PollFd[fds.Length];
            var buffer = stackalloc byte[128];
            while (!_stopping)
            {
                for (var p = 0; p < fds.Length; p++) polls[p] = new Native.PollFd { Fd = fds[p], Events = Native.POLLIN };
                if (Native.poll(polls, (nuint)fds.Length, 100) <= 0) continue;
                for (var p = 0; p < fds.Length; p++)
                {
                    if ((polls[p].Revents & Native.POLLIN) == 0) continue;
                    while (true)
                    {
                        var n = Native.recv(fds[p], buffer, 128, Native.MSG_DONTWAIT);
                        if (n < FrameLength - 4) break; // EAGAIN (-1), or not our frame
                        var span = new ReadOnlySpan<byte>(buffer, (int)n);
                        if (BinaryPrimitives.ReadUInt32BigEndian(span[TagOffset..]) != _tag) continue;
                        var port = BinaryPrimitives.ReadUInt16BigEndian(span[PortOffset..]);
                        if (port != p) continue;
                        _record.Record(port, host, (int)BinaryPrimitives.ReadUInt32BigEndian(span[SlotOffset..]));
                    }
                }
            }
        }
        finally
        {
            foreach (var fd in fds) if (fd >= 0) Native.close(fd);
        }
    }

    /// <summary>A raw socket on <paramref name="vmEnd"/> that keeps only this run's frames of port <paramref name="port"/>.</summary>
    private int OpenReceiver(string vmEnd, ushort port)
    {
        // Protocol 0 receives nothing until bound, so no frame of another port slips in before the filter.
        var fd = Native.socket(Native.AF_PACKET, Native.SOCK_RAW | Native.SOCK_CLOEXEC | Native.SOCK_NONBLOCK, 0);
        if (fd < 0) throw new IOException($"socket(AF_PACKET): {Native.Describe(Native.LastError)}");
        var rcvbuf = 4 << 20;
        if (Native.setsockopt(fd, Native.SOL_SOCKET, Native.SO_RCVBUFFORCE, &rcvbuf, sizeof(int)) != 0)
            Native.setsockopt(fd, Native.SOL_SOCKET, Native.SO_RCVBUF, &rcvbuf, sizeof(int));

        // ldh [12]; jeq 0x88b5; ld [16]; jeq tag; ldh [20]; jeq port; ret 65535; ret 0
        var program = stackalloc Native.SockFilter[]
        {
            new(0x28, 0, 0, 12),
            new(0x15, 0, 5, EtherType),
            new(0x20, 0, 0, TagOffset),
            new(0x15, 0, 3, _tag),
            new(0x28, 0, 0, PortOffset),
            new(0x15, 0, 1, port),
            new(0x06, 0, 0, 0xffff),
            new(0x06, 0, 0, 0),
        };
        var fprog = new Native.SockFprog { Length = 8, Filter = program };
        if (Native.setsockopt(fd, Native.SOL_SOCKET, Native.SO_ATTACH_FILTER, &fprog, sizeof(Native.SockFprog)) != 0)
            throw new IOException($"SO_ATTACH_FILTER: {Native.Describe(Native.LastError)}");

        var ifindex = (int)Native.if_nametoindex(vmEnd);
        if (ifindex == 0) throw new IOException($"no interface {vmEnd}");
        var address = new Native.SockaddrLl { Family = Native.AF_PACKET, Protocol = Native.HostToNetwork(EtherType), IfIndex = ifindex };
        if (Native.bind(fd, &address, sizeof(Native.SockaddrLl)) != 0) throw new IOException($"bind {vmEnd}: {Native.Describe(Native.LastError)}");
        return fd;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc")]
    private static partial int clock_nanosleep(int clock, int flags, Timespec* request, Timespec* remain);

    private static void SleepUntil(long timestamp)
    {
        // Stopwatch on Linux is CLOCK_MONOTONIC in nanoseconds.
        if (Stopwatch.Frequency != 1_000_000_000)
        {
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), timestamp);
            if (wait > TimeSpan.Zero) Thread.Sleep(wait);
            return;
        }
        var at = new Timespec { Seconds = timestamp / 1_000_000_000, Nanoseconds = timestamp % 1_000_000_000 };
        clock_nanosleep(1 /* CLOCK_MONOTONIC */, 1 /* TIMER_ABSTIME */, &at, null);
    }

    public void Dispose()
    {
        _stopping = true;
        foreach (var t in _threads) t.Join(TimeSpan.FromSeconds(2));
        _ready.Dispose();
    }
}
