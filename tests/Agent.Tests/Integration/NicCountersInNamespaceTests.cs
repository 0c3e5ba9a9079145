using Replug.Agent.Load;
using Replug.Agent.Tests.Support;

namespace Replug.Agent.Tests.Integration;

/// <summary>
/// An agent in a network namespace reads its NICs' counters through a sysfs mounted from inside
/// that namespace, as its device bus does: the kernel's class/net shows the mounter's namespace.
/// </summary>
public sealed class NicCountersInNamespaceTests : Akka.TestKit.Xunit2.TestKit
{
    private readonly TestNetworkNamespace? _host, _peer;

    public NicCountersInNamespaceTests()
    {
        if (KernelRequirements.MissingReason() is not null) return;
        _host = new TestNetworkNamespace("ldh");
        _peer = new TestNetworkNamespace("ldp");
    }

    [KernelFact]
    public void A_veths_traffic_is_read_from_the_sysfs_of_its_namespace()
    {
        var host = _host!;
        var peer = _peer!;
        Shell.Run("ip", $"link add ld1 netns {host.Name} type veth peer name ld1p netns {peer.Name}");
        host.Ip("addr add 10.77.0.1/24 dev ld1");
        peer.Ip("addr add 10.77.0.2/24 dev ld1p");
        host.Ip("link set ld1 up");
        peer.Ip("link set ld1p up");
        var counters = new SysfsNicCounters(host.SysfsRoot);
        var before = counters.Read("ld1");
        Assert.NotNull(before);
        Assert.Null(new SysfsNicCounters("/sys").Read("ld1")); // this process's own namespace has no such NIC

        // Ten datagrams from inside the host's namespace (a socket keeps the namespace it was opened
        // in); the peer answers ARP, and each datagram to its closed port with an ICMP error.
        Replug.Agent.Linux.NetworkNamespace.Run(host.Name, () =>
        {
            using var udp = new System.Net.Sockets.UdpClient(System.Net.Sockets.AddressFamily.InterNetwork);
            for (var i = 0; i < 10; i++) udp.Send(new byte[1000], 1000, new System.Net.IPEndPoint(System.Net.IPAddress.Parse("10.77.0.2"), 9));
            return 0;
        });

        AwaitAssert(() =>
        {
            var after = counters.Read("ld1")!.Value;
            Assert.True(after.TxBytes >= before.Value.TxBytes + 10 * 1000, $"tx {before.Value.TxBytes} -> {after.TxBytes}");
            Assert.True(after.RxBytes > before.Value.RxBytes, $"rx {before.Value.RxBytes} -> {after.RxBytes}");
        }, TimeSpan.FromSeconds(5));
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _host?.Dispose();
            _peer?.Dispose();
        }
        base.Dispose(disposing);
    }
}
