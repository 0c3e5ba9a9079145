using System.Collections.Concurrent;
using Replug.Coordinator.Planning;
using Replug.Coordinator.Singleton;
using Replug.Coordinator.Tests.Support;
using Replug.Shared.Devices;
using static Replug.Coordinator.Singleton.CoordinatorQueries;

namespace Replug.Coordinator.Tests.Cluster;

/// <summary>
/// Fencing across a real partition (Akka.Remote's throttler drops every message on the cut
/// links): a port must never be active on two hosts at once.
/// </summary>
[Collection(Api.RealNodes.Name)]
public sealed class FencingClusterTests : ClusterTestBase
{
    private readonly ConcurrentQueue<string> _dataPaths = new();

    /// <summary>An agent with one NIC and, when <paramref name="port"/> is given, a port over it; its data path logs into the shared, ordered log.</summary>
    private Task<(TestNode Node, FakeHost Host)> Agent(string name, TestNode seed, int ifIndex, string nic, string? port, string[] failover) =>
        Agent(name, seed, ifIndex, [nic], port is null ? [] : [FakeHost.Port(port, $"net/{nic}")], failover, _dataPaths);

    [Fact]
    public async Task An_agent_cut_off_from_the_majority_takes_its_port_down_before_the_port_is_attached_elsewhere()
    {
        TestNode.Partitionable = true;
        try
        {
            var c = await Coordinator("c1", null);
            var (a, _) = await Agent("host-a", c, 10, "v1", "p1", []);
            var (b, _) = await Agent("host-b", c, 20, "f1", null, ["net/f1"]);
            var (w, _) = await Agent("witness", c, 30, "w1", null, []);
            await Wait.Until(async () => (await c.Ask<HostsView>(new GetHosts())).Hosts.Count(h => h.Status == HostStatus.Up) == 3, "3 hosts up");
            await Wait.Until(() => _dataPaths.Contains("switch p1 none -> net/v1"), "p1 active on host-a");

            await a.Isolate([c, b, w]);

            await Wait.Until(() => _dataPaths.Contains("switch p1 none -> net/f1"), "p1 attached on host-b", TimeSpan.FromSeconds(60));
            var order = _dataPaths.ToList();
            // The first take-down after p1 carried traffic on host-a (a port starting fenced also releases its members).
            var fenced = order.IndexOf("deactivate p1 net/v1", order.IndexOf("switch p1 none -> net/v1") + 1);
            var attached = order.IndexOf("switch p1 none -> net/f1");
            Assert.True(fenced >= 0, "host-a never took p1 down:\n" + string.Join("\n", order));
            Assert.True(fenced < attached, $"p1 was attached on host-b (#{attached}) before host-a took it down (#{fenced}):\n" + string.Join("\n", order));
        }
        finally
        {
            TestNode.Partitionable = false;
        }
    }

    [Fact]
    public async Task Losing_the_coordinator_node_takes_no_port_down()
    {
        var c1 = await Coordinator("c1", null);
        var c2 = await Coordinator("c2", c1);
        await Agent("host-a", c1, 10, "v1", "p1", []);
        await Agent("witness", c1, 30, "w1", null, []);
        await Wait.Until(() => _dataPaths.Contains("switch p1 none -> net/v1"), "p1 active on host-a");
        var epoch = (await c2.Ask<Readiness>(new GetReadiness())).Epoch;

        await c1.Crash();
        await Wait.Until(async () => (await c2.Ask<Readiness>(new GetReadiness())).Epoch > epoch, "the singleton on c2", TimeSpan.FromSeconds(60));

        var since = _dataPaths.ToList();
        Assert.DoesNotContain(since.Skip(since.IndexOf("switch p1 none -> net/v1") + 1), l => l.StartsWith("deactivate", StringComparison.Ordinal));
        var port = (await c2.Ask<PortsView>(new GetPorts())).Ports.Single(p => p.Spec.Port == new PortId("p1"));
        Assert.Equal(new HostId("host-a"), port.Host);
        Assert.Equal(PortState.Active, port.State);
    }
}
