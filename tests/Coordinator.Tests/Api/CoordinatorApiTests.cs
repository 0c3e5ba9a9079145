using System.Net;
using System.Text.Json;
using Akka.Cluster;
using Replug.Coordinator.Tests.Support;

namespace Replug.Coordinator.Tests.Api;

/// <summary>
/// One real coordinator node with its HTTP API, and two agents in its cluster: host-a (NIC v1, port
/// p1 over it) and host-b (NIC w1, no port), so a migration has two registered hosts to go between.
/// </summary>
public sealed class ApiClusterFixture : IAsyncLifetime
{
    private FakeHost? _hostA;
    private FakeHost? _hostB;
    private TestNode? _agent;
    private TestNode? _agentB;

    public ApiTestHost Coordinator { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Coordinator = await ApiTestHost.Start();
        _hostA = new FakeHost("host-a", 10, ["v1"]);
        _agent = await TestNode.StartAgent("host-a", _hostA.Options([FakeHost.Port("p1", "net/v1")], []), _hostA.Bus, _ => _hostA.Path);
        _agent.Cluster.Join(Coordinator.ClusterAddress);
        await Wait.Until(() => _agent.Cluster.SelfMember.Status == MemberStatus.Up, "host-a to be Up");
        await Wait.Until(async () => (await Coordinator.Get("/hosts/host-a")).Status == HttpStatusCode.OK, "host-a registered");
        _hostB = new FakeHost("host-b", 20, ["w1"]);
        _agentB = await TestNode.StartAgent("host-b", _hostB.Options([], []), _hostB.Bus, _ => _hostB.Path);
        _agentB.Cluster.Join(Coordinator.ClusterAddress);
        await Wait.Until(async () => (await Coordinator.Get("/hosts/host-b")).Status == HttpStatusCode.OK, "host-b registered");
    }

    public async Task DisposeAsync()
    {
        if (_agentB is not null) await _agentB.DisposeAsync();
        if (_agent is not null) await _agent.DisposeAsync();
        await Coordinator.DisposeAsync();
        _hostA?.Dispose();
        _hostB?.Dispose();
    }
}

/// <summary>The operators' HTTP API against a real coordinator node: what it shows, what it changes, what it refuses.</summary>
[Collection(RealNodes.Name)]
public sealed class CoordinatorApiTests(ApiClusterFixture cluster) : IClassFixture<ApiClusterFixture>
{
    private ApiTestHost Api => cluster.Coordinator;

    private static JsonElement Host(JsonElement hosts, string name) =>
        hosts.GetProperty("hosts").EnumerateArray().Single(h => h.GetProperty("host").GetString() == name);

    [Fact]
    public async Task The_hosts_list_shows_a_registered_agent_up_with_its_NICs_ports_and_capacity()
    {
        var (status, body) = await Api.Get("/hosts");

        Assert.Equal(HttpStatusCode.OK, status);
        var host = Host(body, "host-a");
        Assert.Equal("Up", host.GetProperty("status").GetString());
        Assert.False(host.GetProperty("drained").GetBoolean());
        var nics = host.GetProperty("nics").EnumerateArray().ToDictionary(n => n.GetProperty("device").GetString()!, n => n.GetProperty("identity").GetString());
        Assert.Equal("PermanentMac:52:54:00:00:00:0a", Assert.Single(nics, n => n.Key == "net/v1").Value);
        Assert.Equal("p1", Assert.Single(host.GetProperty("ports").EnumerateArray()).GetString());
        // host-a has one port of its own and no fail-over devices: no slot for a foreign port.
        Assert.Equal(0, host.GetProperty("capacity").GetInt32());
        Assert.Equal(0, host.GetProperty("load").GetInt32());
    }

