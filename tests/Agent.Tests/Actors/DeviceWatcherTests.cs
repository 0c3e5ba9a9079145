using Akka.Actor;
using Replug.Agent.Devices;
using Replug.Shared.Devices;
using Replug.Shared.Uevents;
using static Replug.Agent.Devices.DeviceProtocol;

namespace Replug.Agent.Tests.Actors;

public sealed class DeviceWatcherTests : AgentActorTestBase
{
    [Fact]
    public void Devices_present_at_start_are_found_by_the_coldplug_scan_and_become_active()
    {
        Sysfs.AddPci("0000:00:04.0").AddNet("eth1", 3, pciSlot: "0000:00:04.0");
        StartWatcher();
        AwaitState(DeviceId.Net("eth1"), DeviceState.Active);
        AwaitState(DeviceId.Pci("0000:00:04.0"), DeviceState.Active);
    }

    [Fact]
    public void An_add_uevent_creates_a_supervisor_that_probes_sysfs_and_activates_the_device()
    {
        var watcher = StartWatcher();
        Sysfs.AddNet("v1", 7);
        watcher.Tell(Events.Net(UeventAction.Add, "v1", 7));
        AwaitState(DeviceId.Net("v1"), DeviceState.Active);
        Assert.Equal(1, StatsOf(watcher).Devices);
    }

    [Fact]
    public void Duplicate_and_out_of_order_seqnums_are_dropped()
    {
        var watcher = StartWatcher();
        var probe = CreateTestProbe();
        watcher.Tell(new Subscribe(probe.Ref, DeviceEventFilter.All), probe.Ref);
        probe.ExpectMsg<SubscriptionAck>();

        watcher.Tell(Events.WithSeq(UeventAction.Change, "/devices/virtual/net/v1", "net", 50));
        watcher.Tell(Events.WithSeq(UeventAction.Change, "/devices/virtual/net/v1", "net", 50));
        watcher.Tell(Events.WithSeq(UeventAction.Change, "/devices/virtual/net/v1", "net", 49));
        watcher.Tell(Events.WithSeq(UeventAction.Change, "/devices/virtual/net/v1", "net", 52));

        Assert.Equal(50UL, probe.ExpectMsg<DeviceEvent>().Uevent.SeqNum);
        Assert.Equal(52UL, probe.ExpectMsg<DeviceEvent>().Uevent.SeqNum);
        probe.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        var stats = StatsOf(watcher);
        Assert.Equal(2, stats.Duplicates);
        Assert.Equal(52UL, stats.LastSeqNum);
    }

    [Fact]
    public void Replayed_events_are_all_taken_whatever_their_seqnums()
    {
        // A capture from another machine, or of another boot: its numbers say nothing about this kernel's.
        var watcher = StartWatcher();
        var probe = CreateTestProbe();
        watcher.Tell(new Subscribe(probe.Ref, DeviceEventFilter.All), probe.Ref);
        probe.ExpectMsg<SubscriptionAck>();
        watcher.Tell(Events.WithSeq(UeventAction.Change, "/devices/virtual/net/v1", "net", 50));

        foreach (var seq in new ulong[] { 50, 49, 7 })
            watcher.Tell(Uevent.Create(UeventAction.Change, "/devices/virtual/net/v1", "net", seq, null, UeventOrigin.Replay));

        Assert.Equal([50UL, 50UL, 49UL, 7UL], Enumerable.Range(0, 4).Select(_ => probe.ExpectMsg<DeviceEvent>().Uevent.SeqNum));
        Assert.Equal(0, StatsOf(watcher).Duplicates);
    }

    [Fact]
    public void Each_queue_of_every_net_device_has_its_own_supervisor()
    {
        var watcher = StartWatcher(null, Subsystems.Net, "queues");
        var seq = Events.LastSeqNum;
        foreach (var nic in new[] { "v1", "v2", "v3" })
            watcher.Tell(Events.WithSeq(UeventAction.Add, $"/devices/virtual/net/{nic}/queues/rx-0", "queues", ++seq));

        foreach (var nic in new[] { "v1", "v2", "v3" })
            AwaitState(new DeviceId("queues", $"devices/virtual/net/{nic}/queues/rx-0"), DeviceState.Active);
        Assert.Equal(3, StatsOf(watcher).Devices);
    }

