using System.Buffers.Binary;
using System.Text;
using Replug.Agent.Ports;

namespace Replug.Agent.Linux;

/// <summary>
/// A netlink socket to the kernel for requests and their acknowledgements, opened inside a
/// network namespace when one is named (a socket keeps its creator's namespace, netlink(7)), then
/// usable from any thread. Requests to the kernel are handled within <c>sendto</c>, so answers are
/// queued when it returns; the receive timeout is a safety net.
/// </summary>
internal sealed unsafe class NetlinkSocket : IDisposable
{
    // include/uapi/linux/netlink.h
    public const ushort NLMSG_ERROR = 2;
    public const int NlMsgHdrSize = 16;
    private const ushort NLM_F_CAPPED = 0x100;   // the error echoes only the request's header (NETLINK_CAP_ACK)
    private const ushort NLM_F_ACK_TLVS = 0x200; // extended-ack attributes follow (NETLINK_EXT_ACK)
    private const ushort NLMSGERR_ATTR_MSG = 1;

    private readonly byte[] _answer = GC.AllocateArray<byte>(32 * 1024, pinned: true);
    private int _fd;
    private uint _sequence;

    private NetlinkSocket(int fd) => _fd = fd;

    public int Descriptor => _fd;

    public static NetlinkSocket Open(int protocol, string? networkNamespace, TimeSpan? answerTimeout) =>
        new(OpenDescriptor(protocol, networkNamespace, answerTimeout));