    [Fact]
    public async Task One_host_is_shown_by_its_name_and_an_unknown_one_is_404_with_the_reason()
    {
        var (found, host) = await Api.Get("/hosts/host-a");
        var (missing, error) = await Api.Get("/hosts/host-z");

        Assert.Equal(HttpStatusCode.OK, found);
        Assert.Equal("host-a", host.GetProperty("host").GetString());
        Assert.Equal(HttpStatusCode.NotFound, missing);
        Assert.Equal("unknown host host-z", error.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Devices_are_listed_per_host_and_NICs_with_their_location()
    {
        var (devicesStatus, devices) = await Api.Get("/devices");
        var (nicsStatus, nics) = await Api.Get("/nics");

        Assert.Equal(HttpStatusCode.OK, devicesStatus);
        Assert.Contains(devices.GetProperty("devices").EnumerateArray(), d =>
            d.GetProperty("host").GetString() == "host-a" && d.GetProperty("device").GetString() == "net/v1" && d.GetProperty("healthy").GetBoolean());
        Assert.Equal(HttpStatusCode.OK, nicsStatus);
        Assert.Contains(nics.GetProperty("nics").EnumerateArray(), n =>
            n.GetProperty("nic").GetString() == "PermanentMac:52:54:00:00:00:0a" && n.GetProperty("host").GetString() == "host-a"
            && n.GetProperty("device").GetString() == "net/v1");
    }

    [Fact]
    public async Task Ports_are_listed_where_they_run_and_no_failover_is_open()
    {
        var (portsStatus, ports) = await Api.Get("/ports");
        var (failoversStatus, failovers) = await Api.Get("/failovers");
        var (unknownStatus, unknown) = await Api.Get("/failovers/0123456789ab");

        Assert.Equal(HttpStatusCode.OK, portsStatus);
        var p1 = Assert.Single(ports.GetProperty("ports").EnumerateArray());
        Assert.Equal("host-a", p1.GetProperty("host").GetString());
        Assert.Equal("Active", p1.GetProperty("state").GetString());
        Assert.Equal(HttpStatusCode.OK, failoversStatus);
        Assert.Empty(failovers.GetProperty("failovers").EnumerateArray());
        Assert.Equal(HttpStatusCode.NotFound, unknownStatus);
        Assert.Equal("unknown fail-over 0123456789ab", unknown.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Draining_and_undraining_a_host_shows_in_its_record()
    {
        var (drainStatus, drained) = await Api.Post("/hosts/host-a/drain");
        var (_, whileDrained) = await Api.Get("/hosts/host-a");
        var (undrainStatus, undrained) = await Api.Post("/hosts/host-a/undrain");
        var (_, afterwards) = await Api.Get("/hosts/host-a");

        Assert.Equal(HttpStatusCode.OK, drainStatus);
        Assert.True(drained.GetProperty("drained").GetBoolean());
        Assert.True(whileDrained.GetProperty("drained").GetBoolean());
        Assert.Equal(HttpStatusCode.OK, undrainStatus);
        Assert.False(undrained.GetProperty("drained").GetBoolean());
        Assert.False(afterwards.GetProperty("drained").GetBoolean());
    }

    [Theory]
    [InlineData("/hosts/host-z/drain")]
    [InlineData("/hosts/host-z/undrain")]
    public async Task Draining_an_unknown_host_is_404_with_the_coordinators_reason(string path)
    {
        var (status, body) = await Api.Post(path);

        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal("unknown host host-z", body.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_migration_to_or_from_a_host_the_coordinator_does_not_know_is_refused()
    {
        var (status, body) = await Api.Post("/migrations",
            """{ "nic": "PermanentMac:52:54:00:00:00:0A", "from": "host-a", "to": "evil", "phase": "start" }""");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.StartsWith("unknown host evil", body.GetProperty("error").GetString());
    }

    [Fact]
    public async Task An_announced_migration_is_accepted_and_recorded_among_the_recent_events()
    {
        var (status, notice) = await Api.Post("/migrations",
            """{ "nic": "PermanentMac:52:54:00:00:00:0A", "from": "host-a", "to": "host-b", "phase": "start" }""");
        var (eventsStatus, events) = await Api.Get("/events?max=1000");

        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.Equal("PermanentMac:52:54:00:00:00:0a", notice.GetProperty("nic").GetString());
        Assert.Equal("Start", notice.GetProperty("phase").GetString());
        Assert.Equal(HttpStatusCode.OK, eventsStatus);
        Assert.Contains(events.GetProperty("events").EnumerateArray(), e =>
            e.GetProperty("type").GetString() == "MigrationAnnounced" && e.GetProperty("summary").GetString()!.Contains("52:54:00:00:00:0a"));
    }

    [Fact]
    public async Task Recent_events_are_limited_to_max()
    {
        var (status, events) = await Api.Get("/events?max=2");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(2, events.GetProperty("events").GetArrayLength());
    }

    [Theory]
    [InlineData("/migrations", """{ "nic": "PermanentMac:52:54:00:00:00:0b", """, "the body is not JSON")]
    [InlineData("/migrations", """{ "nic": "PermanentMac:52:54:00:00:00:0b", "from": "host-a", "to": "host-b", "phase": "soon" }""",
        "phase: 'soon' is not a phase (start, complete, abort)")]
    [InlineData("/migrations", """{ "nic": "PermanentMac:52-54-00-00-00-0b", "from": "host-a", "to": "host-b", "phase": "start" }""",
        "nic: '52-54-00-00-00-0b' is not a MAC address")]
    [InlineData("/migrations", null, "the body is empty")]
    public async Task A_malformed_migration_is_400_with_the_reason(string path, string? json, string reason)
    {
        var (status, body) = await Api.Post(path, json);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(reason, body.GetProperty("error").GetString());
    }

    [Theory]
    [InlineData("/events?max=0", "max must be a whole number from 1 to 1000, not '0'")]
    [InlineData("/events?max=5000", "max must be a whole number from 1 to 1000, not '5000'")]
    [InlineData("/events?max=2&max=3", "max: given more than once")]
    [InlineData("/failovers/not-an-id", "'not-an-id' is not a fail-over id (a GUID, or at least its first 12 hex digits)")]
    public async Task A_malformed_query_is_400_with_the_reason(string path, string reason)
    {
        var (status, body) = await Api.Get(path);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(reason, body.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_body_over_the_limit_is_413()
    {
        var (status, body) = await Api.Post("/migrations", new string(' ', 5000) + "{}");

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Equal("the body is larger than 4096 bytes", body.GetProperty("error").GetString());
    }

    [Fact]
    public async Task An_unknown_path_or_method_is_answered_in_the_same_error_format()
    {
        var (missing, missingBody) = await Api.Get("/hostz");
        using var wrongMethod = await Api.Http.DeleteAsync("/hosts");
        var wrongMethodBody = JsonDocument.Parse(await wrongMethod.Content.ReadAsStringAsync()).RootElement;

        Assert.Equal(HttpStatusCode.NotFound, missing);
        Assert.Equal("no such resource: /hostz", missingBody.GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.MethodNotAllowed, wrongMethod.StatusCode);
        Assert.Equal("DELETE is not allowed on /hosts", wrongMethodBody.GetProperty("error").GetString());
    }

    [Fact]
    public async Task The_node_is_live_and_ready_once_the_coordinator_has_recovered()
    {
        var (live, _) = await Api.Get("/health/live");
        await Wait.Until(async () => (await Api.Get("/health/ready")).Status == HttpStatusCode.OK, "/health/ready to be 200");
        var (_, ready) = await Api.Get("/health/ready");

        Assert.Equal(HttpStatusCode.OK, live);
        Assert.True(ready.GetProperty("recovered").GetBoolean());
        Assert.True(ready.GetProperty("epoch").GetInt64() >= 1);
    }
}

/// <summary>A coordinator node that cannot reach its cluster: the API stays up and says why it cannot answer.</summary>
[Collection(RealNodes.Name)]
public sealed class CoordinatorApiUnavailableTests
{
    [Fact]
    public async Task Without_a_reachable_coordinator_queries_and_readiness_are_503_with_the_reason_and_liveness_is_200()
    {
        // A seed nobody listens on: the node never joins, so the singleton never starts.
        await using var api = await ApiTestHost.Start("--Replug:Cluster:SeedNodes:0=akka.tcp://replug@127.0.0.1:9");

        var (live, _) = await api.Get("/health/live");
        var (ready, readyBody) = await api.Get("/health/ready");
        var (hosts, hostsBody) = await api.Get("/hosts");

        Assert.Equal(HttpStatusCode.OK, live);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready);
        Assert.StartsWith("the coordinator did not answer within 5 s", readyBody.GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, hosts);
        Assert.StartsWith("the coordinator did not answer within 5 s", hostsBody.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_coordinator_whose_journal_is_unreachable_is_live_but_not_ready_and_its_checks_say_why()
    {
        // PostgreSQL where nothing listens: the journal lock is never taken, so the singleton never starts.
        await using var api = await ApiTestHost.Start("--Replug:Coordinator:Persistence:Provider=postgresql",
            "--Replug:Coordinator:Persistence:ConnectionString=Host=127.0.0.1;Port=9;Username=replug;Password=replug;Database=replug;Timeout=2",
            "--Replug:Coordinator:RecoveryAttempts=100");

        var (live, _) = await api.Get("/health/live");
        var (ready, body) = await api.Get("/health/ready");

        Assert.Equal(HttpStatusCode.OK, live);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready);
        Assert.StartsWith("the coordinator did not answer within 5 s", body.GetProperty("error").GetString());
        var checks = body.GetProperty("checks");
        Assert.Equal("Unhealthy", checks.GetProperty("coordinator-singleton").GetProperty("status").GetString());
        // The journal's own check, when it answers in time, is listed with the others.
        Assert.True(checks.TryGetProperty("akka.persistence.journal.sql", out var journal) || checks.TryGetProperty("checks", out journal));
        Assert.Equal("Unhealthy", journal.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Metrics_are_served_in_prometheus_text_format()
    {
        await using var api = await ApiTestHost.Start();
        await Wait.Until(async () => (await api.Http.GetStringAsync("/metrics")).Contains("replug_coordinator_cluster_members{status=\"up\"} 1"),
            "the node Up in /metrics");

        using var response = await api.Http.GetAsync("/metrics");
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("# TYPE replug_coordinator_failovers_started gauge", text);
        Assert.Contains("replug_coordinator_failovers_started 0", text);
        // Like every call but /health/*, it needs a token.
        using var anonymous = api.Client(null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/health/live")).StatusCode);
    }
}
