using Replug.Coordinator.Planning;
using Replug.Coordinator.Singleton;
using Replug.Coordinator.Tests.Support;
using Replug.Shared.Devices;
using static Replug.Coordinator.Singleton.CoordinatorQueries;

namespace Replug.Coordinator.Tests.Cluster;

/// <summary>Clusters of ActorSystems in this process over real TCP remoting, with real SQLite files.</summary>
public sealed class FailoverClusterTests : IAsyncLifetime
{
    private readonly TempDirectory _data = new();
    private readonly List<TestNode> _nodes = [];
    private readonly List<FakeHost> _hosts = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var node in Enumerable.Reverse(_nodes)) await node.DisposeAsync();
        foreach (var host in _hosts) host.Dispose();
        _data.Dispose();
    }

    private async Task<TestNode> Coordinator(string name, TestNode? seed)
    {
        var node = await TestNode.StartCoordinator(name, TestNode.Coordinator(_data.Path));
        _nodes.Add(node);
        await node.Join(seed);
        return node;
    }

    private async Task<(TestNode Node, FakeHost Host)> Agent(string name, TestNode seed, int ifIndex, string[] nics,
        AgentOptionsPorts ports, string[] failoverDevices)
    {
        var host = new FakeHost(name, ifIndex, nics);
        _hosts.Add(host);
        var node = await TestNode.StartAgent(name, host.Options(ports.Ports, failoverDevices), host.Bus, _ => host.Path);
        _nodes.Add(node);
        await node.Join(seed);
        return (node, host);
    }

    public sealed record AgentOptionsPorts(params Agent.Hosting.AgentOptions.PortOptions[] Ports);

    private static async Task<HostsView> Hosts(TestNode via) => await via.Ask<HostsView>(new GetHosts());

    private static Task UntilRegistered(TestNode via, int count) => Wait.Until(async () =>
        (await Hosts(via)).Hosts.Count(h => h.Status == HostStatus.Up) == count, $"{count} hosts registered");

    [Fact]
    public async Task A_downed_host_has_its_ports_failed_over_and_the_target_agent_attaches_them()
    {
        var c = await Coordinator("c1", null);
        var (a, hostA) = await Agent("host-a", c, 10, ["v1"], new(FakeHost.Port("p1", "net/v1")), []);
        var (b, hostB) = await Agent("host-b", c, 20, ["f1"], new(), ["net/f1"]);
        await UntilRegistered(c, 2);
        // The coordinator confirmed p1 is host-a's: only then does it carry traffic there.
        await Wait.Until(() => hostA.Path.Log.Contains("switch p1 none -> net/v1"), "p1 active on host-a");

        c.Cluster.Down(a.Address);

        await Wait.Until(async () => (await c.Ask<FailoversView>(new GetFailovers())).Failovers
            .Any(f => f.Port.Port == new PortId("p1") && f.Status == FailoverStatus.Completed && f.Target == new HostId("host-b")),
            "p1's fail-over to host-b completed");
        Assert.Contains("switch p1 none -> net/f1", hostB.Path.Log);
        var port = (await c.Ask<PortsView>(new GetPorts())).Ports.Single(p => p.Spec.Port == new PortId("p1"));
        Assert.Equal(new HostId("host-b"), port.Host);
        Assert.Equal(PortState.Active, port.State);
        var hostAState = (await Hosts(c)).Hosts.Single(h => h.Host == new HostId("host-a"));
        Assert.Equal(HostStatus.Down, hostAState.Status);
    }

    [Fact]
    public async Task After_a_hard_stop_of_the_singletons_node_a_new_instance_recovers_from_sql_and_finishes_the_plan_in_flight()
    {
        var c1 = await Coordinator("c1", null);
        var c2 = await Coordinator("c2", c1);
        var (a, _) = await Agent("host-a", c1, 10, ["v1"], new(FakeHost.Port("p1", "net/v1")), []);
        await Agent("witness", c1, 30, ["w1"], new(), []); // a third vote, so losing c1 leaves a majority
        await UntilRegistered(c2, 2);
        var epochBefore = (await c2.Ask<Readiness>(new GetReadiness())).Epoch;

        // host-a is lost and nobody has room: the fail-over is recorded as unplaced, in flight.
        c1.Cluster.Down(a.Address);
        await Wait.Until(async () => (await c2.Ask<FailoversView>(new GetFailovers())).Failovers
            .Any(f => f.Port.Port == new PortId("p1") && f.Status == FailoverStatus.Unplaced), "p1's fail-over unplaced");

        await c1.Crash();
        // The singleton moves to c2 once the split brain resolver downs c1, and recovers from SQLite.
        await Wait.Until(async () => (await c2.Ask<Readiness>(new GetReadiness())).Epoch > epochBefore, "a new coordinator epoch",
            TimeSpan.FromSeconds(60));
        var recovered = (await c2.Ask<FailoversView>(new GetFailovers())).Failovers.Single(f => f.Port.Port == new PortId("p1"));
        Assert.Equal(FailoverStatus.Unplaced, recovered.Status);

        // Capacity appears: the new instance finishes the old instance's plan, once.
        var (_, hostB) = await Agent("host-b", c2, 20, ["f1"], new(), ["net/f1"]);
        await Wait.Until(async () => (await c2.Ask<FailoversView>(new GetFailovers())).Failovers
            .Any(f => f.Id == recovered.Id && f.Status == FailoverStatus.Completed), "the recovered fail-over completed", TimeSpan.FromSeconds(60));
        var done = (await c2.Ask<FailoversView>(new GetFailovers())).Failovers.Single(f => f.Id == recovered.Id);
        Assert.Equal(new HostId("host-b"), done.Target);
        Assert.True(done.Epoch > epochBefore, $"placed in epoch {done.Epoch}, before the hand-over it was {epochBefore}");
        Assert.Single(done.Steps, s => s.What.StartsWith("attached on", StringComparison.Ordinal));
        Assert.Single(done.Steps, s => s.What.StartsWith("started", StringComparison.Ordinal));
        Assert.Single(hostB.Path.Log, l => l == "switch p1 none -> net/f1");
    }
}
