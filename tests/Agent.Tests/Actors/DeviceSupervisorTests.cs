using Akka.Actor;
using Replug.Agent.Devices;
using Replug.Shared.Devices;
using Replug.Shared.Uevents;
using static Replug.Agent.Devices.DeviceProtocol;

namespace Replug.Agent.Tests.Actors;

public sealed class DeviceSupervisorTests : AgentActorTestBase
{
    private const string Slot = "0000:00:05.0";
    private static readonly DeviceId Pci = DeviceId.Pci(Slot);

    [Fact]
    public void Restoring_a_managed_pci_device_binds_its_driver_through_driver_override_then_drivers_probe()
    {
        Sysfs.AddDriver("vfio-pci").AddPci(Slot, driver: null);
        var watcher = StartWatcher(new Dictionary<DeviceId, ManagedDevice> { [Pci] = new("vfio-pci") });
        AwaitState(Pci, DeviceState.Active);

        Assert.Equal("vfio-pci", Sysfs.ReadValue($"bus/pci/devices/{Slot}/driver_override"));
        Assert.Equal(Slot, Sysfs.ReadValue("bus/pci/drivers_probe"));
    }

    [Fact]
    public void A_managed_pci_device_bound_to_another_driver_is_unbound_before_binding()
    {
        Sysfs.AddDriver("vfio-pci").AddPci(Slot, driver: "ixgbe");
        StartWatcher(new Dictionary<DeviceId, ManagedDevice> { [Pci] = new("vfio-pci") });
        AwaitState(Pci, DeviceState.Active);
        Assert.Equal("vfio-pci", Sysfs.ReadValue($"bus/pci/devices/{Slot}/driver_override"));
        Assert.Equal(Slot, Sysfs.ReadValue("bus/pci/drivers/ixgbe/unbind"));
        Assert.Equal(Slot, Sysfs.ReadValue("bus/pci/drivers_probe"));
    }

    [Fact]
    public void Draining_a_managed_pci_device_unbinds_it_from_its_driver()
    {
        Sysfs.AddPci(Slot, driver: "ixgbe");
        var watcher = StartWatcher(new Dictionary<DeviceId, ManagedDevice> { [Pci] = new("ixgbe") });
        AwaitState(Pci, DeviceState.Active);

        watcher.Tell(new DrainDevice(Pci, "maintenance"));
        AwaitState(Pci, DeviceState.Detached);
        Assert.Equal(Slot, Sysfs.ReadValue("bus/pci/drivers/ixgbe/unbind"));

        watcher.Tell(new UndrainDevice(Pci));
        AwaitState(Pci, DeviceState.Active);
    }

    [Fact]
    public void A_device_that_sysfs_does_not_show_is_retried_with_backoff_then_left_detached()
    {
        var watcher = StartWatcher();
        watcher.Tell(Events.Net(UeventAction.Add, "ghost", 40));
        var change = AwaitState(DeviceId.Net("ghost"), DeviceState.Detached);
        Assert.Contains("probe failed", change.Reason);
        Assert.Contains("not in sysfs", change.Reason);
    }

    [Fact]
    public void A_device_that_appears_in_sysfs_during_the_retries_is_activated()
    {
        var watcher = StartWatcher();
        watcher.Tell(Events.Net(UeventAction.Add, "late", 41));
        Sysfs.AddNet("late", 41);
        AwaitState(DeviceId.Net("late"), DeviceState.Active);
    }

    [Fact]
    public async Task A_device_keeps_a_history_of_its_state_changes()
    {
        Sysfs.AddNet("h1", 5);
        var watcher = StartWatcher(new Dictionary<DeviceId, ManagedDevice> { [DeviceId.Net("h1")] = new() });
        AwaitState(DeviceId.Net("h1"), DeviceState.Active);
        UnplugNet("h1");
        watcher.Tell(Events.Net(UeventAction.Remove, "h1", 5));
        AwaitState(DeviceId.Net("h1"), DeviceState.Detached);

        var list = await watcher.Ask<DeviceList>(new GetDevices(), TimeSpan.FromSeconds(3));
        var status = Assert.Single(list.Devices, d => d.Device == DeviceId.Net("h1"));
        Assert.False(status.Present);
        Assert.Equal([DeviceState.Probed, DeviceState.Active, DeviceState.Faulted, DeviceState.Detached],
            status.History.Select(h => h.To));
    }

    [Fact]
    public void Repeated_removals_are_handled_once()
    {
        Sysfs.AddNet("r1", 5);
        var watcher = StartWatcher(new Dictionary<DeviceId, ManagedDevice> { [DeviceId.Net("r1")] = new() });
        AwaitState(DeviceId.Net("r1"), DeviceState.Active);
        UnplugNet("r1");
        watcher.Tell(Events.Net(UeventAction.Remove, "r1", 5));
        watcher.Tell(Events.Net(UeventAction.Remove, "r1", 5));
        AwaitState(DeviceId.Net("r1"), DeviceState.Detached);
        States.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }
}
