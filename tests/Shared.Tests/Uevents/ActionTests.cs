using Replug.Shared.Uevents;

namespace Replug.Shared.Tests.Uevents;

public class ActionTests
{
    public static TheoryData<UeventAction> AllActions => new(Enum.GetValues<UeventAction>());

    [Fact]
    public void There_are_the_eight_kernel_actions()
    {
        Assert.Equal(["add", "remove", "change", "move", "online", "offline", "bind", "unbind"],
            Enum.GetValues<UeventAction>().Select(a => a.ToKernelString()));
    }

    [Theory, MemberData(nameof(AllActions))]
    public void Each_action_was_captured_from_the_kernel_and_parses(UeventAction action)
    {
        var events = CapturedUevents.AllValidMessages()
            .Select(m => UeventAssert.Accepted(UeventParser.ParseKernelMessage(m)))
            .Where(e => e.Action == action).ToList();
        Assert.NotEmpty(events);
        Assert.All(events, e => Assert.Equal(action.ToKernelString(), e["ACTION"]));
    }

    [Theory, MemberData(nameof(AllActions))]
    public void Each_action_parses_from_a_synthetic_message(UeventAction action)
    {
        var text = action.ToKernelString();
        var e = UeventAssert.Accepted(UeventParser.ParseKernelMessage(Wire.Event(action: text)));
        Assert.Equal(action, e.Action);
    }

    [Theory, MemberData(nameof(AllActions))]
    public void Each_action_round_trips_through_its_kernel_string(UeventAction action)
    {
        Assert.True(UeventActions.TryParse(action.ToKernelString(), out var parsed));
        Assert.Equal(action, parsed);
    }

    [Theory]
    [InlineData("ADD")]
    [InlineData("Add")]
    [InlineData("add ")]
    [InlineData("")]
    [InlineData("added")]
    [InlineData("reset")]
    public void An_action_is_matched_exactly(string text)
    {
        Assert.False(UeventActions.TryParse(text, out _));
    }

    [Fact]
    public void An_undefined_action_value_has_no_kernel_string()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ((UeventAction)200).ToKernelString());
    }

    [Fact]
    public void A_synthetic_change_from_the_kernel_carries_its_arguments()
    {
        var e = CapturedUevents.Messages("synthetic-actions")
            .Select(m => UeventAssert.Accepted(UeventParser.ParseKernelMessage(m)))
            .First(e => e["SYNTH_ARG_ERROREVENT"] == "BEGINRECOVERY");
        Assert.Equal(UeventAction.Change, e.Action);
        Assert.Equal("5a1e0f6e-2b7c-4f43-9a4e-3c8d1f2b6a70", e["SYNTH_UUID"]);
        Assert.Equal("0", e["SYNTH_ARG_DEVICEONLINE"]);
    }

    [Fact]
    public void A_move_without_DEVPATH_OLD_is_accepted_as_the_kernel_sends_it()
    {
        // Writing "move" to a uevent file makes the kernel emit a move with no old path.
        var e = CapturedUevents.Messages("synthetic-actions")
            .Select(m => UeventAssert.Accepted(UeventParser.ParseKernelMessage(m)))
            .Single(e => e.Action == UeventAction.Move);
        Assert.Null(e.DevPathOld);
    }

    [Fact]
    public void A_PCI_error_recovery_change_exposes_its_fields()
    {
        var e = UeventAssert.Accepted(UeventParser.ParseKernelMessage(Wire.Event(
            action: "change", devPath: "/devices/pci0000:00/0000:00:03.0/0000:03:00.0", subsystem: "pci",
            extra: ["DRIVER=ixgbe", "PCI_CLASS=20000", "PCI_ID=8086:10FB", "PCI_SUBSYS_ID=8086:000C",
                "PCI_SLOT_NAME=0000:03:00.0", "MODALIAS=pci:v00008086d000010FBsv00008086sd0000000Cbc02sc00i00",
                "ERROR_EVENT=BEGIN_RECOVERY", "DEVICE_ONLINE=0"])));
        Assert.Equal(UeventAction.Change, e.Action);
        Assert.Equal("ixgbe", e.Driver);
        Assert.Equal("8086:10FB", e.PciId);
        Assert.Equal("0000:03:00.0", e.PciSlotName);
        Assert.Equal("0000:03:00.0", e.KernelName);
        Assert.Equal("BEGIN_RECOVERY", e["ERROR_EVENT"]);
        Assert.Equal("0", e["DEVICE_ONLINE"]);
        Assert.Null(e.IfIndex);
    }
}
