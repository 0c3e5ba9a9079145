using Akka.Actor;
using Akka.TestKit;
using Replug.Agent.Devices;
using Replug.Agent.Ports;
using Replug.Agent.Tests.Support;
using Replug.Shared.Devices;
using Replug.Shared.Uevents;

namespace Replug.Agent.Tests.Actors;

public sealed class FailSafeGroupTests : AgentActorTestBase
{
    private static readonly DeviceId V1 = DeviceId.Net("v1"), V2 = DeviceId.Net("v2");

    private (Akka.Actor.IActorRef Watcher, Akka.Actor.IActorRef Port, RecordingDataPath Path) StartPortOverTwoDevices(bool revertive = true)
    {
        Sysfs.AddNet("v1", 11).AddNet("v2", 12);
        var watcher = StartWatcher();
        var path = new RecordingDataPath(Steps);
        var port = StartPort(watcher, path, revertive, V1, V2);
        AwaitAssert(() => Assert.Equal(V1, PortStatusOf(port).Active), TimeSpan.FromSeconds(5));
        AwaitAssert(() => Assert.Equal([V1, V2], PortStatusOf(port).Healthy), TimeSpan.FromSeconds(5));
        return (watcher, port, path);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void The_port_settles_on_its_preferred_device_whatever_order_they_probe_in(bool revertive)
    {
        var (_, port, path) = StartPortOverTwoDevices(revertive);
        Assert.Equal(V1, PortStatusOf(port).Active);
        Assert.EndsWith("-> net/v1", path.Log.Last());
    }

    [Fact]
    public void Removing_the_active_device_switches_to_the_standby_before_detaching()
    {
        var (watcher, port, _) = StartPortOverTwoDevices();
        UnplugNet("v1");
        watcher.Tell(Events.Net(UeventAction.Remove, "v1", 11));
        AwaitState(V1, DeviceState.Detached);

        var log = Steps.ToList();
        var switched = log.IndexOf("switch uplink net/v1 -> net/v2");
        var detached = log.IndexOf("net/v1 Detached");
        Assert.True(switched >= 0, string.Join("\n", log));
        Assert.True(switched < detached, $"switch at {switched}, detach at {detached}:\n{string.Join("\n", log)}");
        Assert.Equal(V2, PortStatusOf(port).Active);
    }

    [Fact]
    public void A_restored_preferred_device_takes_the_traffic_back_when_revertive()
    {
        var (watcher, port, _) = StartPortOverTwoDevices(revertive: true);
        UnplugNet("v1");
        watcher.Tell(Events.Net(UeventAction.Remove, "v1", 11));
        AwaitState(V1, DeviceState.Detached);

        ReplugNet("v1", 21);
        watcher.Tell(Events.Net(UeventAction.Add, "v1", 21));
        AwaitState(V1, DeviceState.Active);
        AwaitAssert(() => Assert.Equal(V1, PortStatusOf(port).Active), TimeSpan.FromSeconds(5));
        Assert.Contains("switch uplink net/v2 -> net/v1", Steps);
        // Restore re-applied the configuration of a port member: the link was brought up.
        Assert.Equal("0x1003", Sysfs.ReadValue("class/net/v1/flags"));
    }

    [Fact]
    public void A_non_revertive_port_stays_on_the_standby_when_the_preferred_device_returns()
    {
        var (watcher, port, _) = StartPortOverTwoDevices(revertive: false);
        UnplugNet("v1");
        watcher.Tell(Events.Net(UeventAction.Remove, "v1", 11));
        AwaitState(V1, DeviceState.Detached);
        ReplugNet("v1", 21);
        watcher.Tell(Events.Net(UeventAction.Add, "v1", 21));
        AwaitState(V1, DeviceState.Active);
        AwaitAssert(() => Assert.Equal([V1, V2], PortStatusOf(port).Healthy), TimeSpan.FromSeconds(5));
        Assert.Equal(V2, PortStatusOf(port).Active);
    }

    [Fact]
    public void Losing_every_device_escalates_and_a_return_recovers()
    {
        var escalations = CreateTestProbe();
        Sys.EventStream.Subscribe(escalations, typeof(PortEscalated));
        Sys.EventStream.Subscribe(escalations, typeof(PortRecovered));
        var (watcher, port, _) = StartPortOverTwoDevices();

        UnplugNet("v2");
        watcher.Tell(Events.Net(UeventAction.Remove, "v2", 12));
        AwaitState(V2, DeviceState.Detached);
        UnplugNet("v1");
        watcher.Tell(Events.Net(UeventAction.Remove, "v1", 11));

        var escalated = escalations.ExpectMsg<PortEscalated>(TimeSpan.FromSeconds(5));
        Assert.Equal(new PortId("uplink"), escalated.Port);
        Assert.Contains("no healthy device", escalated.Reason);
        Assert.Contains("deactivate uplink net/v1", Steps);
        Assert.True(PortStatusOf(port).Escalated);

        ReplugNet("v2", 22);
        watcher.Tell(Events.Net(UeventAction.Add, "v2", 22));
        Assert.Equal(V2, escalations.ExpectMsg<PortRecovered>(TimeSpan.FromSeconds(5)).Active);
        Assert.False(PortStatusOf(port).Escalated);
    }

    [Fact]
    public void A_pci_error_on_the_backing_function_switches_before_any_removal()
    {
        Sysfs.AddPci("0000:00:04.0").AddNet("v1", 11, pciSlot: "0000:00:04.0").AddNet("v2", 12);
        var watcher = StartWatcher();
        var port = StartPort(watcher, new RecordingDataPath(Steps), true, V1, V2);
        AwaitAssert(() => Assert.Equal([V1, V2], PortStatusOf(port).Healthy), TimeSpan.FromSeconds(5));

        watcher.Tell(Events.Pci(UeventAction.Change, "0000:00:04.0", new("ERROR_EVENT", "BEGIN_RECOVERY"), new("DEVICE_ONLINE", "0")));
        AwaitAssert(() => Assert.Equal(V2, PortStatusOf(port).Active), TimeSpan.FromSeconds(5));

        watcher.Tell(Events.Pci(UeventAction.Change, "0000:00:04.0", new("ERROR_EVENT", "SUCCESSFUL_RECOVERY"), new("DEVICE_ONLINE", "1")));
        AwaitAssert(() => Assert.Equal(V1, PortStatusOf(port).Active), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void A_switch_on_request_moves_the_traffic_and_is_answered_once_the_data_path_has_it()
    {
        var (_, port, _) = StartPortOverTwoDevices();

        port.Tell(new PortProtocol.SwitchTo(V2, "load balancing"));

        Assert.Equal(new PortProtocol.SwitchToDone(new PortId("uplink"), V2, null), ExpectMsg<PortProtocol.SwitchToDone>());
        Assert.Contains("switch uplink net/v1 -> net/v2", Steps);
        Assert.Equal(V2, PortStatusOf(port).Active);
    }

    [Fact]
    public void A_switch_on_request_to_a_device_that_is_not_a_healthy_member_is_answered_with_why()
    {
        var (watcher, port, _) = StartPortOverTwoDevices();
        UnplugNet("v2");
        watcher.Tell(Events.Net(UeventAction.Remove, "v2", 12));
        AwaitState(V2, DeviceState.Detached);

        port.Tell(new PortProtocol.SwitchTo(V2, "load balancing"));

        Assert.Contains("not a healthy member", ExpectMsg<PortProtocol.SwitchToDone>().Error);
        Assert.Equal(V1, PortStatusOf(port).Active);
    }

    [Fact]
    public void A_switch_the_data_path_refuses_on_request_is_answered_as_failed()
    {
        var (_, port, path) = StartPortOverTwoDevices();
        path.FailSwitchesTo(V2);

        port.Tell(new PortProtocol.SwitchTo(V2, "load balancing"));

        Assert.Contains("did not take net/v2", ExpectMsg<PortProtocol.SwitchToDone>().Error);
        Assert.Equal(V1, PortStatusOf(port).Active);
    }

    [Fact]
    public void A_switch_the_data_path_refuses_moves_on_to_the_next_device()
    {
        Sysfs.AddNet("v1", 11).AddNet("v2", 12).AddNet("v3", 13);
        var watcher = StartWatcher();
        var path = new RecordingDataPath(Steps);
        var failures = CreateTestProbe();
        Sys.EventStream.Subscribe(failures, typeof(PortSwitchFailed));
        var v3 = DeviceId.Net("v3");
        var port = StartPort(watcher, path, true, V1, V2, v3);
        AwaitAssert(() => Assert.Equal(3, PortStatusOf(port).Healthy.Count), TimeSpan.FromSeconds(5));
        AwaitAssert(() => Assert.Equal(V1, PortStatusOf(port).Active), TimeSpan.FromSeconds(5));
        path.FailSwitchesTo(V2);

        UnplugNet("v1");
        watcher.Tell(Events.Net(UeventAction.Remove, "v1", 11));
        Assert.Equal(V2, failures.ExpectMsg<PortSwitchFailed>(TimeSpan.FromSeconds(5)).To);
        AwaitAssert(() => Assert.Equal(v3, PortStatusOf(port).Active), TimeSpan.FromSeconds(5));
    }
}
