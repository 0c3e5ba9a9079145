using Akka.Actor;
using Replug.Coordinator.Planning;
using Replug.Coordinator.Singleton;
using Replug.Coordinator.Tests.Support;
using Replug.Shared.Devices;
using static Replug.Coordinator.Singleton.CoordinatorQueries;

namespace Replug.Coordinator.Tests.Cluster;

/// <summary>Clusters of ActorSystems in this process over real TCP remoting, with real SQLite files.</summary>
[Collection(Api.RealNodes.Name)]
public sealed class FailoverClusterTests : ClusterTestBase
{

    private Task<(TestNode Node, FakeHost Host)> Agent(string name, TestNode seed, int ifIndex, string[] nics,
        AgentOptionsPorts ports, string[] failoverDevices) => Agent(name, seed, ifIndex, nics, ports.Ports, failoverDevices);

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

        // The coordinator's node counts the fail-over, and host-b's agent the switch and its port's fence at start.
        var coordinator = Samples(await c.MetricsText());
        Assert.Equal(1, coordinator["replug_coordinator_failovers_started"]);
        Assert.Equal(1, coordinator["replug_coordinator_failovers_completed"]);
        Assert.Equal(1, coordinator["replug_coordinator_failover_duration_count{outcome=\"completed\"}"]);
        Assert.True(coordinator["replug_coordinator_journal_write_latency_count"] > 0);
        Assert.True(coordinator["replug_coordinator_cluster_members{status=\"up\"}"] >= 2, "c1 and host-b are Up");
        var target = Samples(await b.MetricsText());
        Assert.True(target["replug_agent_port_switches"] >= 1);
    }

    /// <summary>Every sample of Prometheus' text format by its name and labels.</summary>
    private static Dictionary<string, double> Samples(string text) =>
        text.Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#'))
            .ToDictionary(l => l[..l.LastIndexOf(' ')], l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));

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

    private static ulong _seq = 1_000_000;

    private static Shared.Uevents.Uevent NetEvent(Shared.Uevents.UeventAction action, string name, int ifIndex) =>
        Shared.Uevents.Uevent.Create(action, $"/devices/virtual/net/{name}", "net", Interlocked.Increment(ref _seq),
            [new("INTERFACE", name), new("IFINDEX", ifIndex.ToString())], Shared.Uevents.UeventOrigin.Kernel);

    [Fact]
    public async Task A_NIC_removed_on_one_host_and_added_on_another_is_a_migration_and_its_port_follows_without_a_fail_over()
    {
        var c = await Coordinator("c1", null);
        var (a, hostA) = await Agent("host-a", c, 10, ["v1"], new(FakeHost.Port("p1", "net/v1")), []);
        var (b, hostB) = await Agent("host-b", c, 20, ["w1"], new(), []);
        await UntilRegistered(c, 2);
        await Wait.Until(() => hostA.Path.Log.Contains("switch p1 none -> net/v1"), "p1 active on host-a");
        var mac = File.ReadAllText(hostA.Sysfs.PathOf("class/net/v1/address")).Trim();

        // The VM moves: its NIC leaves host-a and appears on host-b under another name, same MAC.
        hostA.Sysfs.RemoveNet("v1");
        a.Watcher.Tell(NetEvent(Shared.Uevents.UeventAction.Remove, "v1", 10));
        hostB.Sysfs.AddNet("m7", 77, mac: mac);
        b.Watcher.Tell(NetEvent(Shared.Uevents.UeventAction.Add, "m7", 77));

        await Wait.Until(async () => (await c.Ask<NicsView>(new GetNics())).Nics
            .Any(n => n.Host == new HostId("host-b") && n.Device == DeviceId.Net("m7")), "the NIC located on host-b");
        await Wait.Until(async () => (await c.Ask<PortsView>(new GetPorts())).Ports
            .Any(p => p.Spec.Port == new PortId("p1") && p.Host == new HostId("host-b")), "p1 located on host-b");
        await Wait.Until(() => hostB.Path.Log.Contains("switch p1 none -> net/m7"), "p1 attached on host-b over its NIC");
        // Past the migration window, still no fail-over: the removal was explained by the add.
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Empty((await c.Ask<FailoversView>(new GetFailovers())).Failovers);
        var events = (await c.Ask<EventsView>(new GetRecentEvents(500))).Events;
        Assert.Contains(events, e => e.Type == "NicMigrated");
        Assert.DoesNotContain(events, e => e.Type == "NicFaulted");
    }

    [Fact]
    public async Task A_NIC_removed_with_no_add_elsewhere_is_a_fault_and_its_escalated_port_fails_over()
    {
        var c = await Coordinator("c1", null);
        var (a, hostA) = await Agent("host-a", c, 10, ["v1"], new(FakeHost.Port("p1", "net/v1")), []);
        var (_, hostB) = await Agent("host-b", c, 20, ["f1"], new(), ["net/f1"]);
        await UntilRegistered(c, 2);
        await Wait.Until(() => hostA.Path.Log.Contains("switch p1 none -> net/v1"), "p1 active on host-a");

        hostA.Sysfs.RemoveNet("v1");
        a.Watcher.Tell(NetEvent(Shared.Uevents.UeventAction.Remove, "v1", 10));

        await Wait.Until(async () => (await c.Ask<FailoversView>(new GetFailovers())).Failovers
            .Any(f => f.Port.Port == new PortId("p1") && f.Status == FailoverStatus.Completed), "p1 failed over once the window passed");
        Assert.Contains("switch p1 none -> net/f1", hostB.Path.Log);
        Assert.Contains((await c.Ask<EventsView>(new GetRecentEvents(500))).Events, e => e.Type == "NicFaulted");
    }

    [PostgresFact]
    public async Task The_coordinator_recovers_its_fail_overs_from_PostgreSQL_and_finishes_them()
    {
        await using var schema = await PostgresFixture.CreateSchemaAsync();
        var persistence = new Hosting.PersistenceOptions
        {
            Provider = Hosting.PersistenceOptions.PostgreSql, ConnectionString = schema.ConnectionString, Schema = schema.Name, SnapshotEvery = 5,
        };
        var c1 = await Coordinator("c1", null, persistence);
        var c2 = await Coordinator("c2", c1, persistence);
        var (a, _) = await Agent("host-a", c1, 10, ["v1"], new(FakeHost.Port("p1", "net/v1")), []);
        await Agent("witness", c1, 30, ["w1"], new(), []);
        await UntilRegistered(c2, 2);
        var epochBefore = (await c2.Ask<Readiness>(new GetReadiness())).Epoch;
        c1.Cluster.Down(a.Address);
        await Wait.Until(async () => (await c2.Ask<FailoversView>(new GetFailovers())).Failovers
            .Any(f => f.Status == FailoverStatus.Unplaced), "p1's fail-over unplaced");

        await c1.Crash();
        await Wait.Until(async () => (await c2.Ask<Readiness>(new GetReadiness())).Epoch > epochBefore, "a new epoch", TimeSpan.FromSeconds(60));
        var (_, hostB) = await Agent("host-b", c2, 20, ["f1"], new(), ["net/f1"]);
        await Wait.Until(async () => (await c2.Ask<FailoversView>(new GetFailovers())).Failovers
            .Any(f => f.Port.Port == new PortId("p1") && f.Status == FailoverStatus.Completed), "the recovered fail-over completed", TimeSpan.FromSeconds(60));
        Assert.Single(hostB.Path.Log, l => l == "switch p1 none -> net/f1");
        Assert.True(await schema.CountAsync("journal") > 0);
    }

    /// <summary>
    /// The journal lock's session ends (the server restarted, an administrator, a cut): the
    /// coordinator is stopped (Akka's lease loss), the singleton manager takes the lock again once
    /// it is free, and the coordinator recovers under a new epoch.
    /// </summary>
    [PostgresFact]
    public async Task A_coordinator_whose_journal_lock_session_ends_stops_and_resumes_under_a_new_epoch_once_it_holds_the_lock_again()
    {
        await using var schema = await PostgresFixture.CreateSchemaAsync();
        var persistence = new Hosting.PersistenceOptions
        {
            Provider = Hosting.PersistenceOptions.PostgreSql, ConnectionString = schema.ConnectionString, Schema = schema.Name,
        };
        var c1 = await Coordinator("c1", null, persistence);
        await Wait.Until(async () => (await c1.Ask<Readiness>(new GetReadiness())).Recovered, "c1's coordinator ready");
        var epochBefore = (await c1.Ask<Readiness>(new GetReadiness())).Epoch;
        Assert.True(Locking.JournalLocks.Get(c1.System).HeldNow);

        var owner = Locking.JournalLease.OwnerName(c1.Cluster.SelfUniqueAddress);
        Assert.Equal(1L, await LockSessions(schema, owner));
        await using (var admin = new Npgsql.NpgsqlConnection(schema.ConnectionString))
        {
            await admin.OpenAsync();
            await using var end = new Npgsql.NpgsqlCommand("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = @owner", admin);
            end.Parameters.AddWithValue("owner", owner);
            Assert.Equal(true, await end.ExecuteScalarAsync());
        }

        await Wait.Until(async () => (await c1.Ask<Readiness>(new GetReadiness())) is { Recovered: true } r && r.Epoch > epochBefore,
            "the coordinator back under a new epoch", TimeSpan.FromSeconds(60));
        Assert.True(Locking.JournalLocks.Get(c1.System).HeldNow);
        Assert.Equal(1L, await LockSessions(schema, owner));
    }

    /// <summary>The sessions of <paramref name="owner"/> that hold an advisory lock: the journal lock, as the server sees it.</summary>
    private static async Task<long> LockSessions(PostgresTestSchema schema, string owner)
    {
        await using var admin = new Npgsql.NpgsqlConnection(schema.ConnectionString);
        await admin.OpenAsync();
        await using var count = new Npgsql.NpgsqlCommand("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid " +
            "WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = @owner", admin);
        count.Parameters.AddWithValue("owner", owner);
        return (long)(await count.ExecuteScalarAsync())!;
    }
}
