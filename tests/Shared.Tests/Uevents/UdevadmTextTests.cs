using Replug.Shared.Uevents;

namespace Replug.Shared.Tests.Uevents;

/// <summary>Blocks of <c>udevadm monitor --kernel --property</c> output.</summary>
public class UdevadmTextTests
{
    private const string Block =
        "KERNEL[1234.567890] add      /devices/virtual/net/veth0 (net)\n" +
        "ACTION=add\n" +
        "DEVPATH=/devices/virtual/net/veth0\n" +
        "SUBSYSTEM=net\n" +
        "INTERFACE=veth0\n" +
        "IFINDEX=7\n" +
        "SEQNUM=4711\n";

    private const string Preamble =
        "monitor will print the received events for:\n" +
        "UDEV - the event which udev sends out after rule processing\n" +
        "KERNEL - the kernel uevent\n" +
        "\n";

    private static Uevent Parse(string block) => UeventAssert.Accepted(UeventParser.ParseUdevadmBlock(block));

    private static void AssertVeth0(Uevent e)
    {
        Assert.Equal(UeventAction.Add, e.Action);
        Assert.Equal("/devices/virtual/net/veth0", e.DevPath);
        Assert.Equal("net", e.Subsystem);
        Assert.Equal("veth0", e.Interface);
        Assert.Equal(7, e.IfIndex);
        Assert.Equal(4711UL, e.SeqNum);
        Assert.Equal(6, e.FieldCount);
    }

    [Fact]
    public void A_block_with_a_header_line_parses()
    {
        var e = Parse(Block);
        AssertVeth0(e);
        Assert.Equal(UeventOrigin.Replay, e.Origin);
    }

    [Fact]
    public void A_block_keeps_the_origin_and_timestamp_it_is_given()
    {
        var e = UeventAssert.Accepted(UeventParser.ParseUdevadmBlock(Block, UeventOrigin.Kernel, 99));
        Assert.Equal(UeventOrigin.Kernel, e.Origin);
        Assert.Equal(99, e.ReceivedTimestamp);
    }

    [Fact]
    public void The_preamble_lines_before_the_first_event_are_skipped()
    {
        AssertVeth0(Parse(Preamble + Block));
    }

    [Fact]
    public void The_kernel_only_preamble_before_the_first_event_is_skipped()
    {
        AssertVeth0(Parse("monitor will print the received events for:\nKERNEL - the kernel uevent\n\n" + Block));
    }

    [Fact]
    public void A_udev_block_is_not_a_kernel_event()
    {
        var udev = Block.Replace("KERNEL[", "UDEV  [") + "USEC_INITIALIZED=1234\nID_NET_NAME=enp3s0\n";
        UeventAssert.Rejected(UeventRejection.NotKernelEvent, UeventParser.ParseUdevadmBlock(udev));
    }

    [Fact]
    public void A_udev_block_whose_devpath_holds_an_equals_sign_is_not_a_kernel_event()
    {
        var udev = Block.Replace("KERNEL[", "UDEV  [").Replace("net/veth0", "net/rp=eq");
        UeventAssert.Rejected(UeventRejection.NotKernelEvent, UeventParser.ParseUdevadmBlock(udev));
    }

    [Fact]
    public void A_udev_block_after_the_preamble_is_not_a_kernel_event()
    {
        UeventAssert.Rejected(UeventRejection.NotKernelEvent,
            UeventParser.ParseUdevadmBlock(Preamble + Block.Replace("KERNEL[", "UDEV  [")));
    }

    [Fact]
    public void A_block_without_a_header_line_parses_from_its_fields()
    {
        AssertVeth0(Parse(Block[(Block.IndexOf('\n') + 1)..]));
    }

    [Fact]
    public void CRLF_line_endings_are_accepted()
    {
        AssertVeth0(Parse(Block.Replace("\n", "\r\n")));
    }

