using System.Buffers.Binary;
using System.Text;
using Replug.Agent.Linux;
using Replug.Agent.Ports;

namespace Replug.Agent.Tests.Ports;

/// <summary>The lease renewal's netlink batch, byte by byte, and the reading of the kernel's answers (the kernel itself: <see cref="KernelLeaseTests"/>).</summary>
public sealed class NftablesSetWriterTests
{
    private sealed record Message(ushort Type, ushort Flags, uint Sequence, byte[] Body);

    private static List<Message> Messages(byte[] batch)
    {
        var messages = new List<Message>();
        var offset = 0;
        while (offset < batch.Length)
        {
            var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(batch.AsSpan(offset));
            Assert.True(length >= 16 && offset + length <= batch.Length, $"message at {offset} has length {length}");
            messages.Add(new Message(BinaryPrimitives.ReadUInt16LittleEndian(batch.AsSpan(offset + 4)),
                BinaryPrimitives.ReadUInt16LittleEndian(batch.AsSpan(offset + 6)),
                BinaryPrimitives.ReadUInt32LittleEndian(batch.AsSpan(offset + 8)),
                batch.AsSpan(offset + 16, length - 16).ToArray()));
            offset += (length + 3) & ~3;
        }
        Assert.Equal(batch.Length, offset);
        return messages;
    }

    /// <summary>The attributes after a message's nfgenmsg (or inside a nested one): type without flags, payload.</summary>
    private static List<(int Type, byte[] Payload)> Attributes(ReadOnlySpan<byte> bytes)
    {
        var found = new List<(int, byte[])>();
        var offset = 0;
        while (offset + 4 <= bytes.Length)
        {
            var length = BinaryPrimitives.ReadUInt16LittleEndian(bytes[offset..]);
            Assert.True(length >= 4 && offset + length <= bytes.Length);
            found.Add((BinaryPrimitives.ReadUInt16LittleEndian(bytes[(offset + 2)..]) & 0x3fff, bytes.Slice(offset + 4, length - 4).ToArray()));
            offset += (length + 3) & ~3;
        }
        return found;
    }

    [Fact]
    public void A_renewal_is_one_batch_flushing_the_set_and_adding_each_name_with_its_timeout()
    {
        var batch = NftablesSetWriter.Build(NftablesSetWriter.BridgeFamily, "replug", "leased", ["v2", "v1"], 1375, 41, out var acked);
        var messages = Messages(batch);

        Assert.Equal([0x10, 0x0a0e, 0x0a0c, 0x11], messages.Select(m => (int)m.Type)); // begin, DELSETELEM, NEWSETELEM, end
        Assert.Equal([41u, 42u, 43u, 44u], messages.Select(m => m.Sequence));
        Assert.Equal([42u, 43u], acked);
        // The batch is addressed to nf_tables (res_id 10, big-endian); the set messages to the bridge family.
        Assert.Equal(10, BinaryPrimitives.ReadUInt16BigEndian(messages[0].Body.AsSpan(2)));
        Assert.Equal(7, messages[1].Body[0]);

        var flush = Attributes(messages[1].Body.AsSpan(4));
        Assert.Equal([(1, "replug\0"), (2, "leased\0")], flush.Select(a => (a.Type, Encoding.ASCII.GetString(a.Payload))));

        var add = Attributes(messages[2].Body.AsSpan(4));
        var elements = Attributes(add.Single(a => a.Type == 3).Payload);
        Assert.Equal(2, elements.Count);
        var names = new List<string>();
        foreach (var (type, payload) in elements)
        {
            Assert.Equal(1, type); // NFTA_LIST_ELEM
            var element = Attributes(payload);
            var key = Attributes(element.Single(a => a.Type == 1).Payload).Single();
            Assert.Equal(16, key.Payload.Length); // IFNAMSIZ, NUL-padded: the ifname type's key length
            names.Add(Encoding.ASCII.GetString(key.Payload).TrimEnd('\0'));
            Assert.Equal(1375, BinaryPrimitives.ReadInt64BigEndian(element.Single(a => a.Type == 4).Payload));
        }
        Assert.Equal(["v1", "v2"], names);
    }

    [Fact]
    public void No_names_or_no_time_left_is_a_flush_alone()
    {
        var batch = NftablesSetWriter.Build(NftablesSetWriter.BridgeFamily, "replug", "leased", [], 0, 1, out var acked);
        Assert.Equal([0x10, 0x0a0e, 0x11], Messages(batch).Select(m => (int)m.Type));
        Assert.Equal([2u], acked);
    }

    [Theory]
    [InlineData("sixteen-bytes-xx")]
    [InlineData("a/b")]
    [InlineData("")]
    public void A_name_that_is_no_interface_name_is_refused(string name)
    {
        var error = Assert.Throws<ArgumentException>(() => NftablesSetWriter.Build(7, "replug", "leased", [name], 1000, 1, out _));
        Assert.Contains("invalid interface name", error.Message);
    }

    [Fact]
    public void The_kernels_answers_are_read_with_their_reason_and_a_truncated_one_is_ignored()
    {
        var w = new NetlinkWriter();
        var ack = w.Begin(NetlinkSocket.NLMSG_ERROR, 0, 5);
        w.PutRaw(new byte[4 + 16]); // errno 0, the echoed header
        w.End(ack);
        var error = w.Begin(NetlinkSocket.NLMSG_ERROR, 0x100 | 0x200, 6); // capped, with extended ack
        var body = new byte[4 + 16];
        BinaryPrimitives.WriteInt32LittleEndian(body, -2);
        w.PutRaw(body);
        w.PutString(1, "set leased not found");
        w.End(error);
        var datagram = w.ToArray();

        var answers = NetlinkSocket.Acknowledgements(datagram);
        Assert.Equal([(5u, 0), (6u, 2)], answers.Select(a => (a.Sequence, a.Result.Errno)));
        Assert.Equal("set leased not found", answers[1].Result.Message);

        Assert.Single(NetlinkSocket.Acknowledgements(datagram.AsSpan(0, datagram.Length - 3)));
    }
}
