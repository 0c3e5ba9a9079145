using Akka.Actor;
using Replug.Agent.Devices;
using Replug.Agent.Hosting;
using Replug.Agent.Ports;
using Replug.Agent.Sources;
using Replug.Agent.Tests.Support;
using Replug.Shared.Devices;

namespace Replug.Agent.Tests.Integration;

/// <summary>
/// The whole agent on the real kernel: a fresh network namespace is the host, veths are its
/// NICs, a Linux bridge is the port's data path. The agent hears the kernel's own uevents
/// through its netlink socket and moves the bridge's member itself.
/// </summary>
public sealed class RealKernelFailoverTests : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    private readonly TestNetworkNamespace? _host;
    private NetlinkUeventSource? _source;

    public RealKernelFailoverTests()
    {
        if (KernelRequirements.MissingReason() is null) _host = new TestNetworkNamespace("rk");
    }

    private AgentActors StartAgent(bool revertive)
    {
        var host = _host!;
        host.Ip("link add br0 type bridge");
        host.Ip("link set br0 up");
        host.Ip("link add v1 type veth peer name v1p");
        host.Ip("link add v2 type veth peer name v2p");

        var options = host.AgentWithBridgedPort(["v1", "v2"], revertive);
        var agent = AgentActors.Start(Sys, options, new SysfsDeviceBus(host.SysfsRoot));
        _source = new NetlinkUeventSource(new NetlinkSourceOptions { NetworkNamespace = host.Name });
        _source.Start(agent.ActorUeventSinkFor());
        return agent;
    }

    /// <summary>The bridge a device is enslaved to, read from the namespace's own sysfs (class/net/DEV/master).</summary>
    private string? MasterOf(string device)
    {
        var link = new FileInfo(Path.Combine(_host!.SysfsRoot, "class/net", device, "master"));
        return link.LinkTarget is { } target ? Path.GetFileName(target) : null;
    }

    [KernelFact]
    public void A_port_over_two_veths_switches_to_the_standby_when_the_active_veth_is_deleted_and_back_when_it_returns()
    {
        var agent = StartAgent(revertive: true);
        var port = agent.Ports[new PortId("uplink")];
        AwaitAssert(() => Assert.Equal("br0", MasterOf("v1")), TimeSpan.FromSeconds(10));
        // Should v2 have probed first, it keeps the port until v1 is operationally up (its peer is down here: the wait's bound).
        AwaitAssert(() => Assert.Null(MasterOf("v2")), TimeSpan.FromSeconds(10));

        _host!.Ip("link del v1");
        AwaitAssert(() => Assert.Equal("br0", MasterOf("v2")), TimeSpan.FromSeconds(10));
        AwaitAssert(() => Assert.Equal(DeviceId.Net("v2"), Status(port).Active), TimeSpan.FromSeconds(5));

        _host.Ip("link add v1 type veth peer name v1p");
        AwaitAssert(() => Assert.Equal("br0", MasterOf("v1")), TimeSpan.FromSeconds(10));
        AwaitAssert(() => Assert.Null(MasterOf("v2")), TimeSpan.FromSeconds(10));
        // Restore re-applied the port member's configuration: the re-created veth was brought up.
        AwaitAssert(() => Assert.Contains("UP", _host.Ip("link show v1")), TimeSpan.FromSeconds(5));
    }

    [KernelFact]
    public void Deleting_every_device_escalates_the_port()
    {
        var escalations = CreateTestProbe();
        Sys.EventStream.Subscribe(escalations, typeof(PortEscalated));
        var agent = StartAgent(revertive: true);
        AwaitAssert(() => Assert.Equal("br0", MasterOf("v1")), TimeSpan.FromSeconds(10));
        AwaitAssert(() => Assert.Equal(2, Status(agent.Ports[new PortId("uplink")]).Healthy.Count), TimeSpan.FromSeconds(10));

        _host!.Ip("link del v2");
        _host.Ip("link del v1");
        Assert.Equal(new PortId("uplink"), escalations.ExpectMsg<PortEscalated>(TimeSpan.FromSeconds(10)).Port);
    }

    private static PortStatus Status(IActorRef port) =>
        port.Ask<PortStatus>(new PortProtocol.GetPortStatus(), TimeSpan.FromSeconds(3)).GetAwaiter().GetResult();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _source?.Dispose();
            _host?.Dispose();
        }
        base.Dispose(disposing);
    }
}
