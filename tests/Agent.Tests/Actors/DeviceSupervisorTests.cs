using Akka.Actor;
using Replug.Agent.Devices;
using Replug.Agent.Tests.Support;
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
    public void Draining_a_pci_device_unbinds_it_from_its_driver_then_removes_it_from_the_bus()
    {
        Sysfs.AddPci(Slot, driver: "ixgbe");
        var watcher = StartWatcher(new Dictionary<DeviceId, ManagedDevice> { [Pci] = new("ixgbe") });
        AwaitState(Pci, DeviceState.Active);

        watcher.Tell(new DrainDevice(Pci, "maintenance"));
        AwaitState(Pci, DeviceState.Detached);
        Assert.Equal(Slot, Sysfs.ReadValue("bus/pci/drivers/ixgbe/unbind"));
        Assert.Equal("1", Sysfs.ReadValue($"bus/pci/devices/{Slot}/remove"));

        watcher.Tell(new UndrainDevice(Pci));
        AwaitState(Pci, DeviceState.Active);
    }

    /// <summary>A watcher over <paramref name="bus"/> (the kernel's reactions to bus/pci writes played in the fake tree).</summary>
    private IActorRef StartWatcher(IDeviceBus bus, IReadOnlyDictionary<DeviceId, ManagedDevice> managed) =>
        Sys.ActorOf(DeviceWatcher.Props(bus, new WatcherOptions(new HashSet<string> { Subsystems.Net, Subsystems.Pci }, managed, FastSteps)));

    [Fact]
    public void A_pci_function_detached_on_purpose_is_found_again_by_a_rescan_and_bound_to_its_configured_driver()
    {
        Sysfs.AddDriver("vfio-pci").AddPci(Slot, driver: "vfio-pci");
        var bus = new KernelLikeBus(Sysfs);
        // Not a port member: nothing else keeps its supervisor while the function is off the bus.
        var watcher = StartWatcher(bus, new Dictionary<DeviceId, ManagedDevice> { [Pci] = new("vfio-pci") });
        AwaitState(Pci, DeviceState.Active);

        watcher.Tell(new DrainDevice(Pci, "pull the card"));
        AwaitState(Pci, DeviceState.Detached);
        Assert.Equal([$"unbind {Slot}", $"remove {Slot}"], bus.Log);
        Assert.Null(bus.FindPci(Slot));
        watcher.Tell(Events.Pci(UeventAction.Remove, Slot)); // what the kernel says after the removal

        watcher.Tell(new UndrainDevice(Pci));
        AwaitState(Pci, DeviceState.Active);
        Assert.Equal([$"unbind {Slot}", $"remove {Slot}", "rescan", $"bind {Slot} vfio-pci"], bus.Log);
    }

    [Fact]
    public void An_unmanaged_pci_function_drained_and_gone_from_the_bus_keeps_its_supervisor_for_the_undrain()
    {
        Sysfs.AddPci(Slot, driver: "ixgbe");
        var bus = new KernelLikeBus(Sysfs);
        var watcher = StartWatcher(bus, new Dictionary<DeviceId, ManagedDevice>());
        watcher.Tell(Events.Pci(UeventAction.Add, Slot));
        AwaitState(Pci, DeviceState.Active);

        watcher.Tell(new DrainDevice(Pci, "pull the card"));
        // The kernel's removal event may come before or after the supervisor's own detach: both orders.
        watcher.Tell(Events.Pci(UeventAction.Remove, Slot));
        AwaitState(Pci, DeviceState.Detached);
        watcher.Tell(Events.Pci(UeventAction.Remove, Slot));

        watcher.Tell(new UndrainDevice(Pci));
        AwaitState(Pci, DeviceState.Active);
        Assert.Contains("rescan", bus.Log);
    }

    [Fact]
    public void A_faulted_pci_function_is_released_from_its_driver_but_not_removed_from_the_bus()
    {
        Sysfs.AddPci(Slot, driver: "ixgbe");
        var bus = new KernelLikeBus(Sysfs);
        var watcher = StartWatcher(bus, new Dictionary<DeviceId, ManagedDevice> { [Pci] = new("ixgbe") });
        AwaitState(Pci, DeviceState.Active);

        watcher.Tell(Events.Pci(UeventAction.Change, Slot, new("ERROR_EVENT", "FAILED_RECOVERY"), new("DEVICE_ONLINE", "0")));
        AwaitState(Pci, DeviceState.Detached);

        Assert.Equal([$"unbind {Slot}"], bus.Log);
        Assert.NotNull(bus.FindPci(Slot));
    }

    [Fact]
    public void Draining_a_net_device_nobody_manages_takes_its_link_down_and_undraining_brings_it_up()
    {
        Sysfs.AddNet("u1", 5, flags: 0x1003);
        var watcher = StartWatcher();
        AwaitState(DeviceId.Net("u1"), DeviceState.Active);

        watcher.Tell(new DrainDevice(DeviceId.Net("u1"), "maintenance"));
        AwaitState(DeviceId.Net("u1"), DeviceState.Detached);
        Assert.Equal("0x1002", Sysfs.ReadValue("class/net/u1/flags"));

        watcher.Tell(new UndrainDevice(DeviceId.Net("u1")));
        AwaitState(DeviceId.Net("u1"), DeviceState.Active);
        Assert.Equal("0x1003", Sysfs.ReadValue("class/net/u1/flags"));
    }

    [Fact]
    public void A_net_device_nobody_manages_that_faults_and_returns_keeps_its_link_as_the_kernel_left_it()
    {
        Sysfs.AddNet("u2", 5, flags: 0x1002);
        var watcher = StartWatcher();
        AwaitState(DeviceId.Net("u2"), DeviceState.Active);
        watcher.Tell(Events.Net(UeventAction.Remove, "u2", 5));
        AwaitState(DeviceId.Net("u2"), DeviceState.Detached);
        watcher.Tell(Events.Net(UeventAction.Add, "u2", 5));
        AwaitState(DeviceId.Net("u2"), DeviceState.Active);
        Assert.Equal("0x1002", Sysfs.ReadValue("class/net/u2/flags"));
    }

    [Fact]
    public void A_drain_and_an_undrain_are_answered_with_the_devices_state_once_applied()
    {
        Sysfs.AddNet("a1", 5);
        var watcher = StartWatcher();
        AwaitState(DeviceId.Net("a1"), DeviceState.Active);

        watcher.Tell(new DrainDevice(DeviceId.Net("a1"), "maintenance"));
        Assert.Equal(DeviceState.Draining, ExpectMsg<DeviceStatus>().State);
        AwaitState(DeviceId.Net("a1"), DeviceState.Detached);
        watcher.Tell(new DrainDevice(DeviceId.Net("a1"), "again"));
        Assert.Equal(DeviceState.Detached, ExpectMsg<DeviceStatus>().State);

        watcher.Tell(new UndrainDevice(DeviceId.Net("a1")));
        Assert.Equal(DeviceState.Restoring, ExpectMsg<DeviceStatus>().State);
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
    public void A_probe_that_finishes_after_the_devices_removal_is_logged_as_moot_not_failed_and_not_retried()
    {
        var bus = new GatedBus(new SysfsDeviceBus(Sysfs.Root));
        var slow = DeviceId.Net("slow");
        // A port member: its supervisor outlives the removal. The probe's bound is far off: its
        // result comes when the test releases it, not at a timeout.
        var watcher = Sys.ActorOf(DeviceWatcher.Props(bus, new WatcherOptions(new HashSet<string> { Subsystems.Net },
            new Dictionary<DeviceId, ManagedDevice> { [slow] = ManagedDevice.PortMember }, FastSteps with { Timeout = TimeSpan.FromSeconds(30) })));
        watcher.Tell(Events.Net(UeventAction.Add, "slow", 40));
        Assert.True(bus.Entered.Wait(TimeSpan.FromSeconds(10)), "the probe never started");
        watcher.Tell(Events.Net(UeventAction.Remove, "slow", 40));
        AwaitState(slow, DeviceState.Detached);

        // The probe now finds nothing in sysfs, as a probe of a removed device does.
        EventFilter.Error(contains: "failed").Expect(0, () =>
            EventFilter.Info(contains: "moot").ExpectOne(TimeSpan.FromSeconds(10), () => bus.Release.Set()));

        States.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Assert.Equal(1, bus.Probes);
    }

    /// <summary>Holds every FindNet until released: a probe that is slow in sysfs.</summary>
    private sealed class GatedBus(IDeviceBus inner) : IDeviceBus
    {
        private int _probes;
        public ManualResetEventSlim Entered { get; } = new();
        public ManualResetEventSlim Release { get; } = new();
        public int Probes => Volatile.Read(ref _probes);

        public NetInterfaceInfo? FindNet(string interfaceName)
        {
            Interlocked.Increment(ref _probes);
            Entered.Set();
            Release.Wait(TimeSpan.FromSeconds(30));
            return inner.FindNet(interfaceName);
        }

        public string Root => inner.Root;
        public DeviceInventory Scan() => inner.Scan();
        public bool Exists(DeviceId device) => inner.Exists(device);
        public PciDeviceInfo? FindPci(string slot) => inner.FindPci(slot);
        public BusResult BindDriver(string slot, string driver) => inner.BindDriver(slot, driver);
        public BusResult Unbind(string slot) => inner.Unbind(slot);
        public BusResult Remove(string slot) => inner.Remove(slot);
        public BusResult Rescan() => inner.Rescan();
        public BusResult ConfigureNet(string interfaceName, NetConfig config) => inner.ConfigureNet(interfaceName, config);
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
