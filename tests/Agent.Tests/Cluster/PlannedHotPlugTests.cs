using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Replug.Agent.Cluster;
using Replug.Agent.Devices;
using Replug.Agent.Ports;
using Replug.Agent.Tests.Actors;
using Replug.Agent.Tests.Support;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using static Replug.Shared.Protocol.HostProtocol;

namespace Replug.Agent.Tests.Cluster;

/// <summary>
/// The coordinator's planned detach / attach of a device and a port's switch, carried out by the host
/// agent over a real watcher, supervisors and a fail-safe port (a fake sysfs tree, a recording data
/// path), in a one-node cluster with a probe for the coordinator. The data path and the bus log into
/// one queue (<see cref="AgentActorTestBase.Steps"/>), so the order of switches and releases shows.
/// </summary>
public sealed class PlannedHotPlugTests : AgentActorTestBase
{
    private static readonly Config ClusterConfig = ConfigurationFactory.ParseString("""
        akka.actor.provider = cluster
        akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
        akka.loglevel = INFO
        """);

    private const string Slot = "0000:00:05.0";
    private static readonly DeviceId V1 = DeviceId.Net("v1"), V2 = DeviceId.Net("v2"), Function = DeviceId.Pci(Slot);
    private static readonly PortId Uplink = new("uplink");
    private const long Epoch = 5;

    private readonly TestProbe _coordinator;
    private IActorRef _agent = ActorRefs.Nobody;
    private IActorRef _port = ActorRefs.Nobody;
    private IActorRef _watcher = ActorRefs.Nobody;
    private StepPolicy _steps = FastSteps;
    private long _incarnation;

    public PlannedHotPlugTests() : base(ClusterConfig)
    {
        var cluster = Akka.Cluster.Cluster.Get(Sys);
        cluster.Join(cluster.SelfAddress);
        AwaitCondition(() => cluster.SelfMember.Status == Akka.Cluster.MemberStatus.Up, TimeSpan.FromSeconds(10));
        _coordinator = CreateTestProbe();
    }

    /// <summary>
    /// A host with port uplink over <paramref name="members"/> (preferred first), its agent registered
    /// in epoch 5, the port on its preferred member with every member healthy.
    /// </summary>
    private KernelLikeBus StartHost(params DeviceId[] members)
    {
        var bus = new KernelLikeBus(Sysfs, Steps);
        var watcher = _watcher = Sys.ActorOf(DeviceWatcher.Props(bus, new WatcherOptions(new HashSet<string> { Subsystems.Net, Subsystems.Pci },
            new Dictionary<DeviceId, ManagedDevice>(), _steps)));
        _port = StartPort(watcher, new RecordingDataPath(Steps), true, members);
        AwaitAssert(() => Assert.Equal(members, PortStatusOf(_port).Healthy), TimeSpan.FromSeconds(5));
        AwaitAssert(() => Assert.Equal(members[0], PortStatusOf(_port).Active), TimeSpan.FromSeconds(5));

        var settings = HostAgentSettings.For(new HostId("h1"), TimeSpan.FromSeconds(1)) with { ReportInterval = TimeSpan.FromMilliseconds(200) };
        _agent = Sys.ActorOf(HostAgent.Props(settings, watcher, new Dictionary<PortId, IActorRef> { [Uplink] = _port }, _coordinator.Ref, bus));
        var register = _coordinator.FishForMessage<RegisterHost>(_ => true, TimeSpan.FromSeconds(5));
        _incarnation = register.Incarnation;
        _agent.Tell(new HostRegistered(register.Host, Epoch, [Uplink], null, _incarnation), _coordinator.Ref);
        return bus;
    }

    private void TwoVeths() => Sysfs.AddNet("v1", 11, mac: "52:54:00:00:00:01").AddNet("v2", 12, mac: "52:54:00:00:00:02");

    private object Answer(CommandId id) =>
        _coordinator.FishForMessage(m => m is CommandAcknowledged a && a.Id == id || m is CommandRefused r && r.Id == id, TimeSpan.FromSeconds(10));

    private CommandAcknowledged Acknowledged(CommandId id) => Assert.IsType<CommandAcknowledged>(Answer(id));

    private CommandRefused Refused(CommandId id) => Assert.IsType<CommandRefused>(Answer(id));

