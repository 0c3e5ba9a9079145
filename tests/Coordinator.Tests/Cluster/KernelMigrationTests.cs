using Replug.Agent.Devices;
using Replug.Agent.Hosting;
using Replug.Agent.Sources;
using Replug.Agent.Tests.Support;
using Replug.Coordinator.Tests.Support;
using Replug.Shared.Devices;
using static Replug.Coordinator.Singleton.CoordinatorQueries;

namespace Replug.Coordinator.Tests.Cluster;

/// <summary>
/// Live migration on the real kernel: two network namespaces are two hosts, each watched by its
/// own agent through its own netlink socket; `ip link set DEV netns OTHER` moves a NIC between
/// them exactly as a migration does (a remove on one, an add on the other).
/// </summary>
[Collection(Api.RealNodes.Name)]
public sealed class KernelMigrationTests : IAsyncLifetime
{
    private readonly TempDirectory _data = new();
    private readonly List<IAsyncDisposable> _cleanup = [];
    private readonly List<IDisposable> _disposables = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var d in Enumerable.Reverse(_cleanup)) await d.DisposeAsync();
        foreach (var d in Enumerable.Reverse(_disposables)) d.Dispose();
        _data.Dispose();
    }

    private async Task<(TestNode Node, RecordingDataPath Path)> Agent(string name, TestNetworkNamespace ns, TestNode seed, string[] portDevices)
    {
        var options = new AgentOptions
        {
            Host = name, SysfsRoot = ns.SysfsRoot, NetworkNamespace = ns.Name, Subsystems = ["net"],
            Ports = portDevices.Length == 0 ? [] : [FakeHost.Port("p1", portDevices)],
        };
        var path = new RecordingDataPath();
        var node = await TestNode.StartAgent(name, options, new SysfsDeviceBus(ns.SysfsRoot), _ => path);
        _cleanup.Add(node);
        var source = new NetlinkUeventSource(new NetlinkSourceOptions { NetworkNamespace = ns.Name });
        _disposables.Add(source);
        source.Start(new ActorUeventSink(node.Watcher));
        await node.Join(seed);
        return (node, path);
    }

    [KernelFact]
    public async Task A_veth_moved_between_two_namespaces_watched_by_two_agents_is_a_migration_not_a_fail_over()
    {
        var ns1 = new TestNetworkNamespace("mg");
        _disposables.Add(ns1);
        var ns2 = new TestNetworkNamespace("mg");
        _disposables.Add(ns2);
        ns1.Ip("link add mv0 type veth peer name mv0p");

        var c = await TestNode.StartCoordinator("c1", TestNode.Coordinator(_data.Path));
        _cleanup.Add(c);
        await c.Join(null);
        var (_, pathA) = await Agent("host-a", ns1, c, ["net/mv0"]);
        var (_, pathB) = await Agent("host-b", ns2, c, []);
        await Wait.Until(() => pathA.Log.Contains("switch p1 none -> net/mv0"), "p1 active on host-a");
        await Wait.Until(async () => (await c.Ask<NicsView>(new GetNics())).Nics
            .Any(n => n.Host == new HostId("host-a") && n.Device == DeviceId.Net("mv0")), "mv0 known on host-a");

        ns1.Ip($"link set mv0 netns {ns2.Name}");

        await Wait.Until(async () => (await c.Ask<NicsView>(new GetNics())).Nics
            .Any(n => n.Host == new HostId("host-b") && n.Device == DeviceId.Net("mv0")), "mv0 located on host-b");
        try
        {
            await Wait.Until(() => pathB.Log.Contains("switch p1 none -> net/mv0"), "p1 followed its NIC to host-b");
        }
        catch (TimeoutException e)
        {
            // Say where it stopped: the coordinator's last events and the data paths' steps.
            var recent = (await c.Ask<EventsView>(new GetRecentEvents(30))).Events.Select(x => $"{x.Type}: {x.Summary}");
            throw new TimeoutException($"{e.Message}\ncoordinator events:\n  {string.Join("\n  ", recent)}\n" +
                $"host-a data path: {string.Join("; ", pathA.Log)}\nhost-b data path: {string.Join("; ", pathB.Log)}", e);
        }
        var events = (await c.Ask<EventsView>(new GetRecentEvents(500))).Events;
        Assert.Contains(events, e => e.Type == "NicMigrated");
        Assert.Empty((await c.Ask<FailoversView>(new GetFailovers())).Failovers);
    }
}