    [Fact]
    public void Events_of_other_subsystems_are_filtered_out()
    {
        var watcher = StartWatcher(null, Subsystems.Net);
        var probe = CreateTestProbe();
        watcher.Tell(new Subscribe(probe.Ref, DeviceEventFilter.All), probe.Ref);
        probe.ExpectMsg<SubscriptionAck>();
        watcher.Tell(Events.Pci(UeventAction.Add, "0000:00:09.0"));
        probe.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Assert.Equal(1, StatsOf(watcher).Filtered);
    }

    [Fact]
    public void Subscribers_get_only_the_device_or_subsystem_they_asked_for_until_they_unsubscribe()
    {
        var watcher = StartWatcher();
        var one = CreateTestProbe();
        var net = CreateTestProbe();
        watcher.Tell(new Subscribe(one.Ref, DeviceEventFilter.ForDevice(DeviceId.Net("v1"))), one.Ref);
        one.ExpectMsg<SubscriptionAck>();
        watcher.Tell(new Subscribe(net.Ref, DeviceEventFilter.ForSubsystem(Subsystems.Net)), net.Ref);
        net.ExpectMsg<SubscriptionAck>();

        watcher.Tell(Events.Net(UeventAction.Change, "v2", 8));
        watcher.Tell(Events.Net(UeventAction.Change, "v1", 7));
        watcher.Tell(Events.Pci(UeventAction.Change, "0000:00:09.0"));

        Assert.Equal(DeviceId.Net("v1"), one.ExpectMsg<DeviceEvent>().Device);
        Assert.Equal(DeviceId.Net("v2"), net.ExpectMsg<DeviceEvent>().Device);
        Assert.Equal(DeviceId.Net("v1"), net.ExpectMsg<DeviceEvent>().Device);
        one.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        net.ExpectNoMsg(TimeSpan.FromMilliseconds(100));

        watcher.Tell(new Unsubscribe(one.Ref));
        watcher.Tell(Events.Net(UeventAction.Change, "v1", 7));
        net.ExpectMsg<DeviceEvent>();
        one.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void A_dead_subscriber_is_removed()
    {
        var watcher = StartWatcher();
        var probe = CreateTestProbe();
        watcher.Tell(new Subscribe(probe.Ref, DeviceEventFilter.All), probe.Ref);
        probe.ExpectMsg<SubscriptionAck>();
        Assert.Equal(1, StatsOf(watcher).Subscribers);
        Sys.Stop(probe.Ref);
        AwaitAssert(() => Assert.Equal(0, StatsOf(watcher).Subscribers), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void After_an_overflow_a_rescan_synthesises_what_was_missed()
    {
        Sysfs.AddNet("kept", 3).AddNet("lost", 4).AddNet("replaced", 5);
        var watcher = StartWatcher();
        AwaitState(DeviceId.Net("replaced"), DeviceState.Active);
        var probe = CreateTestProbe();
        watcher.Tell(new Subscribe(probe.Ref, DeviceEventFilter.All), probe.Ref);
        probe.ExpectMsg<SubscriptionAck>();

        // While the kernel's messages were being dropped: one device left, one came, one was re-created.
        UnplugNet("lost");
        Sysfs.AddNet("new", 9);
        UnplugNet("replaced");
        Sysfs.AddNet("replaced", 10);
        watcher.Tell(new SourceOverflowed());

        // A subscriber to everything also hears state changes (the re-created device being probed):
        // collect the device events among them.
        var events = new HashSet<string>();
        while (events.Count < 4)
        {
            var e = probe.FishForMessage<DeviceEvent>(_ => true, TimeSpan.FromSeconds(3));
            events.Add($"{e.Uevent.Action.ToKernelString()} {e.Device.Name}");
        }
        Assert.Equal(["remove lost", "remove replaced", "add replaced", "add new"], events);
        AwaitState(DeviceId.Net("new"), DeviceState.Active);
        var stats = StatsOf(watcher);
        Assert.Equal(1, stats.Overflows);
        Assert.Equal(2, stats.Resyncs);
    }

    [Fact]
    public void A_rename_is_the_old_name_leaving_and_the_new_one_arriving()
    {
        Sysfs.AddNet("old0", 3);
        var watcher = StartWatcher(new Dictionary<DeviceId, ManagedDevice> { [DeviceId.Net("old0")] = new() });
        AwaitState(DeviceId.Net("old0"), DeviceState.Active);
        UnplugNet("old0");
        Sysfs.AddNet("new0", 3);
        watcher.Tell(Uevent.Create(UeventAction.Move, "/devices/virtual/net/new0", "net", Events.LastSeqNum + 1,
            [new("DEVPATH_OLD", "/devices/virtual/net/old0"), new("INTERFACE", "new0"), new("IFINDEX", "3")], UeventOrigin.Kernel));
        AwaitState(DeviceId.Net("old0"), DeviceState.Detached);
        AwaitState(DeviceId.Net("new0"), DeviceState.Active);
    }

    [Fact]
    public void Supervisors_of_unmanaged_devices_that_left_are_stopped()
    {
        var watcher = StartWatcher();
        Sysfs.AddNet("tap7", 7);
        watcher.Tell(Events.Net(UeventAction.Add, "tap7", 7));
        AwaitState(DeviceId.Net("tap7"), DeviceState.Active);
        UnplugNet("tap7");
        watcher.Tell(Events.Net(UeventAction.Remove, "tap7", 7));
        AwaitState(DeviceId.Net("tap7"), DeviceState.Detached);
        AwaitAssert(() => Assert.Equal(0, StatsOf(watcher).Devices), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void Once_many_devices_have_left_and_things_are_quiet_the_heap_is_collected_once()
    {
        var watcher = Sys.ActorOf(DeviceWatcher.Props(new SysfsDeviceBus(Sysfs.Root), new WatcherOptions(
            new HashSet<string> { Subsystems.Net }, new Dictionary<DeviceId, ManagedDevice>(), FastSteps,
            HeapTrimMinChange: 3, HeapTrimQuiet: TimeSpan.FromMilliseconds(300))));
        var taps = Enumerable.Range(1, 3).Select(i => $"tap{i}").ToList();
        // Three came: a large change too (a start-up scan's garbage goes back as well).
        EventFilter.Info(contains: "Heap collected").ExpectOne(TimeSpan.FromSeconds(10), () =>
        {
            foreach (var (tap, i) in taps.Select((t, i) => (t, i + 10)))
            {
                Sysfs.AddNet(tap, i);
                watcher.Tell(Events.Net(UeventAction.Add, tap, i));
            }
            foreach (var tap in taps) AwaitState(DeviceId.Net(tap), DeviceState.Active);
        });

        EventFilter.Info(contains: "Heap collected after a large change of devices (now 0)").ExpectOne(TimeSpan.FromSeconds(10), () =>
        {
            foreach (var (tap, i) in taps.Select((t, i) => (t, i + 10)))
            {
                UnplugNet(tap);
                watcher.Tell(Events.Net(UeventAction.Remove, tap, i));
            }
            foreach (var tap in taps) AwaitState(DeviceId.Net(tap), DeviceState.Detached);
        });
        // One collection per large change, not one per device.
        EventFilter.Info(contains: "Heap collected").Expect(0, TimeSpan.FromSeconds(1), () => { });
    }

    [Fact]
    public void A_drain_for_an_unknown_device_is_answered_as_such()
    {
        var watcher = StartWatcher();
        watcher.Tell(new DrainDevice(DeviceId.Net("nope"), "test"));
        Assert.Equal(DeviceId.Net("nope"), ExpectMsg<UnknownDevice>().Device);
    }
}