    /// <summary>
    /// A raw netlink socket of <paramref name="protocol"/>: errors echo only the request's header and
    /// carry the kernel's reason text (best effort); a receive waits at most <paramref name="answerTimeout"/> (default 1 s).
    /// </summary>
    /// <exception cref="IOException">The namespace does not exist or the socket cannot be made.</exception>
    public static int OpenDescriptor(int protocol, string? networkNamespace, TimeSpan? answerTimeout)
    {
        var fd = NetworkNamespace.Run(networkNamespace, () => Libc.socket(Libc.AF_NETLINK, Libc.SOCK_RAW | Libc.SOCK_CLOEXEC, protocol));
        if (fd < 0) throw new IOException($"cannot open a netlink socket (protocol {protocol}): {Libc.Describe(Libc.LastError)}");

        var on = 1;
        Libc.setsockopt(fd, Libc.SOL_NETLINK, Libc.NETLINK_CAP_ACK, &on, sizeof(int));
        Libc.setsockopt(fd, Libc.SOL_NETLINK, Libc.NETLINK_EXT_ACK, &on, sizeof(int));

        var timeout = answerTimeout ?? TimeSpan.FromSeconds(1);
        var tv = new Libc.TimeVal { Seconds = (long)timeout.TotalSeconds, Microseconds = timeout.Microseconds + timeout.Milliseconds * 1000L };
        if (Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_RCVTIMEO, &tv, sizeof(Libc.TimeVal)) != 0)
        {
            var errno = Libc.LastError;
            Libc.close(fd);
            throw new IOException($"cannot set the netlink receive timeout: {Libc.Describe(errno)}");
        }
        return fd;
    }

    /// <summary>Reserves <paramref name="count"/> consecutive sequence numbers; returns the first.</summary>
    public uint NextSequences(int count)
    {
        var first = _sequence + 1;
        _sequence += (uint)count;
        return first;
    }

    /// <summary>
    /// Sends <paramref name="request"/> (one or more messages) and reads until each of
    /// <paramref name="acked"/> is answered. The first error answered, for any message of the
    /// request, is the result. Not thread-safe: the caller serialises.
    /// </summary>
    public RtnlResult Exchange(ReadOnlySpan<byte> request, IReadOnlyCollection<uint> acked, string what)
    {
        ObjectDisposedException.ThrowIf(_fd < 0, this);
        var kernel = new Libc.SockaddrNl { Family = Libc.AF_NETLINK };
        fixed (byte* bytes = request)
        {
            nint sent;
            do sent = Libc.sendto(_fd, bytes, (nuint)request.Length, 0, &kernel, sizeof(Libc.SockaddrNl));
            while (sent < 0 && Libc.LastError == Libc.EINTR);
            if (sent < 0) return RtnlResult.Fail(Libc.LastError, $"cannot send to {what}");
        }
        var first = BinaryPrimitives.ReadUInt32LittleEndian(request[8..]);
        var waiting = new HashSet<uint>(acked);
        var result = RtnlResult.Ok;
        var flags = 0;
        fixed (byte* answer = _answer)
        {
            while (waiting.Count > 0 || flags == Libc.MSG_DONTWAIT)
            {
                var from = default(Libc.SockaddrNl);
                var iov = new Libc.IoVec { Base = answer, Length = (nuint)_answer.Length };
                var message = new Libc.MsgHdr { Name = &from, NameLength = (uint)sizeof(Libc.SockaddrNl), Iov = &iov, IovLength = 1 };
                var received = Libc.recvmsg(_fd, &message, flags);
                if (received < 0)
                {
                    var errno = Libc.LastError;
                    if (errno == Libc.EINTR) continue;
                    if (flags == Libc.MSG_DONTWAIT) break; // drained
                    return errno == Libc.EAGAIN
                        ? RtnlResult.Fail(Libc.ETIMEDOUT, $"no answer from {what}")
                        : RtnlResult.Fail(errno, $"cannot receive from {what}");
                }
                if (from.PortId != 0) continue; // only the kernel answers requests
                foreach (var (sequence, error) in Acknowledgements(_answer.AsSpan(0, (int)received)))
                {
                    // Earlier requests' late answers are not this one's.
                    if (sequence < first) continue;
                    waiting.Remove(sequence);
                    if (error.Errno != 0 && result.Succeeded) result = error;
                }
                // Everything the kernel said was queued by the time sendto returned: take the rest
                // (an error for the batch as a whole comes under its first message's number).
                if (waiting.Count == 0) flags = flags == 0 ? Libc.MSG_DONTWAIT : flags;
            }
        }
        return result;
    }

    /// <summary>The NLMSG_ERROR messages of one datagram: sequence number and result (errno 0: acknowledged).</summary>
    public static List<(uint Sequence, RtnlResult Result)> Acknowledgements(ReadOnlySpan<byte> datagram)
    {
        var found = new List<(uint, RtnlResult)>();
        foreach (var message in new NetlinkMessages(datagram))
            if (message.IsError) found.Add((message.Sequence, message.ErrorResult()));
        return found;
    }

    /// <summary>
    /// The kernel's reason text (NLMSGERR_ATTR_MSG) after struct nlmsgerr: the errno, then the
    /// request's header (capped) or the whole request, then attributes.
    /// </summary>
    public static string? ExtendedAckMessage(ReadOnlySpan<byte> body, ushort flags)
    {
        if ((flags & NLM_F_ACK_TLVS) == 0 || body.Length < 4 + NlMsgHdrSize) return null;
        var echoed = (flags & NLM_F_CAPPED) != 0
            ? NlMsgHdrSize
            : (int)BinaryPrimitives.ReadUInt32LittleEndian(body[4..]);
        var offset = 4 + NetlinkWriter.Align(echoed);
        while (offset + 4 <= body.Length)
        {
            var length = BinaryPrimitives.ReadUInt16LittleEndian(body[offset..]);
            var type = (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(body[(offset + 2)..]) & 0x3fff);
            if (length < 4 || offset + length > body.Length) break;
            if (type == NLMSGERR_ATTR_MSG)
                return Encoding.UTF8.GetString(body.Slice(offset + 4, length - 4)).TrimEnd('\0');
            offset += NetlinkWriter.Align(length);
        }
        return null;
    }

    public void Dispose()
    {
        if (_fd >= 0) Libc.close(_fd);
        _fd = -1;
    }
}

