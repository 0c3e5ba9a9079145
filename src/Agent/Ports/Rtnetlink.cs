using System.Buffers.Binary;
using System.Text;
using Replug.Agent.Linux;
using Replug.Shared.Devices;

namespace Replug.Agent.Ports;

/// <summary>The kernel's answer to one rtnetlink request: errno 0, or the errno and the kernel's extended-ack text.</summary>
public readonly record struct RtnlResult(int Errno, string? Message)
{
    public static readonly RtnlResult Ok = new(0, null);

    public bool Succeeded => Errno == 0;

    public static RtnlResult Fail(int errno, string? message = null) => new(errno, message);

    public override string ToString() =>
        Succeeded ? "ok" : Message is null ? Libc.Describe(Errno) : $"{Message} ({Libc.Describe(Errno)})";
}

/// <summary>
/// A small NETLINK_ROUTE client for the fail-over hot path: find a link by name, set its
/// master (enslave to a bridge, or release), set it up or down. One request and one answer
/// per call, a few microseconds each, where running `ip` costs milliseconds (fork, exec,
/// its own socket, a dump of every link).
/// <para>
/// The socket belongs to the network namespace it was opened in (netlink(7): a socket keeps
/// the netns of its creator), so <see cref="Open"/> creates it inside the named namespace
/// and it can then be used from any thread. Requests are serialised by a lock and use
/// preallocated, pinned buffers: no allocation per call unless the kernel reports an error.
/// </para>
/// <para>
/// Links are addressed by name where possible (ifinfomsg.ifi_index 0 plus IFLA_IFNAME): the
/// kernel looks the name up itself (rtnl_setlink, net/core/rtnetlink.c), which is one round
/// trip and immune to a device re-created under the same name with a new ifindex. With an
/// index, IFLA_IFNAME would mean "rename"; without one it only selects the device.
/// </para>
/// </summary>
public sealed unsafe class Rtnetlink : IDisposable
{
    // include/uapi/linux/netlink.h
    private const ushort NLM_F_REQUEST = 0x1;
    private const ushort NLM_F_ACK = 0x4;
    private const int NlMsgHdrSize = NetlinkSocket.NlMsgHdrSize;

    // include/uapi/linux/rtnetlink.h, if_link.h, if.h
    private const ushort RTM_NEWLINK = 16;
    private const ushort RTM_GETLINK = 18;
    private const ushort RTM_SETLINK = 19;
    private const ushort IFLA_IFNAME = 3;
    private const ushort IFLA_MASTER = 10;
    private const ushort IFLA_OPERSTATE = 16;
    private const ushort IFLA_EXT_MASK = 29;
    private const uint RTEXT_FILTER_SKIP_STATS = 1 << 3; // a lookup needs no counters: a smaller answer
    private const uint IFF_UP = 0x1;
    private const int IfInfoMsgSize = 16;

    /// <summary>IFNAMSIZ (16) including the terminating NUL.</summary>
    public const int MaxInterfaceNameBytes = 15;

    /// <summary>Whether <paramref name="name"/> can name an interface in a request: safe, and within IFNAMSIZ.</summary>
    public static bool IsInterfaceName(string name) =>
        DeviceNames.IsSafe(name) && Encoding.UTF8.GetByteCount(name) <= MaxInterfaceNameBytes;

    private readonly Lock _gate = new();
    private readonly byte[] _request = GC.AllocateArray<byte>(128, pinned: true);
    private readonly byte[] _answer = GC.AllocateArray<byte>(32 * 1024, pinned: true);
    private int _fd;
    private uint _sequence;

    private Rtnetlink(int fd, string? networkNamespace)
    {
        _fd = fd;
        NetworkNamespace = networkNamespace;
    }

    /// <summary>The namespace the socket lives in; null for the agent's own.</summary>
    public string? NetworkNamespace { get; }

    /// <summary>
    /// Opens a NETLINK_ROUTE socket, inside <paramref name="networkNamespace"/> when given.
    /// <paramref name="answerTimeout"/> bounds the wait for an answer (the kernel answers
    /// rtnetlink requests before sendto returns, so this is a safety net; default 1 s).
    /// </summary>
    /// <exception cref="IOException">The namespace does not exist or the socket cannot be made.</exception>
    public static Rtnetlink Open(string? networkNamespace = null, TimeSpan? answerTimeout = null)
    {
        var fd = NetlinkSocket.OpenDescriptor(Libc.NETLINK_ROUTE, networkNamespace, answerTimeout);
        return new Rtnetlink(fd, networkNamespace);
    }

    /// <summary>The ifindex of link <paramref name="name"/> (RTM_GETLINK by IFLA_IFNAME); ENODEV when there is none.</summary>
    public RtnlResult GetLinkIndex(string name, out int ifIndex)
    {
        var result = GetLink(name, out var link);
        ifIndex = link.IfIndex;
        return result;
    }

