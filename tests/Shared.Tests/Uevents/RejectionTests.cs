using System.Globalization;
using System.Text;
using Replug.Shared.Uevents;

namespace Replug.Shared.Tests.Uevents;

/// <summary>
/// One or more inputs for every <see cref="UeventRejection"/>; a reason added to the enum
/// without a case here fails <see cref="Every_rejection_reason_has_a_test_case"/>.
/// </summary>
public class RejectionTests
{
    private sealed record Case(UeventRejection Reason, Func<UeventParseResult> Parse);

    private static UeventParseResult Kernel(byte[] message) => UeventParser.ParseKernelMessage(message);
    private static UeventParseResult Kernel(string message) => UeventParser.ParseKernelMessage(Encoding.UTF8.GetBytes(message));
    private static UeventParseResult Text(string block) => UeventParser.ParseUdevadmBlock(block);

    private const string Dev = "/devices/virtual/net/veth0";
    private const string UdevadmHeader = "KERNEL[1.000000] add      /devices/virtual/net/veth0 (net)\n";

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    private static readonly Dictionary<string, Case> Cases = new()
    {
        ["empty message"] = new(UeventRejection.Empty, () => Kernel([])),
        ["empty udevadm block"] = new(UeventRejection.Empty, () => Text("")),
        ["blank udevadm block"] = new(UeventRejection.Empty, () => Text("\n \r\n\t\n")),
        ["udevadm header without fields"] = new(UeventRejection.Empty, () => Text(UdevadmHeader)),
        ["udevadm preamble only"] = new(UeventRejection.Empty, () =>
            Text("monitor will print the received events for:\nKERNEL - the kernel uevent\n")),

        ["message over 8 KiB"] = new(UeventRejection.TooLarge, () =>
            Kernel(Wire.Event(extra: ["BIG=" + new string('x', UeventParser.MaxMessageBytes)]))),
        ["message one byte over the limit"] = new(UeventRejection.TooLarge, () => Kernel(new byte[UeventParser.MaxMessageBytes + 1])),
        ["udevadm block over 8 KiB"] = new(UeventRejection.TooLarge, () =>
            Text(UdevadmHeader + "BIG=" + new string('x', UeventParser.MaxMessageBytes))),

        ["real message with a non-UTF-8 interface name"] = new(UeventRejection.InvalidUtf8, () =>
            Kernel(CapturedUevents.Messages(CapturedUevents.InvalidUtf8Scenario)[0])),
        ["truncated two-byte sequence"] = new(UeventRejection.InvalidUtf8, () =>
            Kernel(Concat(Wire.Event(), [0xC3]))),
        ["overlong slash"] = new(UeventRejection.InvalidUtf8, () =>
            Kernel(Concat("add@/devices"u8.ToArray(), [0xC0, 0xAF], "x\0ACTION=add\0"u8.ToArray()))),
        ["UTF-16 surrogate encoded in UTF-8"] = new(UeventRejection.InvalidUtf8, () =>
            Kernel(Concat(Wire.Event(), "X="u8.ToArray(), [0xED, 0xA0, 0x80, 0]))),
        ["lone continuation byte"] = new(UeventRejection.InvalidUtf8, () => Kernel(Concat([0x80], Wire.Event()))),

        ["libudev message"] = new(UeventRejection.NotKernelFormat, () =>
            Kernel(Concat("libudev\0"u8.ToArray(), [0xfe, 0xed, 0xca, 0xfe, 40, 0, 0, 0], Wire.Event()))),

        ["fields without a header"] = new(UeventRejection.MissingHeader, () =>
            Kernel($"ACTION=add\0DEVPATH={Dev}\0SUBSYSTEM=net\0SEQNUM=1\0")),
        ["header with an empty action"] = new(UeventRejection.MissingHeader, () =>
            Kernel($"@{Dev}\0ACTION=add\0DEVPATH={Dev}\0SUBSYSTEM=net\0SEQNUM=1\0")),
        ["header without '@'"] = new(UeventRejection.MissingHeader, () =>
            Kernel($"add {Dev}\0ACTION=add\0DEVPATH={Dev}\0SUBSYSTEM=net\0SEQNUM=1\0")),
        ["first field holds an '@'"] = new(UeventRejection.MissingHeader, () =>
            Kernel("DEVPATH=/devices/platform/soc@0\0ACTION=add\0SUBSYSTEM=platform\0SEQNUM=1\0")),
        ["udevadm first line is neither header nor field"] = new(UeventRejection.MissingHeader, () =>
            Text("hello world\nACTION=add\n")),
        ["udevadm header without a path"] = new(UeventRejection.MissingHeader, () =>
            Text("KERNEL[1.0] add\nACTION=add\n")),

        ["field without '='"] = new(UeventRejection.MalformedField, () =>
            Kernel(Wire.Event(extra: ["NOEQUALS"]))),
        ["field with an empty key"] = new(UeventRejection.MalformedField, () =>
            Kernel(Wire.Event(extra: ["=value"]))),
        ["empty field between NULs"] = new(UeventRejection.MalformedField, () =>
            Kernel(Wire.Event(extra: [""]))),
        ["udevadm line without '='"] = new(UeventRejection.MalformedField, () =>
            Text(UdevadmHeader + "ACTION=add\njunk\n")),
        ["two udevadm events in one block"] = new(UeventRejection.MalformedField, () =>
            Text(UdevadmHeader + $"ACTION=add\nDEVPATH={Dev}\nSUBSYSTEM=net\nSEQNUM=1\n" +
                 UdevadmHeader + $"ACTION=add\nDEVPATH={Dev}\nSUBSYSTEM=net\nSEQNUM=2\n")),

        ["65 fields"] = new(UeventRejection.TooManyFields, () =>
            Kernel(Wire.Event(extra: Enumerable.Range(0, UeventParser.MaxFields - 3).Select(i => $"K{i}=v").ToArray()))),
        ["udevadm block with 65 fields"] = new(UeventRejection.TooManyFields, () =>
            Text(UdevadmHeader + $"ACTION=add\nDEVPATH={Dev}\nSUBSYSTEM=net\n" +
                 string.Concat(Enumerable.Range(0, 62).Select(i => $"K{i}=v\n")))),

        ["ACTION twice"] = new(UeventRejection.DuplicateKey, () => Kernel(Wire.Event(extra: ["ACTION=add"]))),
        ["DEVPATH twice"] = new(UeventRejection.DuplicateKey, () => Kernel(Wire.Event(extra: [$"DEVPATH={Dev}"]))),
        ["SUBSYSTEM twice"] = new(UeventRejection.DuplicateKey, () => Kernel(Wire.Event(extra: ["SUBSYSTEM=pci"]))),
        ["SEQNUM twice"] = new(UeventRejection.DuplicateKey, () => Kernel(Wire.Event(extra: ["SEQNUM=1"]))),
        ["INTERFACE twice"] = new(UeventRejection.DuplicateKey, () =>
            Kernel(Wire.Event(extra: ["INTERFACE=a", "INTERFACE=b"]))),
        ["IFINDEX twice"] = new(UeventRejection.DuplicateKey, () => Kernel(Wire.Event(extra: ["IFINDEX=1", "IFINDEX=1"]))),
        ["DEVPATH_OLD twice"] = new(UeventRejection.DuplicateKey, () =>
            Kernel(Wire.Event(action: "move", extra: ["DEVPATH_OLD=/a", "DEVPATH_OLD=/b"]))),
        ["DRIVER twice"] = new(UeventRejection.DuplicateKey, () => Kernel(Wire.Event(extra: ["DRIVER=a", "DRIVER=a"]))),
        ["DEVTYPE twice"] = new(UeventRejection.DuplicateKey, () => Kernel(Wire.Event(extra: ["DEVTYPE=a", "DEVTYPE=b"]))),
        ["PCI_ID twice"] = new(UeventRejection.DuplicateKey, () => Kernel(Wire.Event(extra: ["PCI_ID=1:2", "PCI_ID=1:2"]))),
        ["PCI_SLOT_NAME twice"] = new(UeventRejection.DuplicateKey, () =>
            Kernel(Wire.Event(extra: ["PCI_SLOT_NAME=0000:00:01.0", "PCI_SLOT_NAME=0000:00:01.0"]))),

        ["header only"] = new(UeventRejection.MissingAction, () => Kernel($"add@{Dev}\0")),
        ["header without a terminating NUL"] = new(UeventRejection.MissingAction, () => Kernel($"add@{Dev}")),
        ["no ACTION field"] = new(UeventRejection.MissingAction, () =>
            Kernel($"add@{Dev}\0DEVPATH={Dev}\0SUBSYSTEM=net\0SEQNUM=1\0")),
        ["udevadm block without header or ACTION"] = new(UeventRejection.MissingAction, () =>
            Text($"DEVPATH={Dev}\nSUBSYSTEM=net\nSEQNUM=1\n")),
        ["udevadm block with header but no ACTION"] = new(UeventRejection.MissingAction, () =>
            Text(UdevadmHeader + $"DEVPATH={Dev}\nSUBSYSTEM=net\nSEQNUM=1\n")),

        ["unknown action"] = new(UeventRejection.UnknownAction, () => Kernel(Wire.Event(action: "explode"))),
        ["upper-case action"] = new(UeventRejection.UnknownAction, () => Kernel(Wire.Event(action: "ADD"))),
        ["action with a line separator and a bidi override"] = new(UeventRejection.UnknownAction, () =>
            Kernel(Wire.Event(action: "add\u2028\u202eevomer\u2029"))),
        ["long action with an emoji cut at the clip length"] = new(UeventRejection.UnknownAction, () =>
            Kernel(Wire.Event(action: new string('a', 79) + "\U0001F600" + new string('b', 10)))),
        ["udevadm block without header with an empty ACTION"] = new(UeventRejection.UnknownAction, () =>
            Text($"ACTION=\nDEVPATH={Dev}\nSUBSYSTEM=net\nSEQNUM=1\n")),

        ["header add, ACTION=remove"] = new(UeventRejection.HeaderActionMismatch, () =>
            Kernel($"add@{Dev}\0ACTION=remove\0DEVPATH={Dev}\0SUBSYSTEM=net\0SEQNUM=1\0")),
        ["udevadm header add, ACTION=remove"] = new(UeventRejection.HeaderActionMismatch, () =>
            Text(UdevadmHeader + $"ACTION=remove\nDEVPATH={Dev}\nSUBSYSTEM=net\nSEQNUM=1\n")),

        ["no DEVPATH"] = new(UeventRejection.MissingDevPath, () => Kernel($"add@{Dev}\0ACTION=add\0SUBSYSTEM=net\0SEQNUM=1\0")),
        ["udevadm block without header or DEVPATH"] = new(UeventRejection.MissingDevPath, () =>
            Text("ACTION=add\nSUBSYSTEM=net\nSEQNUM=1\n")),

        ["relative DEVPATH"] = new(UeventRejection.InvalidDevPath, () => Kernel(Wire.Event(devPath: "devices/virtual/net/x"))),
        ["DEVPATH with '..'"] = new(UeventRejection.InvalidDevPath, () => Kernel(Wire.Event(devPath: "/devices/../../etc"))),
        ["DEVPATH with '.'"] = new(UeventRejection.InvalidDevPath, () => Kernel(Wire.Event(devPath: "/devices/./x"))),
        ["DEVPATH with an empty segment"] = new(UeventRejection.InvalidDevPath, () => Kernel(Wire.Event(devPath: "/devices//x"))),
        ["DEVPATH with a trailing slash"] = new(UeventRejection.InvalidDevPath, () => Kernel(Wire.Event(devPath: "/devices/x/"))),
        ["DEVPATH that is only '/'"] = new(UeventRejection.InvalidDevPath, () => Kernel(Wire.Event(devPath: "/"))),
        ["DEVPATH with a control character"] = new(UeventRejection.InvalidDevPath, () => Kernel(Wire.Event(devPath: "/devices/a\u0001b"))),
        ["DEVPATH with DEL"] = new(UeventRejection.InvalidDevPath, () => Kernel(Wire.Event(devPath: "/devices/a\u007fb"))),
        ["DEVPATH with a backslash"] = new(UeventRejection.InvalidDevPath, () => Kernel(Wire.Event(devPath: "/devices/a\\..\\b"))),
        ["DEVPATH with a newline"] = new(UeventRejection.InvalidDevPath, () => Kernel(Wire.Event(devPath: "/devices/a\nb"))),
        // A wire message cannot hold a DEVPATH over 4096 (it is there twice, within 8 KiB); a header-less text can.
        ["DEVPATH over 4096 characters"] = new(UeventRejection.InvalidDevPath, () =>
            Text($"ACTION=add\nDEVPATH=/{string.Join('/', Enumerable.Repeat("abcdefg", 513))}\nSUBSYSTEM=net\nSEQNUM=1\n")),
        ["empty DEVPATH"] = new(UeventRejection.InvalidDevPath, () => Kernel($"add@\0ACTION=add\0DEVPATH=\0SUBSYSTEM=net\0SEQNUM=1\0")),
        ["DEVPATH_OLD with '..'"] = new(UeventRejection.InvalidDevPath, () =>
            Kernel(Wire.Event(action: "move", extra: ["DEVPATH_OLD=/devices/../x"]))),
        ["relative DEVPATH_OLD"] = new(UeventRejection.InvalidDevPath, () =>
            Kernel(Wire.Event(action: "move", extra: ["DEVPATH_OLD=x"]))),

        ["header path differs from DEVPATH"] = new(UeventRejection.HeaderDevPathMismatch, () =>
            Kernel($"add@/devices/virtual/net/other\0ACTION=add\0DEVPATH={Dev}\0SUBSYSTEM=net\0SEQNUM=1\0")),
        ["header path has a trailing space"] = new(UeventRejection.HeaderDevPathMismatch, () =>
            Kernel($"add@{Dev} \0ACTION=add\0DEVPATH={Dev}\0SUBSYSTEM=net\0SEQNUM=1\0")),
        ["udevadm header path differs from DEVPATH"] = new(UeventRejection.HeaderDevPathMismatch, () =>
            Text("KERNEL[1.0] add      /devices/other (net)\n" + $"ACTION=add\nDEVPATH={Dev}\nSUBSYSTEM=net\nSEQNUM=1\n")),

        ["no SUBSYSTEM"] = new(UeventRejection.MissingSubsystem, () => Kernel($"add@{Dev}\0ACTION=add\0DEVPATH={Dev}\0SEQNUM=1\0")),
        ["empty SUBSYSTEM"] = new(UeventRejection.MissingSubsystem, () => Kernel(Wire.Event(subsystem: ""))),

        ["no SEQNUM"] = new(UeventRejection.MissingSeqNum, () => Kernel($"add@{Dev}\0ACTION=add\0DEVPATH={Dev}\0SUBSYSTEM=net\0")),

        ["SEQNUM not a number"] = new(UeventRejection.InvalidSeqNum, () => Kernel(Wire.Event(seqNum: "abc"))),
        ["empty SEQNUM"] = new(UeventRejection.InvalidSeqNum, () => Kernel(Wire.Event(seqNum: ""))),
        ["negative SEQNUM"] = new(UeventRejection.InvalidSeqNum, () => Kernel(Wire.Event(seqNum: "-1"))),
        ["SEQNUM with a sign"] = new(UeventRejection.InvalidSeqNum, () => Kernel(Wire.Event(seqNum: "+1"))),
        ["SEQNUM with spaces"] = new(UeventRejection.InvalidSeqNum, () => Kernel(Wire.Event(seqNum: " 1"))),
        ["SEQNUM in hex"] = new(UeventRejection.InvalidSeqNum, () => Kernel(Wire.Event(seqNum: "0x10"))),
        ["SEQNUM over 64 bits"] = new(UeventRejection.InvalidSeqNum, () => Kernel(Wire.Event(seqNum: "18446744073709551616"))),

        ["IFINDEX zero"] = new(UeventRejection.InvalidIfIndex, () => Kernel(Wire.Event(extra: ["IFINDEX=0"]))),
        ["IFINDEX negative"] = new(UeventRejection.InvalidIfIndex, () => Kernel(Wire.Event(extra: ["IFINDEX=-3"]))),
        ["IFINDEX not a number"] = new(UeventRejection.InvalidIfIndex, () => Kernel(Wire.Event(extra: ["IFINDEX=eth0"]))),
        ["IFINDEX empty"] = new(UeventRejection.InvalidIfIndex, () => Kernel(Wire.Event(extra: ["IFINDEX="]))),
        ["IFINDEX over 31 bits"] = new(UeventRejection.InvalidIfIndex, () => Kernel(Wire.Event(extra: ["IFINDEX=2147483648"]))),

        ["udev event"] = new(UeventRejection.NotKernelEvent, () =>
            Text($"UDEV  [1.000000] add      {Dev} (net)\nACTION=add\nDEVPATH={Dev}\nSUBSYSTEM=net\nSEQNUM=1\nUSEC_INITIALIZED=1\n")),

        ["NUL in a udevadm block"] = new(UeventRejection.EmbeddedNul, () =>
            Text(UdevadmHeader + $"ACTION=add\nDEVPATH={Dev}\nSUBSYSTEM=net\0X=1\nSEQNUM=1\n")),
    };

