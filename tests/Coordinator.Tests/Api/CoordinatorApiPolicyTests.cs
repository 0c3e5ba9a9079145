using System.Net;
using System.Text.Json;

namespace Replug.Coordinator.Tests.Api;

/// <summary>Policies and planned hot plug through the HTTP API of a real coordinator node: shown, changed, dry-run, refused with reasons.</summary>
[Collection(RealNodes.Name)]
public sealed class CoordinatorApiPolicyTests(ApiClusterFixture cluster) : IClassFixture<ApiClusterFixture>
{
    private ApiTestHost Api => cluster.Coordinator;

    private static string Error(JsonElement body) => body.GetProperty("error").GetString()!;

    [Fact]
    public async Task The_policies_are_shown_with_their_modes_and_levels_from_the_configuration()
    {
        var (status, body) = await Api.Get("/policies");

        Assert.Equal(HttpStatusCode.OK, status);
        var settings = body.GetProperty("settings");
        Assert.Contains(settings.GetProperty("loadBalancing").GetProperty("mode").GetString(), new[] { "Off", "Advise", "Auto" });
        Assert.InRange(settings.GetProperty("powerSaving").GetProperty("level").GetInt32(), 1, 5);
    }

    [Theory]
    [InlineData("/policies/power-saving", "{\"mode\": \"Auto\", \"level\": 9}", "Level")]
    [InlineData("/policies/power-saving", "{\"mode\": \"Sometimes\"}", "mode")]
    [InlineData("/policies/load-balancing", "{\"levle\": 2}", "levle")]
    [InlineData("/policies/power-saving", "{\"lowUtilization\": 0.9, \"highUtilization\": 0.5}", "HighUtilization")]
    [InlineData("/policies/load-balancing", "[1, 2]", "")]
    [InlineData("/policies/power-saving", "", "empty")]
    public async Task Bad_policy_settings_are_a_400_naming_the_field(string path, string json, string field)
    {
        var (status, body) = await Api.Put(path, json);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(field, Error(body), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task An_unknown_policy_is_a_404()
    {
        var (put, _) = await Api.Put("/policies/turbo", "{\"mode\": \"Auto\"}");
        var (dry, body) = await Api.Post("/policies/turbo/dry-run");

        Assert.Equal(HttpStatusCode.NotFound, put);
        Assert.Equal(HttpStatusCode.NotFound, dry);
        Assert.Contains("load-balancing", Error(body));
    }

    [Fact]
    public async Task A_policy_changed_at_run_time_is_shown_as_changed_and_its_dry_run_answers()
    {
        var (status, body) = await Api.Put("/policies/load-balancing", "{\"mode\": \"Advise\", \"level\": 2, \"cooldown\": \"00:05:00\"}");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(body.GetProperty("changedAtRunTime").GetBoolean());
        var balancing = body.GetProperty("settings").GetProperty("loadBalancing");
        Assert.Equal((2, "00:05:00"), (balancing.GetProperty("level").GetInt32(), balancing.GetProperty("cooldown").GetString()));
        var (_, shown) = await Api.Get("/policies");
        Assert.Equal(2, shown.GetProperty("settings").GetProperty("loadBalancing").GetProperty("level").GetInt32());

        var (dryStatus, dry) = await Api.Post("/policies/load-balancing/dry-run");
        Assert.Equal(HttpStatusCode.OK, dryStatus);
        Assert.Equal("load-balancing", dry.GetProperty("policy").GetString());
        Assert.Equal(JsonValueKind.Array, dry.GetProperty("wouldDo").ValueKind);
        var (decisionsStatus, decisions) = await Api.Get("/decisions?max=10");
        Assert.Equal(HttpStatusCode.OK, decisionsStatus);
        Assert.Equal(JsonValueKind.Array, decisions.GetProperty("decisions").ValueKind);
    }

    [Fact]
    public async Task A_detach_that_would_leave_a_port_without_a_device_is_a_409_naming_the_port()
    {
        // host-a's port p1 runs over v1 alone.
        var (status, body) = await Api.Post("/hosts/host-a/devices/v1/detach", "{\"reason\": \"card swap\"}");

        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Contains("port p1", Error(body));
        var (_, operations) = await Api.Get("/operations");
        Assert.Empty(operations.GetProperty("operations").EnumerateArray());
    }

    [Theory]
    [InlineData("/hosts/host-a/devices/nope/detach", HttpStatusCode.NotFound, "no device")]
    [InlineData("/hosts/host-z/devices/v1/attach", HttpStatusCode.NotFound, "unknown host")]
    [InlineData("/hosts/host-a/devices/..%2F..%2Fetc/detach", HttpStatusCode.BadRequest, "device")]
    [InlineData("/hosts/host-a/devices/pci:12345/detach", HttpStatusCode.BadRequest, "PCI slot")]
    [InlineData("/hosts/host-a/devices/v1/attach", HttpStatusCode.Conflict, "in service already")]
    public async Task A_bad_device_request_is_refused_with_its_reason(string path, HttpStatusCode expected, string reason)
    {
        var (status, body) = await Api.Post(path);

        Assert.Equal(expected, status);
        Assert.Contains(reason, Error(body));
    }

    [Fact]
    public async Task A_detach_body_with_an_unknown_field_is_a_400()
    {
        var (status, body) = await Api.Post("/hosts/host-a/devices/v1/detach", "{\"why\": \"x\"}");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("why", Error(body));
    }
}