    private DetachDevice Detach(DeviceId device, long epoch = Epoch) => new(CommandId.New(), epoch, device, "maintenance", _incarnation);

    private AttachDevice Attach(DeviceId device) => new(CommandId.New(), Epoch, device, "maintenance done", _incarnation);

    private int IndexOf(string step)
    {
        var log = Steps.ToList();
        var index = log.IndexOf(step);
        Assert.True(index >= 0, $"'{step}' not in:\n{string.Join("\n", log)}");
        return index;
    }

    // ---- detach ------------------------------------------------------------------------------

    [Fact]
    public void Detaching_a_standby_member_takes_its_link_down_and_is_acknowledged_once_detached()
    {
        TwoVeths();
        StartHost(V1, V2);

        var detach = Detach(V2);
        _agent.Tell(detach, _coordinator.Ref);

        Acknowledged(detach.Id);
        Assert.Equal("0x1002", Sysfs.ReadValue("class/net/v2/flags")); // down before the answer
        AwaitState(V2, DeviceState.Detached);
        Assert.Equal(V1, PortStatusOf(_port).Active);
        Assert.DoesNotContain(Steps, s => s.StartsWith("switch uplink net/v1 ->", StringComparison.Ordinal));
    }

    [Fact]
    public void Detaching_the_active_member_moves_the_port_to_another_member_before_the_link_goes_down()
    {
        TwoVeths();
        StartHost(V1, V2);

        var detach = Detach(V1);
        _agent.Tell(detach, _coordinator.Ref);

        Acknowledged(detach.Id);
        Assert.True(IndexOf("switch uplink net/v1 -> net/v2") < IndexOf("link v1 down"), string.Join("\n", Steps));
        Assert.Equal(V2, PortStatusOf(_port).Active);
    }

    [Fact]
    public void A_detach_that_would_leave_a_port_without_a_healthy_device_is_refused_and_changes_nothing()
    {
        TwoVeths();
        StartHost(V1, V2);
        UnplugNet("v2");
        _watcher.Tell(Events.Net(Replug.Shared.Uevents.UeventAction.Remove, "v2", 12));
        AwaitState(V2, DeviceState.Detached);
        AwaitAssert(() => Assert.Equal([V1], PortStatusOf(_port).Healthy), TimeSpan.FromSeconds(5));

        var detach = Detach(V1);
        _agent.Tell(detach, _coordinator.Ref);

        var refused = Refused(detach.Id);
        Assert.Contains("port uplink", refused.Reason);
        Assert.Contains("without a healthy device", refused.Reason);
        Assert.Equal(V1, PortStatusOf(_port).Active);
        Assert.Equal("0x1003", Sysfs.ReadValue("class/net/v1/flags"));
        Assert.DoesNotContain("link v1 down", Steps);
        // A retry of the same command gets the same answer.
        _agent.Tell(detach, _coordinator.Ref);
        Assert.Equal(refused.Reason, Refused(detach.Id).Reason);
    }

    [Fact]
    public void A_device_already_detached_is_acknowledged_again_and_a_retry_of_a_done_detach_too()
    {
        TwoVeths();
        StartHost(V1, V2);
        var first = Detach(V2);
        _agent.Tell(first, _coordinator.Ref);
        Acknowledged(first.Id);

        var second = Detach(V2);
        _agent.Tell(second, _coordinator.Ref);
        Acknowledged(second.Id);
        _agent.Tell(first, _coordinator.Ref);
        Acknowledged(first.Id);
    }

    [Fact]
    public void A_retry_of_a_detach_still_under_way_is_neither_refused_nor_acknowledged_early()
    {
        TwoVeths();
        _steps = FastSteps with { Timeout = TimeSpan.FromSeconds(30) }; // the held step must not time out
        var bus = StartHost(V1, V2);
        bus.HoldLinkChanges();

        var detach = Detach(V2);
        _agent.Tell(detach, _coordinator.Ref);
        Assert.True(bus.LinkChangeWaiting.Wait(TimeSpan.FromSeconds(10)), "the detach never reached the link");
        _agent.Tell(detach, _coordinator.Ref);
        // Commands are handled in order: this one's answer comes after the retry was handled.
        var marker = new DetachPort(CommandId.New(), Epoch, new PortId("none"), _incarnation);
        _agent.Tell(marker, _coordinator.Ref);
        Assert.Equal(marker.Id, Assert.IsType<CommandAcknowledged>(_coordinator.FishForMessage(m => m is CommandAcknowledged or CommandRefused, TimeSpan.FromSeconds(5))).Id);

        bus.ReleaseLinkChanges();
        Acknowledged(detach.Id);
    }