    /// <summary>Link <paramref name="name"/>'s ifindex and RFC 2863 operational state (RTM_GETLINK); ENODEV when there is none.</summary>
    public RtnlResult GetLink(string name, out LinkState link)
    {
        link = default;
        lock (_gate)
        {
            var length = BeginLinkRequest(RTM_GETLINK, NLM_F_REQUEST, ifIndex: 0, flags: 0, change: 0);
            if (!TryPutName(ref length, name, out var refused)) return refused;
            PutU32(ref length, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
            return Exchange(length, out link);
        }
    }

    /// <summary>
    /// Changes link <paramref name="name"/> in one RTM_SETLINK: its master when
    /// <paramref name="masterIfIndex"/> is set (0 = no master, "nomaster"), and IFF_UP when
    /// <paramref name="up"/> is set. The kernel applies the flags, then the master
    /// (do_setlink); moving a port from another master to this one is one step (do_set_master).
    /// </summary>
    public RtnlResult SetLink(string name, int? masterIfIndex = null, bool? up = null)
    {
        lock (_gate)
        {
            var length = BeginLinkRequest(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, ifIndex: 0,
                flags: up == true ? IFF_UP : 0, change: up is null ? 0 : IFF_UP);
            if (!TryPutName(ref length, name, out var refused)) return refused;
            if (masterIfIndex is { } master)
            {
                if (master < 0) return RtnlResult.Fail(Libc.EINVAL, $"invalid master ifindex {master}");
                PutU32(ref length, IFLA_MASTER, (uint)master);
            }
            return Exchange(length, out LinkState _);
        }
    }

    /// <summary>As <see cref="SetLink(string, int?, bool?)"/>, for a link known by its ifindex.</summary>
    public RtnlResult SetLink(int ifIndex, int? masterIfIndex = null, bool? up = null)
    {
        if (ifIndex <= 0) return RtnlResult.Fail(Libc.EINVAL, $"invalid ifindex {ifIndex}");
        lock (_gate)
        {
            var length = BeginLinkRequest(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, ifIndex,
                flags: up == true ? IFF_UP : 0, change: up is null ? 0 : IFF_UP);
            if (masterIfIndex is { } master)
            {
                if (master < 0) return RtnlResult.Fail(Libc.EINVAL, $"invalid master ifindex {master}");
                PutU32(ref length, IFLA_MASTER, (uint)master);
            }
            return Exchange(length, out LinkState _);
        }
    }

    /// <summary>Enslaves link <paramref name="name"/> to the master <paramref name="masterIfIndex"/>, or releases it (0).</summary>
    public RtnlResult SetMaster(string name, int masterIfIndex) => SetLink(name, masterIfIndex, up: null);

    /// <summary>Sets or clears IFF_UP on link <paramref name="name"/>.</summary>
    public RtnlResult SetUp(string name, bool up) => SetLink(name, masterIfIndex: null, up);

    public void Dispose()
    {
        lock (_gate)
        {
            if (_fd >= 0) Libc.close(_fd);
            _fd = -1;
        }
    }

    // ---- request building (caller holds _gate) ----

    /// <summary>Writes nlmsghdr and ifinfomsg; returns the length so far.</summary>
    private int BeginLinkRequest(ushort type, ushort nlFlags, int ifIndex, uint flags, uint change)
    {
        ObjectDisposedException.ThrowIf(_fd < 0, this);
        var span = _request.AsSpan();
        span[..(NlMsgHdrSize + IfInfoMsgSize)].Clear();
        // nlmsghdr: length (patched in Exchange), type, flags, seq, pid (0: the kernel fills ours in)
        BinaryPrimitives.WriteUInt16LittleEndian(span[4..], type);
        BinaryPrimitives.WriteUInt16LittleEndian(span[6..], nlFlags);
        BinaryPrimitives.WriteUInt32LittleEndian(span[8..], ++_sequence);
        // ifinfomsg: family AF_UNSPEC, pad, type, index, flags, change
        BinaryPrimitives.WriteInt32LittleEndian(span[(NlMsgHdrSize + 4)..], ifIndex);
        BinaryPrimitives.WriteUInt32LittleEndian(span[(NlMsgHdrSize + 8)..], flags);
        BinaryPrimitives.WriteUInt32LittleEndian(span[(NlMsgHdrSize + 12)..], change);
        return NlMsgHdrSize + IfInfoMsgSize;
    }

    private bool TryPutName(ref int length, string name, out RtnlResult refused)
    {
        refused = default;
        if (!DeviceNames.IsSafe(name))
        {
            refused = RtnlResult.Fail(Libc.EINVAL, $"invalid interface name '{name}'");
            return false;
        }
        // The name, its NUL, and padding to 4 bytes (RTA_ALIGN).
        var payload = _request.AsSpan(length + 4, MaxInterfaceNameBytes + 1);
        payload.Clear();
        if (!Encoding.UTF8.TryGetBytes(name, payload[..MaxInterfaceNameBytes], out var written))
        {
            refused = RtnlResult.Fail(Libc.EINVAL, $"interface name '{name}' is longer than {MaxInterfaceNameBytes} bytes (IFNAMSIZ)");
            return false;
        }
        PutAttributeHeader(length, IFLA_IFNAME, written + 1);
        length += Align(4 + written + 1);
        return true;
    }

    private void PutU32(ref int length, ushort type, uint value)
    {
        PutAttributeHeader(length, type, 4);
        BinaryPrimitives.WriteUInt32LittleEndian(_request.AsSpan(length + 4), value);
        length += 8;
    }

    private void PutAttributeHeader(int offset, ushort type, int payloadLength)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(_request.AsSpan(offset), (ushort)(4 + payloadLength));
        BinaryPrimitives.WriteUInt16LittleEndian(_request.AsSpan(offset + 2), type);
    }

