using System.Globalization;
using Replug.Shared.Devices;
using Replug.Shared.Uevents;

namespace Replug.Shared.Tests.Uevents;

/// <summary>Every real kernel message captured on a Linux host (Fixtures/*.bin).</summary>
public class CapturedMessageTests
{
    public static TheoryData<string, int> Messages => CapturedUevents.EveryValidMessage();

    private static (byte[] Raw, Uevent Event, Dictionary<string, string> Fields) Load(string scenario, int index)
    {
        var raw = CapturedUevents.Messages(scenario)[index];
        var e = UeventAssert.Accepted(UeventParser.ParseKernelMessage(raw));
        var fields = CapturedUevents.RawFields(raw).Fields.ToDictionary(f => f.Key, f => f.Value);
        return (raw, e, fields);
    }

    [Fact]
    public void The_fixtures_hold_a_good_number_of_real_messages()
    {
        foreach (var scenario in CapturedUevents.ValidScenarios)
            Assert.True(CapturedUevents.Messages(scenario).Count >= 6, scenario);
        Assert.True(CapturedUevents.AllValidMessages().Count >= 100);
    }

    [Theory, MemberData(nameof(Messages))]
    public void A_real_kernel_message_parses(string scenario, int index)
    {
        var raw = CapturedUevents.Messages(scenario)[index];
        var e = UeventAssert.Accepted(UeventParser.ParseKernelMessage(raw, UeventOrigin.Kernel, 42));
        Assert.Equal(UeventOrigin.Kernel, e.Origin);
        Assert.Equal(42, e.ReceivedTimestamp);
    }

    [Theory, MemberData(nameof(Messages))]
    public void Typed_accessors_match_the_raw_fields(string scenario, int index)
    {
        var (raw, e, f) = Load(scenario, index);
        var header = CapturedUevents.RawFields(raw).Header;

        Assert.Equal(f["ACTION"], e.Action.ToKernelString());
        Assert.Equal(header, $"{e.Action.ToKernelString()}@{e.DevPath}");
        Assert.Equal(f["DEVPATH"], e.DevPath);
        Assert.Equal(f["DEVPATH"], e.DevPathSpan.ToString());
        Assert.Equal(f["SUBSYSTEM"], e.Subsystem);
        Assert.Equal(f["SUBSYSTEM"], e.SubsystemSpan.ToString());
        Assert.Equal(ulong.Parse(f["SEQNUM"], CultureInfo.InvariantCulture), e.SeqNum);
        Assert.Equal(f.GetValueOrDefault("INTERFACE"), e.Interface);
        Assert.Equal(f.TryGetValue("IFINDEX", out var ifIndex) ? int.Parse(ifIndex, CultureInfo.InvariantCulture) : null, e.IfIndex);
        Assert.Equal(f.GetValueOrDefault("DEVPATH_OLD"), e.DevPathOld);
        Assert.Equal(f.GetValueOrDefault("DRIVER"), e.Driver);
        Assert.Equal(f.GetValueOrDefault("DEVTYPE"), e.DevType);
        Assert.Equal(f.GetValueOrDefault("PCI_SLOT_NAME"), e.PciSlotName);
        Assert.Equal(f.GetValueOrDefault("PCI_ID"), e.PciId);
        var kernelName = f["DEVPATH"][(f["DEVPATH"].LastIndexOf('/') + 1)..];
        Assert.Equal(kernelName, e.KernelName);
        // Queues, and anything else outside net and pci, are named only within their parent device.
        var name = f["SUBSYSTEM"] is Subsystems.Net or Subsystems.Pci ? kernelName : f["DEVPATH"].TrimStart('/');
        Assert.Equal(new DeviceId(f["SUBSYSTEM"], name), e.Device);
        Assert.Equal(f.Count, e.FieldCount);
    }

    [Theory, MemberData(nameof(Messages))]
    public void A_net_device_message_names_its_interface_as_the_kernel_name(string scenario, int index)
    {
        var (_, e, _) = Load(scenario, index);
        if (e.Subsystem != Subsystems.Net) return;
        Assert.Equal(e.Interface, e.KernelName);
        Assert.Equal(DeviceId.Net(e.Interface!), e.Device);
        Assert.NotNull(e.IfIndex);
    }

    [Theory, MemberData(nameof(Messages))]
    public void Properties_round_trip_the_raw_fields_in_order(string scenario, int index)
    {
        var (raw, e, _) = Load(scenario, index);
        Assert.Equal(CapturedUevents.RawFields(raw).Fields, e.Properties.ToList());
        foreach (var (key, value) in e.Properties)
        {
            Assert.Equal(value, e[key]);
            Assert.True(e.TryGetValue(key, out var span));
            Assert.Equal(value, span.ToString());
        }
        Assert.Null(e["NO_SUCH_KEY"]);
    }

    [Theory, MemberData(nameof(Messages))]
    public void ToWireFormat_gives_back_the_kernel_bytes(string scenario, int index)
    {
        var (raw, e, _) = Load(scenario, index);
        Assert.Equal(raw, e.ToWireFormat());
    }

    [Theory, MemberData(nameof(Messages))]
    public void ToWireFormat_reparses_to_an_equal_event(string scenario, int index)
    {
        var (_, e, _) = Load(scenario, index);
        UeventAssert.Equal(e, UeventAssert.Accepted(UeventParser.ParseKernelMessage(e.ToWireFormat())));
    }