    public static TheoryData<string> CaseNames => new(Cases.Keys);

    [Fact]
    public void Every_rejection_reason_has_a_test_case()
    {
        var covered = Cases.Values.Select(c => c.Reason).ToHashSet();
        var missing = Enum.GetValues<UeventRejection>().Where(r => r != UeventRejection.None && !covered.Contains(r)).ToList();
        Assert.True(missing.Count == 0, "rejection reasons without a test case: " + string.Join(", ", missing));
    }

    [Theory, MemberData(nameof(CaseNames))]
    public void An_input_is_rejected_with_its_reason(string name)
    {
        var c = Cases[name];
        UeventAssert.Rejected(c.Reason, c.Parse());
    }

    [Theory, MemberData(nameof(CaseNames))]
    public void A_rejection_detail_is_short_and_printable(string name)
    {
        var detail = Cases[name].Parse().Detail!;
        Assert.True(detail.Length <= 200, detail);
        _ = new UTF8Encoding(false, throwOnInvalidBytes: true).GetByteCount(detail); // no surrogate half
        foreach (var rune in detail.EnumerateRunes())
        {
            Assert.False(Rune.IsControl(rune), $"control character U+{rune.Value:X4} in '{detail}'");
            Assert.DoesNotContain(Rune.GetUnicodeCategory(rune),
                new[] { UnicodeCategory.LineSeparator, UnicodeCategory.ParagraphSeparator, UnicodeCategory.Format, UnicodeCategory.Surrogate });
        }
    }