    [Fact]
    public void A_detach_under_way_that_a_new_coordinator_retries_under_its_epoch_is_answered_in_that_epoch()
    {
        TwoVeths();
        _steps = FastSteps with { Timeout = TimeSpan.FromSeconds(30) };
        var bus = StartHost(V1, V2);
        bus.HoldLinkChanges();

        var detach = Detach(V2);
        _agent.Tell(detach, _coordinator.Ref);
        Assert.True(bus.LinkChangeWaiting.Wait(TimeSpan.FromSeconds(10)), "the detach never reached the link");
        var successor = CreateTestProbe(); // the singleton after a hand-over
        _agent.Tell(detach with { Epoch = Epoch + 1 }, successor.Ref);
        bus.ReleaseLinkChanges();

        var acknowledged = successor.FishForMessage<CommandAcknowledged>(a => a.Id == detach.Id, TimeSpan.FromSeconds(10));
        Assert.Equal(Epoch + 1, acknowledged.Epoch);
    }

    [Fact]
    public void A_detach_of_an_older_epoch_is_refused_and_one_for_another_incarnation_ignored()
    {
        TwoVeths();
        StartHost(V1, V2);
        var old = Detach(V2, epoch: Epoch - 1);
        _agent.Tell(old, _coordinator.Ref);
        Assert.Contains("older", Refused(old.Id).Reason);

        var forPredecessor = new DetachDevice(CommandId.New(), Epoch, V2, "maintenance", _incarnation - 1);
        var forThis = Detach(V2);
        _agent.Tell(forPredecessor, _coordinator.Ref);
        _agent.Tell(forThis, _coordinator.Ref);
        var first = _coordinator.FishForMessage(m => m is CommandAcknowledged or CommandRefused, TimeSpan.FromSeconds(10));
        Assert.Equal(forThis.Id, Assert.IsType<CommandAcknowledged>(first).Id);
        Assert.Equal("0x1002", Sysfs.ReadValue("class/net/v2/flags"));
    }

    [Fact]
    public void A_detach_of_a_device_this_host_does_not_know_is_refused()
    {
        TwoVeths();
        StartHost(V1, V2);
        var detach = Detach(DeviceId.Net("ghost"));
        _agent.Tell(detach, _coordinator.Ref);
        Assert.Contains("not a device this host knows", Refused(detach.Id).Reason);
    }

    // ---- attach ------------------------------------------------------------------------------

    [Fact]
    public void Attaching_a_detached_device_brings_its_link_up_and_is_acknowledged_once_it_is_in_service()
    {
        TwoVeths();
        StartHost(V1, V2);
        var detach = Detach(V1);
        _agent.Tell(detach, _coordinator.Ref);
        Acknowledged(detach.Id);

        var attach = Attach(V1);
        _agent.Tell(attach, _coordinator.Ref);

        Acknowledged(attach.Id);
        Assert.Equal("0x1003", Sysfs.ReadValue("class/net/v1/flags"));
        // The port is revertive: it takes its preferred member back.
        AwaitAssert(() => Assert.Equal(V1, PortStatusOf(_port).Active), TimeSpan.FromSeconds(5));
        var attachAgain = Attach(V1);
        _agent.Tell(attachAgain, _coordinator.Ref);
        Acknowledged(attachAgain.Id); // already in service
    }

    [Fact]
    public void An_attach_whose_restore_fails_is_refused_with_the_reason()
    {
        TwoVeths();
        StartHost(V1, V2);
        var detach = Detach(V1);
        _agent.Tell(detach, _coordinator.Ref);
        Acknowledged(detach.Id);
        UnplugNet("v1"); // gone meanwhile, and no event said so

        var attach = Attach(V1);
        _agent.Tell(attach, _coordinator.Ref);

        Assert.Contains("not in sysfs", Refused(attach.Id).Reason);
        Assert.Equal(V2, PortStatusOf(_port).Active);
    }

