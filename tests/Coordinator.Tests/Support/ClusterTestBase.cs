using System.Collections.Concurrent;
using Replug.Agent.Hosting;
using Replug.Coordinator.Hosting;

namespace Replug.Coordinator.Tests.Support;

/// <summary>
/// A test that starts cluster nodes in this process: a temporary folder for their SQLite
/// journal, and every node and fake host it started, stopped and removed in reverse order.
/// </summary>
public abstract class ClusterTestBase : IAsyncLifetime
{
    protected TempDirectory Data { get; } = new();
    protected List<TestNode> Nodes { get; } = [];
    protected List<FakeHost> FakeHosts { get; } = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var node in Enumerable.Reverse(Nodes)) await node.DisposeAsync();
        foreach (var host in FakeHosts) host.Dispose();
        Data.Dispose();
    }

    /// <summary>A coordinator node with its journal in <see cref="Data"/> (or <paramref name="persistence"/>), joined to <paramref name="seed"/>'s cluster.</summary>
    protected async Task<TestNode> Coordinator(string name, TestNode? seed, PersistenceOptions? persistence = null)
    {
        var options = TestNode.Coordinator(Data.Path);
        if (persistence is not null) options.Persistence = persistence;
        var node = await TestNode.StartCoordinator(name, options);
        Nodes.Add(node);
        await node.Join(seed);
        return node;
    }

    /// <summary>An agent node on a fake host with <paramref name="nics"/>, joined to <paramref name="seed"/>'s cluster.</summary>
    protected async Task<(TestNode Node, FakeHost Host)> Agent(string name, TestNode seed, int ifIndex, string[] nics,
        IEnumerable<AgentOptions.PortOptions> ports, string[] failoverDevices, ConcurrentQueue<string>? sharedLog = null)
    {
        var host = new FakeHost(name, ifIndex, nics, sharedLog);
        FakeHosts.Add(host);
        var node = await TestNode.StartAgent(name, host.Options(ports, failoverDevices), host.Bus, _ => host.Path);
        Nodes.Add(node);
        await node.Join(seed);
        return (node, host);
    }
}
