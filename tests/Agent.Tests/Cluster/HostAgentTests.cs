using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Replug.Agent.Cluster;
using Replug.Agent.Devices;
using Replug.Agent.Tests.Support;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using static Replug.Shared.Protocol.HostProtocol;

namespace Replug.Agent.Tests.Cluster;

/// <summary>The host agent against a probe standing in for the coordinator, in a one-node cluster.</summary>
public sealed class HostAgentTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly Config ClusterConfig = ConfigurationFactory.ParseString("""
        akka.actor.provider = cluster
        akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
        akka.loglevel = INFO
        """);

    private readonly FakeSysfs _sysfs = new();
    private readonly TestProbe _coordinator;
    private int _portsMade;
    private readonly List<object> _received = [];

    public HostAgentTests() : base(ClusterConfig)
    {
        var cluster = Akka.Cluster.Cluster.Get(Sys);
        cluster.Join(cluster.SelfAddress);
        AwaitCondition(() => cluster.SelfMember.Status == Akka.Cluster.MemberStatus.Up, TimeSpan.FromSeconds(10));
        _coordinator = CreateTestProbe();
    }

    private IActorRef StartAgent(long epoch) => StartAgent(epoch, out _);

    private IActorRef StartAgent(long epoch, out RegisterHost register)
    {
        var watcher = Sys.ActorOf(DeviceWatcher.Props(new SysfsDeviceBus(_sysfs.Root), WatcherOptions.Default));
        var settings = HostAgentSettings.For(new HostId("h1"), TimeSpan.FromSeconds(1));
        var agent = Sys.ActorOf(HostAgent.Props(settings, watcher, new Dictionary<PortId, IActorRef>(), _coordinator.Ref,
            new SysfsDeviceBus(_sysfs.Root), (context, spec, _) =>
            {
                _portsMade++;
                return context.ActorOf(Props.Empty, "port-" + spec.Port.Value);
            }));
        // The watcher's first scan may reach the agent first: NIC reports can precede the registration.
        while (true)
        {
            var message = _coordinator.ReceiveOne(TimeSpan.FromSeconds(5)) ?? throw new TimeoutException("no RegisterHost within 5 s");
            if (message is RegisterHost r) { register = r; break; }
            _received.Add(message);
        }
        Assert.Equal(new HostId("h1"), register.Host);
        _coordinator.Reply(new HostRegistered(register.Host, epoch, []));
        return agent;
    }

    [Fact]
    public void A_command_of_an_older_epoch_is_refused()
    {
        var agent = StartAgent(epoch: 5);
        agent.Tell(new AttachPort(CommandId.New(), 4, new PortSpec(new PortId("p1"))), _coordinator.Ref);
        var refused = _coordinator.FishForMessage<CommandRefused>(_ => true, TimeSpan.FromSeconds(5));
        Assert.Equal(5, refused.NewestEpoch);
        Assert.Contains("older", refused.Reason);
        Assert.Equal(0, _portsMade);
    }

    [Fact]
    public void A_retried_command_is_applied_once_and_acknowledged_each_time()
    {
        var agent = StartAgent(epoch: 5);
        var attach = new AttachPort(CommandId.New(), 5, new PortSpec(new PortId("p1")));
        agent.Tell(attach, _coordinator.Ref);
        agent.Tell(attach, _coordinator.Ref);
        Assert.Equal(attach.Id, _coordinator.FishForMessage<CommandAcknowledged>(_ => true, TimeSpan.FromSeconds(5)).Id);
        Assert.Equal(attach.Id, _coordinator.FishForMessage<CommandAcknowledged>(_ => true, TimeSpan.FromSeconds(5)).Id);
        Assert.Equal(1, _portsMade);
    }

    [Fact]
    public void A_command_addressed_to_another_incarnation_is_ignored_and_the_next_one_for_this_incarnation_applied()
    {
        var agent = StartAgent(5, out var register);
        var forPredecessor = new AttachPort(CommandId.New(), 5, new PortSpec(new PortId("p1")), null, register.Incarnation - 1);
        var forThis = new AttachPort(CommandId.New(), 5, new PortSpec(new PortId("p2")), null, register.Incarnation);
        agent.Tell(forPredecessor, _coordinator.Ref);
        agent.Tell(forThis, _coordinator.Ref);

        // Commands are handled in order: the first answer is to the second command.
        var first = _coordinator.FishForMessage(m => m is CommandAcknowledged or CommandRefused, TimeSpan.FromSeconds(5));
        Assert.Equal(forThis.Id, Assert.IsType<CommandAcknowledged>(first).Id);
        Assert.Equal(1, _portsMade);
    }

    [Fact]
    public void A_registration_answer_of_an_older_epoch_does_not_take_a_port_away()
    {
        var agent = StartAgent(epoch: 5);
        agent.Tell(new AttachPort(CommandId.New(), 7, new PortSpec(new PortId("p1"))), _coordinator.Ref);
        _coordinator.FishForMessage<CommandAcknowledged>(_ => true, TimeSpan.FromSeconds(5));

        // A deposed coordinator (epoch 5) answers a registration: it does not know p1 is here.
        agent.Tell(new HostRegistered(new HostId("h1"), 5, []), _coordinator.Ref);
        agent.Tell(new AttachPort(CommandId.New(), 7, new PortSpec(new PortId("p1"))), _coordinator.Ref);
        _coordinator.FishForMessage<CommandAcknowledged>(_ => true, TimeSpan.FromSeconds(5));

        Assert.Equal(1, _portsMade); // p1 was still there: not made again
    }

    [Fact]
    public void A_newer_epoch_becomes_the_bar_for_later_commands()
    {
        var agent = StartAgent(epoch: 5);
        agent.Tell(new AttachPort(CommandId.New(), 7, new PortSpec(new PortId("p1"))), _coordinator.Ref);
        _coordinator.FishForMessage<CommandAcknowledged>(_ => true, TimeSpan.FromSeconds(5));
        agent.Tell(new DetachPort(CommandId.New(), 6, new PortId("p1")), _coordinator.Ref);
        Assert.Equal(7, _coordinator.FishForMessage<CommandRefused>(_ => true, TimeSpan.FromSeconds(5)).NewestEpoch);
    }

    [Fact]
    public void A_bridge_is_not_reported_as_a_NIC_though_it_shows_its_members_MAC()
    {
        _sysfs.AddNet("eth1", ifIndex: 2, mac: "90:e2:ba:00:00:01")
            .AddNet("lo", ifIndex: 1, mac: "00:00:00:00:00:00", type: FakeSysfs.ArphrdLoopback)
            .AddBridge("br0", ifIndex: 3, "eth1");

        StartAgent(epoch: 1, out var register);
        // The watcher's first scan announces every device as added: the agent looks each one up again.
        _received.AddRange(_coordinator.ReceiveWhile(TimeSpan.FromSeconds(1), m => m));

        var nic = Assert.Single(register.Inventory.Nics);
        Assert.Equal(DeviceId.Net("eth1"), nic.Device);
        Assert.Equal(new NicIdentity(NicIdentityKind.PermanentMac, "90:e2:ba:00:00:01"), nic.Identity);
        Assert.All(_received.OfType<NicAdded>(), added => Assert.Equal(DeviceId.Net("eth1"), added.Nic.Device));
    }

    [Fact]
    public void NIC_load_is_reported_with_the_agents_incarnation_only_once_it_is_registered()
    {
        _sysfs.AddNet("eth1", ifIndex: 2, mac: "90:e2:ba:00:00:01").SetCounters("eth1", 0, 0);
        var load = new Replug.Agent.Load.NicLoadSettings(TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(1), 0.05, TimeSpan.FromMinutes(1), 1e9);
        var watcher = Sys.ActorOf(DeviceWatcher.Props(new SysfsDeviceBus(_sysfs.Root), WatcherOptions.Default));
        var settings = HostAgentSettings.For(new HostId("h1"), TimeSpan.FromSeconds(1)) with { Load = load };
        var agent = Sys.ActorOf(HostAgent.Props(settings, watcher, new Dictionary<PortId, IActorRef>(), _coordinator.Ref,
            new SysfsDeviceBus(_sysfs.Root)));
        var register = _coordinator.FishForMessage<RegisterHost>(_ => true, TimeSpan.FromSeconds(5));

        // Unanswered for ten samples: the NIC has a rate, but a coordinator that does not know the host hears nothing of it.
        Assert.DoesNotContain(_coordinator.ReceiveWhile(TimeSpan.FromMilliseconds(500), m => m), m => m is NicLoadReported);

        // Registered: reported at the next sample though the load has not changed (this coordinator may know nothing).
        agent.Tell(new HostRegistered(register.Host, 1, [], null, register.Incarnation), _coordinator.Ref);
        var report = _coordinator.FishForMessage<NicLoadReported>(_ => true, TimeSpan.FromSeconds(5));
        Assert.Equal(new HostId("h1"), report.Host);
        Assert.Equal(register.Incarnation, report.Incarnation);
        var nic = Assert.Single(report.Nics);
        Assert.Equal(DeviceId.Net("eth1"), nic.Device);
        Assert.Equal(1e9, nic.CapacityBps);
    }

    /// <summary>The kernel's side of the lease, recorded: each write's devices and time left.</summary>
    private sealed class RecordingKernelLease : Replug.Agent.Ports.IKernelLease
    {
        public System.Collections.Concurrent.ConcurrentQueue<(string[] Devices, TimeSpan Remaining)> Writes { get; } = new();
        public System.Collections.Concurrent.ConcurrentQueue<string[]> Installs { get; } = new();
        public bool RefuseInstalls { get; init; }
        public string Describe => "recording";
        public Replug.Agent.Ports.KernelLeaseResult Install(IReadOnlyCollection<string> managed)
        {
            Installs.Enqueue([.. managed.Order()]);
            return RefuseInstalls ? Replug.Agent.Ports.KernelLeaseResult.Fail("refused") : Replug.Agent.Ports.KernelLeaseResult.Ok;
        }
        public Replug.Agent.Ports.KernelLeaseResult Lease(IReadOnlyCollection<string> devices, TimeSpan remaining)
        {
            Writes.Enqueue(([.. devices.Order()], remaining));
            return Replug.Agent.Ports.KernelLeaseResult.Ok;
        }
    }

    /// <summary>A port that answers its status with fixed members, as a fail-safe group would, and notes each fence.</summary>
    private sealed class StatusPort : ReceiveActor
    {
        public StatusPort(PortId port, DeviceId member, System.Collections.Concurrent.ConcurrentQueue<string> fences)
        {
            Receive<Replug.Agent.Ports.PortProtocol.GetPortStatus>(_ =>
                Sender.Tell(new Replug.Agent.Ports.PortStatus(port, member, [member], [member], true, false, "test", false)));
            Receive<Replug.Agent.Ports.PortProtocol.Fence>(f =>
            {
                fences.Enqueue($"{port}: {f.Reason}");
                Sender.Tell(new Replug.Agent.Ports.PortProtocol.FenceAck(port, true));
            });
        }
    }

    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _fences = new();

    /// <summary>
    /// An agent whose kernel lease is <paramref name="kernel"/>, fencing f1 from the start, registered
    /// in epoch 5. Its ports run over the NIC they followed here, or f1.
    /// </summary>
    private IActorRef StartAgentWithKernelLease(RecordingKernelLease kernel, out RegisterHost register)
    {
        var watcher = Sys.ActorOf(DeviceWatcher.Props(new SysfsDeviceBus(_sysfs.Root), WatcherOptions.Default));
        var settings = HostAgentSettings.For(new HostId("h1"), TimeSpan.FromSeconds(2)) with { FencedDevices = new HashSet<string> { "f1" } };
        var agent = Sys.ActorOf(HostAgent.Props(settings, watcher, new Dictionary<PortId, IActorRef>(), _coordinator.Ref,
            new SysfsDeviceBus(_sysfs.Root),
            (context, spec, followed) =>
            {
                var member = followed is { Count: > 0 } ? followed[0] : DeviceId.Net("f1");
                return context.ActorOf(Props.Create(() => new StatusPort(spec.Port, member, _fences)), "port-" + spec.Port.Value);
            },
            kernel));
        register = _coordinator.FishForMessage<RegisterHost>(_ => true, TimeSpan.FromSeconds(5));
        _coordinator.Reply(new HostRegistered(register.Host, 5, []));
        return agent;
    }

    [Fact]
    public void The_kernel_lease_follows_the_coordinators_grants_attaches_and_detaches()
    {
        var kernel = new RecordingKernelLease();
        var agent = StartAgentWithKernelLease(kernel, out var register);

        // Registered: the agent asks for the lease at once, and says it enforces it in the kernel.
        var renew = _coordinator.FishForMessage<RenewLease>(_ => true, TimeSpan.FromSeconds(5));
        Assert.True(renew.KernelEnforced);
        agent.Tell(new LeaseGranted(renew.Host, renew.Incarnation, renew.Sequence, 5, TimeSpan.FromSeconds(2), []), _coordinator.Ref);

        var attach = new AttachPort(CommandId.New(), 5, new PortSpec(new PortId("p1")), null, register.Incarnation);
        agent.Tell(attach, _coordinator.Ref);
        AwaitAssert(() => Assert.Contains(kernel.Writes, w => w.Devices.SequenceEqual(["f1"])), TimeSpan.FromSeconds(5));
        var leased = kernel.Writes.First(w => w.Devices.SequenceEqual(["f1"]));
        // Counted from the request, not from the grant's arrival or the write.
        Assert.True(leased.Remaining < TimeSpan.FromSeconds(2), $"{leased.Remaining}");
        Assert.True(leased.Remaining > TimeSpan.Zero);

        var before = kernel.Writes.Count;
        agent.Tell(new DetachPort(CommandId.New(), 5, new PortId("p1"), register.Incarnation), _coordinator.Ref);
        AwaitAssert(() => Assert.Contains(kernel.Writes.Skip(before), w => w.Devices.Length == 0), TimeSpan.FromSeconds(5));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_port_that_followed_its_NIC_here_puts_the_NIC_under_the_fence_or_the_lease_is_not_called_kernel_enforced(bool refuse)
    {
        var kernel = new RecordingKernelLease { RefuseInstalls = refuse };
        var agent = StartAgentWithKernelLease(kernel, out var register);
        Assert.True(_coordinator.FishForMessage<RenewLease>(_ => true, TimeSpan.FromSeconds(5)).KernelEnforced);

        agent.Tell(new AttachPort(CommandId.New(), 5, new PortSpec(new PortId("p1")), [DeviceId.Net("mv2")], register.Incarnation), _coordinator.Ref);
        _coordinator.FishForMessage<CommandAcknowledged>(_ => true, TimeSpan.FromSeconds(5));
        Assert.Contains(kernel.Installs, i => i.SequenceEqual(["f1", "mv2"]));
        // Every renewal after the attach says whether the NIC it runs over is fenced.
        var renew = _coordinator.FishForMessage<RenewLease>(_ => true, TimeSpan.FromSeconds(5));
        Assert.Equal(!refuse, renew.KernelEnforced);
    }

    [Fact]
    public void A_grant_for_another_incarnation_or_an_older_epoch_leases_nothing()
    {
        var kernel = new RecordingKernelLease();
        var agent = StartAgentWithKernelLease(kernel, out var register);
        agent.Tell(new AttachPort(CommandId.New(), 5, new PortSpec(new PortId("p1")), null, register.Incarnation), _coordinator.Ref);
        _coordinator.FishForMessage<CommandAcknowledged>(_ => true, TimeSpan.FromSeconds(5));

        var renew = _coordinator.FishForMessage<RenewLease>(_ => true, TimeSpan.FromSeconds(5));
        // Long leases that must not count: one for a predecessor, one from a deposed coordinator.
        agent.Tell(new LeaseGranted(renew.Host, renew.Incarnation + 1, renew.Sequence, 5, TimeSpan.FromMinutes(1), [new PortId("p1")]));
        agent.Tell(new LeaseGranted(renew.Host, renew.Incarnation, renew.Sequence, 4, TimeSpan.FromMinutes(1), [new PortId("p1")]));
        agent.Tell(new LeaseGranted(renew.Host, renew.Incarnation, renew.Sequence, 5, TimeSpan.FromSeconds(2), [new PortId("p1")]));
        AwaitAssert(() => Assert.Contains(kernel.Writes, w => w.Devices.SequenceEqual(["f1"])), TimeSpan.FromSeconds(5));
        Assert.All(kernel.Writes, w => Assert.True(w.Remaining < TimeSpan.FromSeconds(2), $"leased for {w.Remaining}"));
    }

    [Fact]
    public void Leaving_the_cluster_stops_every_port_in_the_kernel_and_its_bridge_before_answering_and_nothing_forwards_after()
    {
        var kernel = new RecordingKernelLease();
        var agent = StartAgentWithKernelLease(kernel, out var register);
        agent.Tell(new AttachPort(CommandId.New(), 5, new PortSpec(new PortId("p1")), null, register.Incarnation), _coordinator.Ref);
        _coordinator.FishForMessage<CommandAcknowledged>(_ => true, TimeSpan.FromSeconds(5));
        var renew = _coordinator.FishForMessage<RenewLease>(_ => true, TimeSpan.FromSeconds(5));
        agent.Tell(new LeaseGranted(renew.Host, renew.Incarnation, renew.Sequence, 5, TimeSpan.FromSeconds(2), [new PortId("p1")]));
        AwaitAssert(() => Assert.Contains(kernel.Writes, w => w.Devices.SequenceEqual(["f1"])), TimeSpan.FromSeconds(5));

        var shutdown = CreateTestProbe();
        agent.Tell(new HostAgent.StopForwarding("leaving the cluster: test"), shutdown.Ref);
        shutdown.ExpectMsg<Akka.Done>(TimeSpan.FromSeconds(10));
        Assert.Empty(kernel.Writes.Last().Devices);
        Assert.Contains("p1: leaving the cluster: test", _fences);

        // Still a member for a moment: a late grant leases nothing, an attach is refused.
        var written = kernel.Writes.Count;
        var late = _coordinator.FishForMessage<RenewLease>(_ => true, TimeSpan.FromSeconds(5));
        agent.Tell(new LeaseGranted(late.Host, late.Incarnation, late.Sequence, 5, TimeSpan.FromSeconds(2), [new PortId("p1")]));
        agent.Tell(new AttachPort(CommandId.New(), 5, new PortSpec(new PortId("p2")), null, register.Incarnation), _coordinator.Ref);
        var refused = _coordinator.FishForMessage<CommandRefused>(_ => true, TimeSpan.FromSeconds(5));
        Assert.Contains("leaving", refused.Reason);
        Assert.Equal(written, kernel.Writes.Count);
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) _sysfs.Dispose();
    }
}
