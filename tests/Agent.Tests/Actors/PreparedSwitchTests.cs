using Akka.Actor;
using Replug.Agent.Devices;
using Replug.Agent.Ports;
using Replug.Agent.Sources;
using Replug.Agent.Tests.Support;
using Replug.Shared.Devices;
using Replug.Shared.Uevents;
using static Replug.Agent.Devices.DeviceProtocol;

namespace Replug.Agent.Tests.Actors;

/// <summary>
/// The fast path: a port prepares the switch for its active device's loss, the uevent source's
/// thread carries it out, and the port (which owns the decision) absorbs the outcome.
/// </summary>
public sealed class PreparedSwitchTests : AgentActorTestBase
{
    private static readonly DeviceId V1 = DeviceId.Net("v1"), V2 = DeviceId.Net("v2"), V3 = DeviceId.Net("v3");
    private readonly PreparedSwitches _prepared = new();

    private IActorRef StartPreparedPort(IActorRef watcher, IDataPath path, params DeviceId[] members) =>
        Sys.ActorOf(FailSafeGroup.Props(new FailSafePort(new PortId("uplink"), members, revertive: true), path, watcher,
            TimeSpan.FromSeconds(2), prepared: _prepared));

    /// <summary>A port over v1 (active) and v2 (standby) on the watcher, with the switch for v1's loss prepared.</summary>
    private (IActorRef Watcher, IActorRef Port, RecordingDataPath Path) StartPortOverTwoDevices()
    {
        Sysfs.AddNet("v1", 11).AddNet("v2", 12);
        var watcher = StartWatcher();
        var path = new RecordingDataPath(Steps);
        var port = StartPreparedPort(watcher, path, V1, V2);
        AwaitAssert(() => Assert.Equal([V1, V2], PortStatusOf(port).Healthy), TimeSpan.FromSeconds(5));
        AwaitAssert(() => Assert.Equal(1, _prepared.Armed), TimeSpan.FromSeconds(5));
        return (watcher, port, path);
    }

    private static int Count(IEnumerable<string> log, string line) => log.Count(l => l == line);

    [Fact]
    public void The_removal_of_the_active_device_is_switched_on_the_source_thread_before_the_actors_hear_of_it()
    {
        var (watcher, port, path) = StartPortOverTwoDevices();
        var switched = CreateTestProbe();
        Sys.EventStream.Subscribe(switched, typeof(PortSwitched));
        var sink = new ActorUeventSink(watcher, prepared: _prepared);
        UnplugNet("v1");

        sink.OnEvent(Events.Net(UeventAction.Remove, "v1", 11));

        // Done when OnEvent returned: on this thread, not in an actor.
        Assert.Equal("switch uplink net/v1 -> net/v2", path.Log.Last());
        Assert.Equal(1, _prepared.Fired);
        var ev = switched.ExpectMsg<PortSwitched>(TimeSpan.FromSeconds(5));
        Assert.True(ev.Prepared);
        Assert.Equal((V1, V2), (ev.From, ev.To));
        // The actors still see the removal: the device is detached after its remap, and the remap switched nothing again.
        AwaitState(V1, DeviceState.Detached);
        Assert.Equal(V2, PortStatusOf(port).Active);
        Assert.Equal(1, Count(path.Log, "switch uplink net/v1 -> net/v2"));
        switched.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        // v2 alone is left: no standby, nothing prepared.
        Assert.Equal(0, _prepared.Armed);
    }

    [Fact]
    public void A_port_prepares_again_after_each_change_so_the_return_and_the_next_loss_take_the_fast_path_too()
    {
        var (watcher, port, path) = StartPortOverTwoDevices();
        var sink = new ActorUeventSink(watcher, prepared: _prepared);
        UnplugNet("v1");
        sink.OnEvent(Events.Net(UeventAction.Remove, "v1", 11));
        AwaitState(V1, DeviceState.Detached);

        ReplugNet("v1", 21);
        sink.OnEvent(Events.Net(UeventAction.Add, "v1", 21));
        AwaitState(V1, DeviceState.Active);
        AwaitAssert(() => Assert.Equal(V1, PortStatusOf(port).Active), TimeSpan.FromSeconds(5));
        AwaitAssert(() => Assert.Equal(1, _prepared.Armed), TimeSpan.FromSeconds(5));

        UnplugNet("v1");
        sink.OnEvent(Events.Net(UeventAction.Remove, "v1", 21));
        Assert.Equal("switch uplink net/v1 -> net/v2", path.Log.Last());
        Assert.Equal(2, _prepared.Fired);
        AwaitState(V1, DeviceState.Detached);
        Assert.Equal(V2, PortStatusOf(port).Active);
    }

    [Fact]
    public void A_port_without_a_healthy_standby_prepares_nothing_and_its_loss_is_escalated_by_the_actor()
    {
        Sysfs.AddNet("v1", 11);
        var watcher = StartWatcher();
        var path = new RecordingDataPath(Steps);
        var port = StartPreparedPort(watcher, path, V1, V2);
        AwaitAssert(() => Assert.Equal(V1, PortStatusOf(port).Active), TimeSpan.FromSeconds(5));
        var escalated = CreateTestProbe();
        Sys.EventStream.Subscribe(escalated, typeof(PortEscalated));
        Assert.Equal(0, _prepared.Armed);

        UnplugNet("v1");
        new ActorUeventSink(watcher, prepared: _prepared).OnEvent(Events.Net(UeventAction.Remove, "v1", 11));

        Assert.Equal(0, _prepared.Fired);
        escalated.ExpectMsg<PortEscalated>(TimeSpan.FromSeconds(5));
        Assert.Contains("deactivate uplink net/v1", path.Log);
        Assert.Null(PortStatusOf(port).Active);
    }