    private static int Align(int length) => NetlinkWriter.Align(length);

    // ---- exchange (caller holds _gate) ----

    /// <summary>Sends the request and reads until the answer with its sequence number: an RTM_NEWLINK (whose link is returned) or an error/ack.</summary>
    private RtnlResult Exchange(int length, out LinkState link)
    {
        link = default;
        BinaryPrimitives.WriteUInt32LittleEndian(_request, (uint)length);
        var sequence = _sequence;

        var kernel = new Libc.SockaddrNl { Family = Libc.AF_NETLINK };
        fixed (byte* request = _request)
        {
            nint sent;
            do sent = Libc.sendto(_fd, request, (nuint)length, 0, &kernel, sizeof(Libc.SockaddrNl));
            while (sent < 0 && Libc.LastError == Libc.EINTR);
            if (sent < 0) return RtnlResult.Fail(Libc.LastError, "cannot send to rtnetlink");
        }

        fixed (byte* answer = _answer)
        {
            while (true)
            {
                var from = default(Libc.SockaddrNl);
                var iov = new Libc.IoVec { Base = answer, Length = (nuint)_answer.Length };
                var message = new Libc.MsgHdr { Name = &from, NameLength = (uint)sizeof(Libc.SockaddrNl), Iov = &iov, IovLength = 1 };
                var received = Libc.recvmsg(_fd, &message, 0);
                if (received < 0)
                {
                    var errno = Libc.LastError;
                    if (errno == Libc.EINTR) continue;
                    return errno == Libc.EAGAIN
                        ? RtnlResult.Fail(Libc.ETIMEDOUT, "no answer from rtnetlink")
                        : RtnlResult.Fail(errno, "cannot receive from rtnetlink");
                }
                // Only the kernel (port id 0) answers requests; anything else is not our answer.
                if (from.PortId != 0) continue;

                var result = Parse(_answer.AsSpan(0, (int)received), sequence, out link, out var done);
                if (done) return result;
            }
        }
    }

    /// <summary>Walks the messages of one datagram; skips those of other (timed-out, earlier) requests.</summary>
    private static RtnlResult Parse(ReadOnlySpan<byte> datagram, uint sequence, out LinkState link, out bool done)
    {
        link = default;
        done = false;
        foreach (var message in new NetlinkMessages(datagram))
        {
            if (message.Sequence != sequence) continue;
            if (message.IsError)
            {
                done = true;
                return message.ErrorResult();
            }
            if (message.Type == RTM_NEWLINK && message.Body.Length >= IfInfoMsgSize)
            {
                done = true;
                link = new LinkState(BinaryPrimitives.ReadInt32LittleEndian(message.Body[4..]), OperStateOf(message.Body[IfInfoMsgSize..]));
                return RtnlResult.Ok;
            }
        }
        return RtnlResult.Ok;
    }

    /// <summary>IFLA_OPERSTATE among a link message's attributes; unknown when absent.</summary>
    private static LinkOperState OperStateOf(ReadOnlySpan<byte> attributes)
    {
        while (attributes.Length >= 4)
        {
            var length = BinaryPrimitives.ReadUInt16LittleEndian(attributes);
            var type = (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(attributes[2..]) & 0x3fff); // without NLA_F_NESTED / NLA_F_NET_BYTEORDER
            if (length < 4 || length > attributes.Length) break;
            if (type == IFLA_OPERSTATE && length >= 5) return (LinkOperState)attributes[4];
            attributes = attributes[Math.Min(Align(length), attributes.Length)..];
        }
        return LinkOperState.Unknown;
    }
}

/// <summary>RFC 2863 operational states, as the kernel reports them (IF_OPER_*, include/uapi/linux/if.h).</summary>
public enum LinkOperState : byte { Unknown = 0, NotPresent = 1, Down = 2, LowerLayerDown = 3, Testing = 4, Dormant = 5, Up = 6 }

/// <summary>What RTM_GETLINK told of a link.</summary>
public readonly record struct LinkState(int IfIndex, LinkOperState OperState)
{
    /// <summary>What the kernel's netif_oper_up counts as up (Unknown: drivers that report no state); a bridge port without STP forwards from then on.</summary>
    public bool IsOperationallyUp => OperState is LinkOperState.Up or LinkOperState.Unknown;
}