    [Fact]
    public void The_largest_allowed_message_is_accepted()
    {
        var message = Wire.Event(extra: ["BIG=x"]);
        var padded = Wire.Event(extra: ["BIG=" + new string('x', UeventParser.MaxMessageBytes - message.Length + 1)]);
        Assert.Equal(UeventParser.MaxMessageBytes, padded.Length);
        UeventAssert.Accepted(UeventParser.ParseKernelMessage(padded));
    }

    [Fact]
    public void Exactly_64_fields_are_accepted()
    {
        var message = Wire.Event(extra: Enumerable.Range(0, UeventParser.MaxFields - 4).Select(i => $"K{i}=v").ToArray());
        Assert.Equal(UeventParser.MaxFields, UeventAssert.Accepted(UeventParser.ParseKernelMessage(message)).FieldCount);
    }

    [Fact]
    public void A_repeated_key_the_kernel_may_repeat_is_kept_twice()
    {
        var e = UeventAssert.Accepted(UeventParser.ParseKernelMessage(Wire.Event(extra: ["LINK=a", "LINK=b"])));
        Assert.Equal("a", e["LINK"]);
        Assert.Equal([("LINK", "a"), ("LINK", "b")],
            e.Properties.Where(p => p.Key == "LINK").Select(p => (p.Key, p.Value)));
    }

