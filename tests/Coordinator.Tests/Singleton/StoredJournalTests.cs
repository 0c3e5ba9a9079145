using Replug.Coordinator.Planning;
using Replug.Coordinator.Singleton;
using Replug.Coordinator.Tests.Support;
using Replug.Shared.Devices;
using static Replug.Coordinator.Singleton.CoordinatorQueries;

namespace Replug.Coordinator.Tests.Singleton;

/// <summary>
/// The coordinator reads what earlier versions wrote. Fixtures/journal-v1/replug.db is a SQLite
/// journal written by the first version of the events (manifests *.v1): three hosts registered,
/// fixture-a lost and its port failed over to fixture-b; then fixture-b left, and with no host
/// left to take it, the port's second fail-over is unplaced (open, waiting for capacity). It is never regenerated once an event version moves on; to add a
/// fixture of the current version, set REPLUG_WRITE_JOURNAL_FIXTURE to a folder and run
/// <see cref="Write_a_journal_fixture_of_the_current_version"/>.
/// </summary>
[Collection(Api.RealNodes.Name)]
public sealed class StoredJournalTests : ClusterTestBase
{

    private static string FixtureDirectory => Path.Combine(AppContext.BaseDirectory, "Singleton", "Fixtures", "journal-v1");

    [Fact]
    public async Task A_coordinator_recovers_from_a_journal_written_by_the_first_event_version()
    {
        File.Copy(Path.Combine(FixtureDirectory, "replug.db"), Path.Combine(Data.Path, "replug.db"));
        var c = await TestNode.StartCoordinator("c1", TestNode.Coordinator(Data.Path));
        Nodes.Add(c);
        await c.Join(null);

        await Wait.Until(async () => (await c.Ask<Readiness>(new GetReadiness())).Recovered, "recovery");
        var readiness = await c.Ask<Readiness>(new GetReadiness());
        Assert.True(readiness.Epoch >= 2, $"epoch {readiness.Epoch}: the stored journal's epoch was not recovered");
        var hosts = (await c.Ask<HostsView>(new GetHosts())).Hosts;
        Assert.Equal(HostStatus.Down, hosts.Single(h => h.Host == new HostId("fixture-a")).Status);
        var failovers = (await c.Ask<FailoversView>(new GetFailovers())).Failovers;
        var first = failovers.Single(f => f.From == new HostId("fixture-a"));
        Assert.Equal(FailoverStatus.Completed, first.Status);
        Assert.Equal(new HostId("fixture-b"), first.Target);
        Assert.Contains(first.Steps, s => s.What.StartsWith("attached on fixture-b", StringComparison.Ordinal));
        var second = failovers.Single(f => f.From == new HostId("fixture-b"));
        Assert.Equal(FailoverStatus.Unplaced, second.Status);
        var port = (await c.Ask<PortsView>(new GetPorts())).Ports.Single(p => p.Spec.Port == new PortId("fixture-port"));
        Assert.Equal(new HostId("fixture-b"), port.Host);
        Assert.Equal(PortState.Unplaced, port.State);
    }

    /// <summary>
    /// Fixtures/journal-migrations-v1/replug.db: 100 NICs added on src-000, then each removed there and
    /// added on dst-000 (a live migration: NicRemoved, NicAdded, NicMigrated), no snapshot, written while
    /// these events were JSON (*.v1, written by the `migrations` bench's path (e) with 100 NICs and
    /// --snapshot-every 1000000). They are written in a compact binary form from v2 on: a journal of the
    /// JSON versions must still replay into the same places.
    /// </summary>
    [Fact]
    public async Task A_coordinator_recovers_the_NIC_migrations_of_a_journal_written_as_JSON()
    {
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Singleton", "Fixtures", "journal-migrations-v1", "replug.db"), Path.Combine(Data.Path, "replug.db"));
        var c = await TestNode.StartCoordinator("c1", TestNode.Coordinator(Data.Path));
        Nodes.Add(c);
        await c.Join(null);

        await Wait.Until(async () => (await c.Ask<Readiness>(new GetReadiness())).Recovered, "recovery");
        var nics = (await c.Ask<NicsView>(new GetNics())).Nics;
        Assert.Equal(100, nics.Count);
        Assert.All(nics, n => Assert.Equal(new HostId("dst-000"), n.Host));
        Assert.Equal(
            Enumerable.Range(0, 100).Select(j => DeviceId.Net($"eth{j}")).ToHashSet(),
            nics.Select(n => n.Device).ToHashSet());
        Assert.Equal(100, nics.Select(n => n.Nic).Distinct().Count());
        Assert.All(nics, n => Assert.Equal(NicIdentityKind.PermanentMac, n.Nic.Kind));
    }

    [Fact]
    public async Task Write_a_journal_fixture_of_the_current_version()
    {
        var target = Environment.GetEnvironmentVariable("REPLUG_WRITE_JOURNAL_FIXTURE");
        if (string.IsNullOrEmpty(target)) return; // a tool, run on purpose when event versions change
        var c = await TestNode.StartCoordinator("c1", TestNode.Coordinator(Data.Path));
        Nodes.Add(c);
        await c.Join(null);
        var a = new FakeHost("fixture-a", 10, ["v1"]);
        var b = new FakeHost("fixture-b", 20, ["f1"]);
        var w = new FakeHost("fixture-witness", 30, ["w1"]);
        FakeHosts.AddRange([a, b, w]);
        var nodeA = await TestNode.StartAgent(a.Name, a.Options([FakeHost.Port("fixture-port", "net/v1")], []), a.Bus, _ => a.Path);
        Nodes.Add(nodeA);
        await nodeA.Join(c);
        foreach (var h in new[] { b, w })
        {
            var n = await TestNode.StartAgent(h.Name, h.Options([], h == b ? ["net/f1"] : []), h.Bus, _ => h.Path);
            Nodes.Add(n);
            await n.Join(c);
        }
        await Wait.Until(async () => (await c.Ask<HostsView>(new GetHosts())).Hosts.Count == 3, "3 hosts");
        c.Cluster.Down(nodeA.Address);
        await Wait.Until(async () => (await c.Ask<FailoversView>(new GetFailovers())).Failovers.Any(f => f.Status == FailoverStatus.Completed), "fail-over");
        foreach (var node in Enumerable.Reverse(Nodes)) await node.DisposeAsync();
        Nodes.Clear();
        Directory.CreateDirectory(target);
        // The journal runs in WAL mode: its latest writes may be in replug.db-wal. SQLite's backup copies the whole database into one file.
        using var source = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(Data.Path, "replug.db")};Pooling=False");
        using var copy = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(target, "replug.db")};Pooling=False");
        source.Open();
        copy.Open();
        source.BackupDatabase(copy);
    }
}