    // ---- a PCI function ----------------------------------------------------------------------

    [Fact]
    public void Detaching_a_pci_function_remaps_and_takes_down_its_net_interface_first_then_unbinds_and_removes_it_and_attach_rescans()
    {
        Sysfs.AddPci(Slot, driver: "ixgbe").AddNet("v1", 11, mac: "52:54:00:00:00:01", pciSlot: Slot).AddNet("v2", 12, mac: "52:54:00:00:00:02");
        StartHost(V1, V2);

        var detach = Detach(Function);
        _agent.Tell(detach, _coordinator.Ref);

        Acknowledged(detach.Id);
        var switched = IndexOf("switch uplink net/v1 -> net/v2");
        var down = IndexOf("link v1 down");
        var unbound = IndexOf($"unbind {Slot}");
        var removed = IndexOf($"remove {Slot}");
        Assert.True(switched < down && down < unbound && unbound < removed, string.Join("\n", Steps));
        Assert.Null(new SysfsDeviceBus(Sysfs.Root).FindPci(Slot));

        var attach = Attach(Function);
        _agent.Tell(attach, _coordinator.Ref);
        Acknowledged(attach.Id);
        Assert.True(IndexOf("rescan") > removed);
        Assert.NotNull(new SysfsDeviceBus(Sysfs.Root).FindPci(Slot));
    }

    [Fact]
    public void Detaching_a_pci_function_whose_net_interface_is_a_ports_last_healthy_device_is_refused()
    {
        Sysfs.AddPci(Slot, driver: "ixgbe").AddNet("v1", 11, mac: "52:54:00:00:00:01", pciSlot: Slot);
        StartHost(V1);

        var detach = Detach(Function);
        _agent.Tell(detach, _coordinator.Ref);

        Assert.Contains("port uplink", Refused(detach.Id).Reason);
        Assert.DoesNotContain(Steps, s => s.StartsWith("unbind", StringComparison.Ordinal) || s == "link v1 down");
    }

    // ---- switch ------------------------------------------------------------------------------

    [Fact]
    public void Switching_a_port_to_a_healthy_member_is_acknowledged_once_switched_and_holds_through_the_next_reports()
    {
        TwoVeths();
        StartHost(V1, V2);

        var command = new SwitchPortDevice(CommandId.New(), Epoch, Uplink, V2, _incarnation);
        _agent.Tell(command, _coordinator.Ref);

        Acknowledged(command.Id);
        Assert.Contains("switch uplink net/v1 -> net/v2", Steps);
        // Two periodic reports later the port is still on net/v2.
        for (var i = 0; i < 2; i++)
            Assert.Equal(V2, _coordinator.FishForMessage<PortChanged>(p => p.Port.Port == Uplink, TimeSpan.FromSeconds(5)).Port.Active);
        Assert.Equal(V2, PortStatusOf(_port).Active);

        var again = new SwitchPortDevice(CommandId.New(), Epoch, Uplink, V2, _incarnation);
        _agent.Tell(again, _coordinator.Ref);
        Acknowledged(again.Id); // already there
    }

    [Theory]
    [InlineData("uplink", "v3", "not a member")]
    [InlineData("elsewhere", "v2", "not on this host")]
    public void A_switch_to_a_device_that_is_not_a_healthy_member_or_of_a_port_not_here_is_refused(string port, string device, string reason)
    {
        TwoVeths();
        StartHost(V1, V2);
        var command = new SwitchPortDevice(CommandId.New(), Epoch, new PortId(port), DeviceId.Net(device), _incarnation);
        _agent.Tell(command, _coordinator.Ref);
        Assert.Contains(reason, Refused(command.Id).Reason);
        Assert.Equal(V1, PortStatusOf(_port).Active);
    }

    [Fact]
    public void A_switch_to_a_member_that_is_detached_is_refused()
    {
        TwoVeths();
        StartHost(V1, V2);
        var detach = Detach(V2);
        _agent.Tell(detach, _coordinator.Ref);
        Acknowledged(detach.Id);

        var command = new SwitchPortDevice(CommandId.New(), Epoch, Uplink, V2, _incarnation);
        _agent.Tell(command, _coordinator.Ref);
        Assert.Contains("not a healthy member", Refused(command.Id).Reason);
    }
}
