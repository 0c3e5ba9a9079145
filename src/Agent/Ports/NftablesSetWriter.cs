using System.Buffers.Binary;
using System.Text;
using Replug.Agent.Linux;

namespace Replug.Agent.Ports;

/// <summary>
/// Replaces the elements of an nftables interface-name set, each with a timeout, in one netlink
/// transaction (NETLINK_NETFILTER): a flush and an add between batch begin and end, which the
/// kernel commits atomically. This is the kernel lease's renewal; running <c>nft</c> for it costs a
/// fork, an exec and tens of milliseconds (hundreds on a busy host), and a timeout computed before
/// the process started would run on past the grant by that much. Here the timeout is computed
/// right before one <c>sendto</c>, and the kernel has applied the batch when it returns.
/// <para>
/// Messages (include/uapi/linux/netfilter/nf_tables.h, nfnetlink.h): NFNL_MSG_BATCH_BEGIN;
/// NFT_MSG_DELSETELEM with no elements (the set's flush); NFT_MSG_NEWSETELEM with one
/// NFTA_LIST_ELEM per name: key NFTA_DATA_VALUE of IFNAMSIZ bytes, NUL-padded (the <c>ifname</c>
/// type's length), and NFTA_SET_ELEM_TIMEOUT, big-endian milliseconds; NFNL_MSG_BATCH_END.
/// </para>
/// </summary>
public sealed unsafe class NftablesSetWriter : IDisposable
{
    private const int NETLINK_NETFILTER = 12;
    private const ushort NLM_F_REQUEST = 0x1;
    private const ushort NLM_F_ACK = 0x4;
    private const ushort NLM_F_CREATE = 0x400;
    private const ushort NLA_F_NESTED = 0x8000;
    private const ushort NFNL_MSG_BATCH_BEGIN = 0x10;
    private const ushort NFNL_MSG_BATCH_END = 0x11;
    private const byte NFNL_SUBSYS_NFTABLES = 10;
    private const ushort NFT_MSG_NEWSETELEM = 12;
    private const ushort NFT_MSG_DELSETELEM = 14;
    private const ushort NFTA_SET_ELEM_LIST_TABLE = 1;
    private const ushort NFTA_SET_ELEM_LIST_SET = 2;
    private const ushort NFTA_SET_ELEM_LIST_ELEMENTS = 3;
    private const ushort NFTA_LIST_ELEM = 1;
    private const ushort NFTA_SET_ELEM_KEY = 1;
    private const ushort NFTA_SET_ELEM_TIMEOUT = 4;
    private const ushort NFTA_DATA_VALUE = 1;
    private const int NfGenMsgSize = 4;

    /// <summary>NFPROTO_BRIDGE: the family of the fence's table.</summary>
    public const byte BridgeFamily = 7;

    /// <summary>The key length of the <c>ifname</c> type: IFNAMSIZ.</summary>
    public const int InterfaceNameKeyBytes = Rtnetlink.MaxInterfaceNameBytes + 1;

    private readonly Lock _gate = new();
    private readonly NetlinkSocket _socket;

    private NftablesSetWriter(NetlinkSocket socket) => _socket = socket;

    /// <summary>Opens a NETLINK_NETFILTER socket, inside <paramref name="networkNamespace"/> when given.</summary>
    /// <exception cref="IOException">The namespace does not exist or the socket cannot be made.</exception>
    public static NftablesSetWriter Open(string? networkNamespace = null, TimeSpan? answerTimeout = null) =>
        new(NetlinkSocket.Open(NETLINK_NETFILTER, networkNamespace, answerTimeout));

    /// <summary>
    /// Makes <paramref name="names"/> the only elements of set <paramref name="set"/> in table
    /// <paramref name="table"/> of <paramref name="family"/>, each timing out after
    /// <paramref name="timeoutMs"/> from when the kernel commits (none when it is not positive).
    /// </summary>
    public RtnlResult Replace(byte family, string table, string set, IReadOnlyCollection<string> names, long timeoutMs)
    {
        byte[] batch;
        uint[] acked;
        lock (_gate)
        {
            var first = _socket.NextSequences(3);
            try { batch = Build(family, table, set, timeoutMs > 0 ? names : [], timeoutMs, first, out acked); }
            catch (ArgumentException e) { return RtnlResult.Fail(Libc.EINVAL, e.Message); }
            return _socket.Exchange(batch, acked, "nf_tables");
        }
    }

    /// <summary>The batch as bytes (pure, for tests); <paramref name="acked"/>: the sequence numbers that ask for an answer.</summary>
    public static byte[] Build(byte family, string table, string set, IReadOnlyCollection<string> names, long timeoutMs, uint firstSequence,
        out uint[] acked)
    {
        var w = new NetlinkWriter();
        var begin = w.Begin(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, firstSequence);
        PutNfGenMsg(w, 0, NFNL_SUBSYS_NFTABLES);
        w.End(begin);

        var flush = w.Begin(NftType(NFT_MSG_DELSETELEM), NLM_F_REQUEST | NLM_F_ACK, firstSequence + 1);
        PutNfGenMsg(w, family, 0);
        w.PutString(NFTA_SET_ELEM_LIST_TABLE, table);
        w.PutString(NFTA_SET_ELEM_LIST_SET, set);
        w.End(flush);

        var sequences = new List<uint> { firstSequence + 1 };
        if (names.Count > 0)
        {
            var add = w.Begin(NftType(NFT_MSG_NEWSETELEM), NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK, firstSequence + 2);
            PutNfGenMsg(w, family, 0);
            w.PutString(NFTA_SET_ELEM_LIST_TABLE, table);
            w.PutString(NFTA_SET_ELEM_LIST_SET, set);
            var elements = w.BeginNested(NFTA_SET_ELEM_LIST_ELEMENTS);
            foreach (var name in names.Order(StringComparer.Ordinal))
            {
                if (!Rtnetlink.IsInterfaceName(name)) throw new ArgumentException($"invalid interface name '{name}'");
                var element = w.BeginNested(NFTA_LIST_ELEM);
                var key = w.BeginNested(NFTA_SET_ELEM_KEY);
                var value = new byte[InterfaceNameKeyBytes];
                Encoding.UTF8.GetBytes(name, value);
                w.Put(NFTA_DATA_VALUE, value);
                w.EndNested(key);
                var timeout = new byte[8];
                BinaryPrimitives.WriteInt64BigEndian(timeout, timeoutMs);
                w.Put(NFTA_SET_ELEM_TIMEOUT, timeout);
                w.EndNested(element);
            }
            w.EndNested(elements);
            w.End(add);
            sequences.Add(firstSequence + 2);
        }

        var end = w.Begin(NFNL_MSG_BATCH_END, NLM_F_REQUEST, firstSequence + 3);
        PutNfGenMsg(w, 0, NFNL_SUBSYS_NFTABLES);
        w.End(end);
        acked = [.. sequences];
        return w.ToArray();
    }

    private static ushort NftType(ushort message) => (ushort)((NFNL_SUBSYS_NFTABLES << 8) | message);

    /// <summary>struct nfgenmsg: family, version NFNETLINK_V0, res_id (big-endian: the subsystem, for a batch).</summary>
    private static void PutNfGenMsg(NetlinkWriter w, byte family, ushort resourceId)
    {
        Span<byte> header = stackalloc byte[NfGenMsgSize];
        header[0] = family;
        header[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(header[2..], resourceId);
        w.PutRaw(header);
    }

    public void Dispose() => _socket.Dispose();
}