/// <summary>One netlink message of a datagram: its header's fields and its body.</summary>
internal readonly ref struct NetlinkMessage(ushort type, ushort flags, uint sequence, ReadOnlySpan<byte> body)
{
    public ushort Type { get; } = type;
    public ushort Flags { get; } = flags;
    public uint Sequence { get; } = sequence;
    public ReadOnlySpan<byte> Body { get; } = body;

    /// <summary>An NLMSG_ERROR (an acknowledgement when its errno is 0) with room for the errno.</summary>
    public bool IsError => Type == NetlinkSocket.NLMSG_ERROR && Body.Length >= 4;

    /// <summary>The result an <see cref="IsError"/> message carries, with the kernel's reason text.</summary>
    public RtnlResult ErrorResult()
    {
        var error = -BinaryPrimitives.ReadInt32LittleEndian(Body);
        return error == 0 ? RtnlResult.Ok : RtnlResult.Fail(error, NetlinkSocket.ExtendedAckMessage(Body, Flags));
    }
}

/// <summary>
/// The messages of one received datagram, in order, without allocating; stops at a malformed or
/// truncated header.
/// </summary>
internal ref struct NetlinkMessages(ReadOnlySpan<byte> datagram)
{
    private readonly ReadOnlySpan<byte> _datagram = datagram;
    private int _offset;

    public NetlinkMessage Current { get; private set; }

    public readonly NetlinkMessages GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_datagram.Length - _offset < NetlinkSocket.NlMsgHdrSize) return false;
        var header = _datagram[_offset..];
        var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(header);
        if (length < NetlinkSocket.NlMsgHdrSize || length > header.Length) return false;
        Current = new NetlinkMessage(BinaryPrimitives.ReadUInt16LittleEndian(header[4..]), BinaryPrimitives.ReadUInt16LittleEndian(header[6..]),
            BinaryPrimitives.ReadUInt32LittleEndian(header[8..]), header[NetlinkSocket.NlMsgHdrSize..length]);
        _offset += NetlinkWriter.Align(length);
        return true;
    }
}

/// <summary>Netlink messages and attributes into a growing buffer (not for the hot path: it allocates).</summary>
internal sealed class NetlinkWriter
{
    private const ushort NLA_F_NESTED = 0x8000;
    private byte[] _buffer = new byte[256];
    private int _length;

    public static int Align(int length) => (length + 3) & ~3;

    /// <summary>Starts a message (nlmsghdr; pid 0: the kernel fills in ours); returns its offset for <see cref="End"/>.</summary>
    public int Begin(ushort type, ushort flags, uint sequence)
    {
        var at = Reserve(NetlinkSocket.NlMsgHdrSize);
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(at + 4), type);
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(at + 6), flags);
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(at + 8), sequence);
        return at;
    }

    public void End(int message) => BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(message), (uint)(_length - message));

    public void PutRaw(ReadOnlySpan<byte> bytes)
    {
        var at = Reserve(Align(bytes.Length));
        bytes.CopyTo(_buffer.AsSpan(at));
    }

    public void Put(ushort type, ReadOnlySpan<byte> payload)
    {
        var at = Reserve(Align(4 + payload.Length));
        Header(at, type, 4 + payload.Length);
        payload.CopyTo(_buffer.AsSpan(at + 4));
    }

    /// <summary>A NUL-terminated string attribute.</summary>
    public void PutString(ushort type, string value)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(value) + 1];
        Encoding.UTF8.GetBytes(value, bytes);
        Put(type, bytes);
    }

    public int BeginNested(ushort type)
    {
        var at = Reserve(4);
        Header(at, (ushort)(type | NLA_F_NESTED), 0);
        return at;
    }

    public void EndNested(int attribute) => BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(attribute), (ushort)(_length - attribute));

    public byte[] ToArray() => _buffer.AsSpan(0, _length).ToArray();

    private void Header(int at, ushort type, int length)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(at), (ushort)length);
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(at + 2), type);
    }

    /// <summary>Zeroed room for <paramref name="bytes"/> at the end; returns where it starts.</summary>
    private int Reserve(int bytes)
    {
        if (_length + bytes > _buffer.Length) Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + bytes));
        var at = _length;
        _buffer.AsSpan(at, bytes).Clear();
        _length += bytes;
        return at;
    }
}