    [Fact]
    public void A_prepared_switch_that_fails_is_the_ports_failure_and_the_port_picks_the_next_standby()
    {
        Sysfs.AddNet("v1", 11).AddNet("v2", 12).AddNet("v3", 13);
        var watcher = StartWatcher();
        var path = new RecordingDataPath(Steps);
        var port = StartPreparedPort(watcher, path, V1, V2, V3);
        AwaitAssert(() => Assert.Equal([V1, V2, V3], PortStatusOf(port).Healthy), TimeSpan.FromSeconds(5));
        AwaitAssert(() => Assert.Equal(1, _prepared.Armed), TimeSpan.FromSeconds(5));
        path.FailSwitchesTo(V2);
        var failed = CreateTestProbe();
        Sys.EventStream.Subscribe(failed, typeof(PortSwitchFailed));

        UnplugNet("v1");
        new ActorUeventSink(watcher, prepared: _prepared).OnEvent(Events.Net(UeventAction.Remove, "v1", 11));

        Assert.Equal("switch uplink net/v1 -> net/v2 (failed)", path.Log.Last());
        Assert.Equal(V2, failed.ExpectMsg<PortSwitchFailed>(TimeSpan.FromSeconds(5)).To);
        AwaitAssert(() => Assert.Equal(V3, PortStatusOf(port).Active), TimeSpan.FromSeconds(5));
        Assert.Contains("switch uplink net/v2 -> net/v3", path.Log);
        AwaitState(V1, DeviceState.Detached);
        Assert.Equal(V3, PortStatusOf(port).Active);
    }

    [Fact]
    public async Task A_fenced_port_withdraws_its_prepared_switch_and_a_loss_then_puts_nothing_in_the_path()
    {
        var (watcher, port, path) = StartPortOverTwoDevices();
        await port.Ask<PortProtocol.FenceAck>(new PortProtocol.Fence("test"), TimeSpan.FromSeconds(3));
        Assert.Equal(0, _prepared.Armed);
        var before = path.Log.Count;

        UnplugNet("v1");
        new ActorUeventSink(watcher, prepared: _prepared).OnEvent(Events.Net(UeventAction.Remove, "v1", 11));

        Assert.Equal(0, _prepared.Fired);
        AwaitState(V1, DeviceState.Detached);
        Assert.DoesNotContain(path.Log.Skip(before), l => l.StartsWith("switch", StringComparison.Ordinal));
        await port.Ask<PortProtocol.FenceAck>(new PortProtocol.Unfence("test"), TimeSpan.FromSeconds(3));
        AwaitAssert(() => Assert.Equal("switch uplink none -> net/v2", path.Log.Last()), TimeSpan.FromSeconds(5));
    }

    /// <summary>
    /// The race the design is about: the source fires while the port handles a change of its own
    /// (an operator's switch). Whichever wins, the path is one consistent chain of switches (each
    /// from where the previous one left the traffic) and the port's view is where the path is.
    /// Seeded: a failing seed replays its schedule.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task A_loss_fired_while_the_port_handles_its_own_switch_leaves_one_consistent_path(int seed)
    {
        var random = new Random(seed);
        for (var round = 0; round < 40; round++)
        {
            var path = new RecordingDataPath();
            var prepared = new PreparedSwitches();
            var port = Sys.ActorOf(FailSafeGroup.Props(new FailSafePort(new PortId("uplink"), [V1, V2, V3], revertive: true), path,
                CreateTestProbe().Ref, TimeSpan.FromSeconds(2), prepared: prepared));
            foreach (var member in new[] { V1, V2, V3 }) port.Tell(new MemberHealthy(member));
            AwaitAssert(() => Assert.Equal(1, prepared.Armed), TimeSpan.FromSeconds(5));

            var target = random.Next(2) == 0 ? V2 : V3;
            var spin = random.Next(0, 20_000);
            var fire = Task.Run(() =>
            {
                Thread.SpinWait(spin);
                return prepared.TryFire(Events.Net(UeventAction.Remove, "v1", 11));
            });
            var answer = port.Ask<PortProtocol.SwitchToDone>(new PortProtocol.SwitchTo(target, "operator"), TimeSpan.FromSeconds(5));
            await fire;
            await answer;
            // The supervisor's remap request follows the removal, as it does after the source's report.
            await port.Ask<RemapCompleted>(new MemberUnhealthy(V1, "removed", 1), TimeSpan.FromSeconds(5));

            var status = PortStatusOf(port);
            var switches = path.Log.Where(l => l.StartsWith("switch", StringComparison.Ordinal)).ToList();
            var where = "none";
            foreach (var line in switches)
            {
                var parts = line.Split(' ');
                Assert.True(parts[2] == where, $"seed {seed} round {round}: '{line}' after the path was on {where}:\n{string.Join("\n", path.Log)}");
                where = parts[4];
            }
            Assert.Equal(where, status.Active?.ToString());
            Assert.NotEqual(V1, status.Active);
            Sys.Stop(port);
        }
    }
}
