using Akka.Actor;
using Replug.Agent.Ports;
using Replug.Agent.Tests.Support;
using Replug.Shared.Devices;
using Replug.Shared.Uevents;

namespace Replug.Agent.Tests.Actors;

public sealed class FencingTests : AgentActorTestBase
{
    private static readonly DeviceId V1 = DeviceId.Net("v1"), V2 = DeviceId.Net("v2");

    [Fact]
    public void A_fenced_port_takes_its_traffic_down_and_follows_health_without_touching_the_path()
    {
        Sysfs.AddNet("v1", 11).AddNet("v2", 12);
        var watcher = StartWatcher();
        var path = new RecordingDataPath(Steps);
        var port = StartPort(watcher, path, true, V1, V2);
        AwaitAssert(() => Assert.Equal([V1, V2], PortStatusOf(port).Healthy), TimeSpan.FromSeconds(5));
        AwaitAssert(() => Assert.Equal(V1, PortStatusOf(port).Active), TimeSpan.FromSeconds(5));

        port.Tell(new PortProtocol.Fence("test"));
        ExpectMsg<PortProtocol.FenceAck>();
        Assert.True(PortStatusOf(port).Fenced);
        Assert.Equal("deactivate uplink net/v1", path.Log.Last());
        var fencedAt = path.Log.Count;

        UnplugNet("v1");
        watcher.Tell(Events.Net(UeventAction.Remove, "v1", 11));
        AwaitAssert(() => Assert.Equal(V2, PortStatusOf(port).Active), TimeSpan.FromSeconds(5));
        Assert.DoesNotContain(path.Log.Skip(fencedAt), l => l.Contains("-> net/v2"));

        port.Tell(new PortProtocol.Unfence("test"));
        ExpectMsg<PortProtocol.FenceAck>();
        AwaitAssert(() => Assert.Equal("switch uplink none -> net/v2", path.Log.Last()), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void A_port_started_fenced_takes_out_what_a_previous_process_left_and_carries_no_traffic_until_unfenced()
    {
        Sysfs.AddNet("v1", 11);
        var watcher = StartWatcher();
        var path = new RecordingDataPath(Steps);
        var port = Sys.ActorOf(FailSafeGroup.Props(new FailSafePort(new PortId("uplink"), [V1], true), path, watcher,
            TimeSpan.FromSeconds(2), startFenced: true));
        AwaitAssert(() => Assert.Equal(V1, PortStatusOf(port).Active), TimeSpan.FromSeconds(5));
        // A killed predecessor may have left v1 in the bridge: it is released, nothing is put in.
        Assert.Equal(["deactivate uplink net/v1"], path.Log);
        port.Tell(new PortProtocol.Unfence("coordinator confirmed"));
        AwaitAssert(() => Assert.Equal(["deactivate uplink net/v1", "switch uplink none -> net/v1"], path.Log), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void A_stopped_port_takes_its_traffic_down()
    {
        Sysfs.AddNet("v1", 11);
        var watcher = StartWatcher();
        var path = new RecordingDataPath(Steps);
        var port = StartPort(watcher, path, true, V1);
        AwaitAssert(() => Assert.Equal(V1, PortStatusOf(port).Active), TimeSpan.FromSeconds(5));
        Watch(port);
        Sys.Stop(port);
        ExpectTerminated(port);
        Assert.Equal("deactivate uplink net/v1", path.Log.Last());
    }
}
