using Akka.Actor;
using Replug.Agent.Cluster;
using Replug.Agent.Hosting;
using Replug.Agent.Tests.Actors;
using Replug.Agent.Tests.Support;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using Replug.Shared.Uevents;

namespace Replug.Agent.Tests.Hosting;

/// <summary>
/// The ports an agent makes when the coordinator attaches one here (AgentClusterHosting.FailoverPorts),
/// over a fake sysfs, the real watcher and a recording data path.
/// </summary>
public sealed class FailoverPortsTests : AgentActorTestBase
{
    private static readonly DeviceId M1 = DeviceId.Net("m1"), F1 = DeviceId.Net("f1"), F2 = DeviceId.Net("f2");

    private readonly RecordingDataPath _path;

    public FailoverPortsTests() => _path = new RecordingDataPath(Steps);

    /// <summary>Stands in for the host agent: the factory makes ports in its context, as children.</summary>
    private sealed class PortParent : ReceiveActor
    {
        public sealed record Make(PortSpec Spec, IReadOnlyList<DeviceId>? Devices);
        public sealed record Made(IActorRef? Port);
        public sealed record Detach(IActorRef Port);

        public PortParent(PortFactory factory)
        {
            Receive<Make>(m => Sender.Tell(new Made(factory(Context, m.Spec, m.Devices))));
            Receive<Detach>(d => Context.Stop(d.Port));
        }
    }

    private IActorRef _watcher = ActorRefs.Nobody;

    private (IActorRef Parent, FailoverDevicePool Pool) Start(params string[] failoverDevices)
    {
        var watcher = _watcher = StartWatcher();
        var options = new AgentOptions { Host = "h1", FailoverDevices = [.. failoverDevices] };
        var factory = AgentClusterHosting.FailoverPorts(options, watcher, _ => _path, out var pool);
        return (Sys.ActorOf(Props.Create(() => new PortParent(factory))), pool);
    }

    private static IActorRef? Attach(IActorRef parent, string port, params DeviceId[] followed) =>
        parent.Ask<PortParent.Made>(new PortParent.Make(new PortSpec(new PortId(port)), followed.Length == 0 ? null : followed),
            TimeSpan.FromSeconds(3)).Result.Port;

    [Fact]
    public void A_port_that_followed_its_migrated_NIC_gets_a_free_fail_over_device_as_its_standby()
    {
        Sysfs.AddNet("m1", 11).AddNet("f1", 12).AddNet("f2", 13);
        var (parent, pool) = Start("net/f1", "net/f2");

        var port = Attach(parent, "p1", M1);

        Assert.NotNull(port);
        Assert.Equal([M1, F1], PortStatusOf(port).Members); // the followed NIC is preferred
        AwaitAssert(() => Assert.Equal(M1, PortStatusOf(port).Active), TimeSpan.FromSeconds(5));
        Assert.Equal([F2], pool.Free);
    }

    [Fact]
    public void When_the_followed_NIC_is_lost_the_port_switches_to_its_standby()
    {
        Sysfs.AddNet("m1", 11).AddNet("f1", 12);
        var (parent, _) = Start("net/f1");
        var port = Attach(parent, "p1", M1)!;
        AwaitAssert(() => Assert.Equal([M1, F1], PortStatusOf(port).Healthy), TimeSpan.FromSeconds(5));

        UnplugNet("m1");
        _watcher.Tell(Events.Net(UeventAction.Remove, "m1", 11));

        AwaitAssert(() => Assert.Equal(F1, PortStatusOf(port).Active), TimeSpan.FromSeconds(5));
        Assert.Contains("switch p1 net/m1 -> net/f1", Steps);
    }

    [Fact]
    public void Without_a_free_fail_over_device_a_followed_port_runs_over_its_NIC_alone()
    {
        Sysfs.AddNet("m1", 11).AddNet("f1", 12);
        var (parent, pool) = Start("net/f1");
        Assert.NotNull(Attach(parent, "p0"));

        var port = Attach(parent, "p1", M1);

        Assert.NotNull(port);
        Assert.Equal([M1], PortStatusOf(port).Members);
        Assert.Empty(pool.Free);
    }

    [Fact]
    public void A_port_failed_over_without_a_NIC_takes_the_next_free_fail_over_device_or_is_refused()
    {
        Sysfs.AddNet("f1", 12);
        var (parent, _) = Start("net/f1");

        var first = Attach(parent, "p1");
        var second = Attach(parent, "p2");

        Assert.NotNull(first);
        Assert.Equal([F1], PortStatusOf(first).Members);
        Assert.Null(second);
    }

    [Fact]
    public void A_detached_ports_fail_over_devices_are_free_again_once_its_traffic_is_off_them()
    {
        Sysfs.AddNet("f1", 12);
        var (parent, pool) = Start("net/f1");
        var first = Attach(parent, "p1")!;
        AwaitAssert(() => Assert.Equal(F1, PortStatusOf(first).Active), TimeSpan.FromSeconds(5));
        Assert.Null(Attach(parent, "p2"));

        Watch(first);
        parent.Tell(new PortParent.Detach(first));
        ExpectTerminated(first);

        AwaitAssert(() => Assert.Equal([F1], pool.Free), TimeSpan.FromSeconds(5));
        var second = Attach(parent, "p2");
        Assert.NotNull(second);
        Assert.Equal([F1], PortStatusOf(second).Members);
        AwaitAssert(() => Assert.Equal(F1, PortStatusOf(second).Active), TimeSpan.FromSeconds(5));
        var log = Steps.ToList();
        // The old port took its traffic off f1 before the new one put its own on it.
        var deactivated = log.IndexOf("deactivate p1 net/f1");
        Assert.True(deactivated >= 0 && deactivated < log.IndexOf("switch p2 none -> net/f1"), string.Join("\n", log));
    }
}