    [Fact]
    public void A_message_without_the_final_NUL_is_accepted()
    {
        var message = Wire.Event();
        UeventAssert.Accepted(UeventParser.ParseKernelMessage(message.AsSpan(0, message.Length - 1)));
    }

    [Fact]
    public void A_value_may_hold_an_equals_sign()
    {
        var e = UeventAssert.Accepted(UeventParser.ParseKernelMessage(Wire.Event(extra: ["X=a=b=="])));
        Assert.Equal("a=b==", e["X"]);
    }

    [Fact]
    public void Leading_zeros_in_SEQNUM_and_IFINDEX_are_accepted()
    {
        var e = UeventAssert.Accepted(UeventParser.ParseKernelMessage(Wire.Event(seqNum: "007", extra: ["IFINDEX=0042"])));
        Assert.Equal(7UL, e.SeqNum);
        Assert.Equal(42, e.IfIndex);
    }

    [Fact]
    public void The_largest_SEQNUM_is_accepted()
    {
        var e = UeventAssert.Accepted(UeventParser.ParseKernelMessage(Wire.Event(seqNum: ulong.MaxValue.ToString())));
        Assert.Equal(ulong.MaxValue, e.SeqNum);
    }

    [Theory]
    [InlineData("/devices/platform/soc@0/30800000.bus/30be0000.ethernet")]
    [InlineData("/devices/virtual/net/rp=eq")]
    [InlineData("/devices/virtual/net/a@b=c")]
    [InlineData("/devices/LNXSYSTM:00/device name with spaces")]
    [InlineData("/devices/virtual/net/\u00e9t\u00e9")]
    [InlineData("/module/dummy")]
    public void An_unusual_but_valid_DEVPATH_is_accepted(string devPath)
    {
        var e = UeventAssert.Accepted(UeventParser.ParseKernelMessage(Wire.Event(devPath: devPath)));
        Assert.Equal(devPath, e.DevPath);
        Assert.True(UeventParser.IsValidDevPath(devPath));
    }
}