    [Fact]
    public void CRLF_line_endings_without_a_header_are_accepted()
    {
        AssertVeth0(Parse(Block[(Block.IndexOf('\n') + 1)..].Replace("\n", "\r\n")));
    }

    [Fact]
    public void Blank_lines_and_a_missing_final_newline_are_accepted()
    {
        AssertVeth0(Parse("\n\n" + Block.Replace("IFINDEX=7\n", "IFINDEX=7\n\n").TrimEnd('\n')));
    }

    [Fact]
    public void Header_columns_may_be_spaced_any_way()
    {
        AssertVeth0(Parse(Block.Replace("KERNEL[1234.567890] add      /devices", "KERNEL[1234.567890]   add /devices")));
    }

    [Fact]
    public void A_header_without_the_subsystem_is_accepted()
    {
        AssertVeth0(Parse(Block.Replace(" (net)\n", "\n")));
    }

    [Theory]
    [InlineData("/devices/platform/soc@0/30800000.bus/30be0000.ethernet/net/eth0", "net")]
    [InlineData("/devices/platform/soc@0/soc@0:bus@30000000/30be0000.ethernet", "platform")]
    [InlineData("/devices/LNXSYSTM:00/device with spaces/x", "acpi")]
    [InlineData("/devices/virtual/net/a (b)", "net")]
    [InlineData("/devices/virtual/net/rp=eq", "net")]
    [InlineData("/devices/virtual/net/rp\u2028x", "net")]
    [InlineData("/devices/virtual/net/rp\u0085x", "net")]
    public void A_devpath_with_unusual_characters_parses_with_and_without_a_header(string devPath, string subsystem)
    {
        var fields = $"ACTION=change\nDEVPATH={devPath}\nSUBSYSTEM={subsystem}\nSEQNUM=9\n";
        foreach (var block in new[] { $"KERNEL[1.000000] change   {devPath} ({subsystem})\n" + fields, fields })
        {
            var e = Parse(block);
            Assert.Equal(devPath, e.DevPath);
            Assert.Equal(subsystem, e.Subsystem);
            Assert.Equal(4, e.FieldCount);
        }
    }

    [Theory]
    [InlineData("X=a\u2028b")]
    [InlineData("X=a\u2029b")]
    [InlineData("X=a\u0085b")]
    [InlineData("X=a\u000cb")]
    [InlineData("X=a\rb")]
    [InlineData("X=\u00e9\u4e2d\U0001F600")]
    public void Only_a_newline_ends_a_line(string field)
    {
        var e = Parse(Block + field + "\n");
        Assert.Equal(field[2..], e["X"]);
        Assert.Equal(7, e.FieldCount);
    }

    [Fact]
    public void A_value_may_hold_spaces_and_equals_signs()
    {
        var e = Parse(Block + "MODALIAS=a b=c \n");
        Assert.Equal("a b=c ", e["MODALIAS"]);
    }

    [Fact]
    public void ToUdevadmText_writes_what_udevadm_prints()
    {
        var e = UeventAssert.Accepted(UeventParser.ParseKernelMessage(Wire.Event(extra: ["INTERFACE=veth0", "IFINDEX=7"])));
        Assert.Equal(
            "KERNEL[0.000000] add      /devices/virtual/net/veth0 (net)\n" +
            "ACTION=add\nDEVPATH=/devices/virtual/net/veth0\nSUBSYSTEM=net\nINTERFACE=veth0\nIFINDEX=7\nSEQNUM=4711\n",
            e.ToUdevadmText());
    }

    [Fact]
    public void The_header_line_and_the_fields_must_agree()
    {
        UeventAssert.Rejected(UeventRejection.HeaderActionMismatch,
            UeventParser.ParseUdevadmBlock(Block.Replace("] add      ", "] remove   ")));
        UeventAssert.Rejected(UeventRejection.HeaderDevPathMismatch,
            UeventParser.ParseUdevadmBlock(Block.Replace("net/veth0 (net)", "net/veth1 (net)")));
    }
}