    [Theory, MemberData(nameof(Messages))]
    public void ToUdevadmText_reparses_to_an_equal_event(string scenario, int index)
    {
        var (_, e, _) = Load(scenario, index);
        var again = UeventAssert.Accepted(UeventParser.ParseUdevadmBlock(e.ToUdevadmText()));
        UeventAssert.Equal(e, again);
        Assert.Equal(UeventOrigin.Replay, again.Origin);
    }

    [Fact]
    public void A_rename_is_a_move_with_the_old_path()
    {
        var moves = CapturedUevents.Messages("rename-move")
            .Select(m => UeventAssert.Accepted(UeventParser.ParseKernelMessage(m)))
            .Where(e => e.Action == UeventAction.Move).ToList();
        Assert.Equal(2, moves.Count);
        Assert.Equal("/devices/virtual/net/rpi0", moves[0].DevPathOld);
        Assert.Equal("/devices/virtual/net/rpi0renamed", moves[0].DevPath);
        Assert.Equal("rpi0renamed", moves[0].Interface);
        Assert.Equal("/devices/virtual/net/rpi0renamed", moves[1].DevPathOld);
        Assert.Equal("rpi0", moves[1].KernelName);
        Assert.Equal(moves[0].IfIndex, moves[1].IfIndex);
    }

    [Fact]
    public void Sequence_numbers_increase_within_a_capture()
    {
        foreach (var scenario in CapturedUevents.ValidScenarios)
        {
            var seqs = CapturedUevents.Messages(scenario)
                .Select(m => UeventAssert.Accepted(UeventParser.ParseKernelMessage(m)).SeqNum).ToList();
            Assert.Equal(seqs.Order(), seqs);
            Assert.Equal(seqs.Count, seqs.Distinct().Count());
        }
    }

    [Fact]
    public void A_bridge_reports_its_devtype()
    {
        var bridge = CapturedUevents.Messages("bridge")
            .Select(m => UeventAssert.Accepted(UeventParser.ParseKernelMessage(m)))
            .First(e => e.Interface == "rpbr0");
        Assert.Equal("bridge", bridge.DevType);
    }

    [Theory]
    [InlineData("rp=eq")]
    [InlineData("rp@at")]
    [InlineData("rp\u00e9")]
    [InlineData("rp\u2028x")]
    [InlineData("rp\u0085x")]
    public void An_interface_name_the_kernel_allows_parses_in_both_formats(string name)
    {
        var events = CapturedUevents.Messages("odd-names")
            .Select(m => UeventAssert.Accepted(UeventParser.ParseKernelMessage(m)))
            .Where(e => e.Interface == name).ToList();
        Assert.Equal(2, events.Count); // add and remove
        foreach (var e in events)
        {
            Assert.Equal($"/devices/virtual/net/{name}", e.DevPath);
            Assert.Equal(DeviceId.Net(name), e.Device);
            UeventAssert.Equal(e, UeventAssert.Accepted(UeventParser.ParseUdevadmBlock(e.ToUdevadmText())));
        }
    }

    [Fact]
    public void A_real_message_naming_a_non_UTF8_interface_is_rejected_as_invalid_UTF8()
    {
        var messages = CapturedUevents.Messages(CapturedUevents.InvalidUtf8Scenario);
        Assert.NotEmpty(messages);
        foreach (var m in messages)
            UeventAssert.Rejected(UeventRejection.InvalidUtf8, UeventParser.ParseKernelMessage(m));
    }

    [Fact]
    public void Every_block_of_a_real_udevadm_capture_parses_and_matches_its_header_line()
    {
        var text = File.ReadAllText(Path.Combine(CapturedUevents.Directory, "udevadm-veth.txt"));
        var blocks = text.Split("\n\n").Where(b => !string.IsNullOrWhiteSpace(b)).ToList();
        Assert.StartsWith("monitor will print", blocks[0]);
        UeventAssert.Rejected(UeventRejection.Empty, UeventParser.ParseUdevadmBlock(blocks[0]));

        var events = blocks.Skip(1).Select(b => UeventAssert.Accepted(UeventParser.ParseUdevadmBlock(b))).ToList();
        Assert.True(events.Count >= 10);
        Assert.Contains(events, e => e.Action == UeventAction.Move && e.DevPathOld == "/devices/virtual/net/rpu0");
        Assert.Contains(events, e => e.Action == UeventAction.Remove && e.Interface == "rpu0x");
        foreach (var (block, e) in blocks.Skip(1).Zip(events))
        {
            var header = block.Split('\n')[0];
            Assert.StartsWith("KERNEL[", header);
            Assert.EndsWith($" {e.DevPath} ({e.Subsystem})", header);
            Assert.Contains($"] {e.Action.ToKernelString()} ", header);
        }
    }

    [Fact]
    public void A_whole_real_udevadm_capture_given_as_one_block_is_rejected_not_merged()
    {
        var text = File.ReadAllText(Path.Combine(CapturedUevents.Directory, "udevadm-veth.txt"));
        var result = UeventParser.ParseUdevadmBlock(text);
        Assert.False(result.IsAccepted);
    }
}
