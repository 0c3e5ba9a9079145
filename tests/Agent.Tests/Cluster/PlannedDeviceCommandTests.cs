using Replug.Agent.Cluster;
using Replug.Agent.Devices;
using Replug.Agent.Ports;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;

namespace Replug.Agent.Tests.Cluster;

public sealed class PlannedDeviceCommandTests
{
    private static readonly DeviceId V1 = DeviceId.Net("v1"), V2 = DeviceId.Net("v2"), V3 = DeviceId.Net("v3");
    private static readonly DeviceId Function = DeviceId.Pci("0000:03:00.0");

    private static PortStatus Port(string name, DeviceId? active, params DeviceId[] healthy) =>
        new(new PortId(name), active, [V1, V2, V3], healthy, true, false, "test");

    private static PlannedDeviceCommand Detach(DeviceId device, params DeviceId[] before) =>
        new(CommandId.New(), PlannedChange.Detach, device, [.. before, device]);

    private static PlannedDeviceCommand Attach(DeviceId device) => new(CommandId.New(), PlannedChange.Attach, device, [device]);

    private static DeviceStateChanged Change(DeviceId device, DeviceState from, DeviceState to, string reason = "") =>
        new(device, from, to, reason, DateTimeOffset.UtcNow);

    [Fact]
    public void Detaching_a_device_is_allowed_while_every_port_using_it_keeps_another_healthy_member()
    {
        Assert.Null(PlannedDeviceCommand.WhyNotDetach([V1], [Port("a", V1, V1, V2), Port("b", V2, V1, V2)], new HashSet<DeviceId>()));
    }

    [Fact]
    public void Detaching_a_ports_last_healthy_device_is_refused_naming_the_port()
    {
        var why = PlannedDeviceCommand.WhyNotDetach([V1], [Port("a", V1, V1, V2), Port("b", V1, V1)], new HashSet<DeviceId>());
        Assert.NotNull(why);
        Assert.Contains("port b", why);
        Assert.DoesNotContain("port a", why);
        Assert.Contains("without a healthy device", why);
    }

    [Fact]
    public void A_member_another_detach_is_taking_out_does_not_count_as_staying()
    {
        var why = PlannedDeviceCommand.WhyNotDetach([V1], [Port("a", V1, V1, V2)], new HashSet<DeviceId> { V2 });
        Assert.Contains("being detached by another command: net/v2", why);
    }

    [Fact]
    public void A_device_that_is_not_healthy_in_a_port_can_go_even_when_the_port_has_nothing_left()
    {
        // The port escalated already: the detach does not make it worse.
        Assert.Null(PlannedDeviceCommand.WhyNotDetach([V1], [Port("a", null)], new HashSet<DeviceId>()));
    }

    [Fact]
    public void The_ports_that_remap_are_those_whose_active_device_leaves()
    {
        Assert.Equal([new PortId("a")], PlannedDeviceCommand.Remapped([V1], [Port("a", V1, V1, V2), Port("b", V2, V1, V2)]));
    }

    [Fact]
    public void A_detach_is_done_when_the_device_is_detached_and_waits_while_it_drains()
    {
        var command = Detach(V1);
        Assert.IsType<PlannedProgress.Wait>(command.OnAnswer(V1, DeviceState.Draining, "drain: maintenance"));
        Assert.IsType<PlannedProgress.Wait>(command.OnChange(Change(V1, DeviceState.Active, DeviceState.Draining)));
        Assert.IsType<PlannedProgress.Done>(command.OnChange(Change(V1, DeviceState.Draining, DeviceState.Detached)));
    }

    [Fact]
    public void A_device_already_detached_is_done_at_the_answer()
    {
        Assert.IsType<PlannedProgress.Done>(Detach(V1).OnAnswer(V1, DeviceState.Detached, "detach done"));
    }

    [Fact]
    public void A_pci_functions_net_interfaces_are_detached_before_the_function()
    {
        var command = Detach(Function, V1);
        Assert.Equal(V1, command.Current);
        Assert.IsType<PlannedProgress.Wait>(command.OnChange(Change(Function, DeviceState.Draining, DeviceState.Detached))); // not its turn
        Assert.Equal(new PlannedProgress.Next(Function), command.OnChange(Change(V1, DeviceState.Draining, DeviceState.Detached)));
        Assert.IsType<PlannedProgress.Wait>(command.OnAnswer(Function, DeviceState.Draining, "drain"));
        Assert.IsType<PlannedProgress.Done>(command.OnChange(Change(Function, DeviceState.Draining, DeviceState.Detached)));
    }

    [Fact]
    public void A_device_being_restored_is_not_detached()
    {
        Assert.Contains("being restored", Assert.IsType<PlannedProgress.Failed>(Detach(V1).OnAnswer(V1, DeviceState.Restoring, "undrain")).Reason);
    }

    [Fact]
    public void An_attach_is_done_when_the_device_is_active_and_refused_when_its_restore_fails()
    {
        var attach = Attach(V1);
        Assert.IsType<PlannedProgress.Wait>(attach.OnAnswer(V1, DeviceState.Restoring, "undrain"));
        Assert.IsType<PlannedProgress.Wait>(attach.OnChange(Change(V1, DeviceState.Restoring, DeviceState.Probed)));
        Assert.IsType<PlannedProgress.Done>(attach.OnChange(Change(V1, DeviceState.Probed, DeviceState.Active)));

        var failing = Attach(V2);
        // A late "-> Detached" of the drain before is no failure of this restore.
        Assert.IsType<PlannedProgress.Wait>(failing.OnChange(Change(V2, DeviceState.Draining, DeviceState.Detached)));
        var failed = failing.OnChange(Change(V2, DeviceState.Restoring, DeviceState.Detached, "restore failed: net/v2 is not in sysfs"));
        Assert.Contains("not in sysfs", Assert.IsType<PlannedProgress.Failed>(failed).Reason);
    }

    [Fact]
    public void An_attach_of_a_device_being_detached_or_unknown_is_refused()
    {
        Assert.IsType<PlannedProgress.Failed>(Attach(V1).OnAnswer(V1, DeviceState.Draining, "drain"));
        Assert.Contains("not a device this host knows", Assert.IsType<PlannedProgress.Failed>(Attach(V1).OnUnknown(V1)).Reason);
        Assert.IsType<PlannedProgress.Done>(Attach(V1).OnAnswer(V1, DeviceState.Active, "attach done"));
    }
}
