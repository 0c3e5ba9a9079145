using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Replug.Agent.Hosting;
using Replug.Agent.Observability;

namespace Replug.Agent.Tests.Observability;

/// <summary>The agent's readiness verdicts and the pieces of its metrics that are plain code.</summary>
public sealed class AgentHealthTests
{
    private static readonly long Second = Stopwatch.Frequency;

    [Fact]
    public void A_clustered_agent_is_ready_only_while_the_coordinators_lease_lasts()
    {
        var health = new AgentHealth();
        health.Clustered(TimeSpan.FromSeconds(1.5), kernelFence: false);
        var now = Stopwatch.GetTimestamp();

        Assert.Equal(HealthStatus.Unhealthy, health.Lease(now).Status);
        Assert.Contains("not granted yet", health.Lease(now).Description);

        health.LeaseGranted(now + Second);
        Assert.Equal(HealthStatus.Healthy, health.Lease(now).Status);
        var lapsed = health.Lease(now + 2 * Second);
        Assert.Equal(HealthStatus.Unhealthy, lapsed.Status);
        Assert.StartsWith("ran out 1.0 s ago", lapsed.Description);

        health.LeaseGranted(now + 3 * Second);
        health.LeaseRevoked("no majority for 00:00:01.5000000");
        Assert.Equal("revoked: no majority for 00:00:01.5000000", health.Lease(now).Description);
    }

    [Fact]
    public void An_agent_outside_a_cluster_needs_no_lease_nor_fence()
    {
        var health = new AgentHealth();
        Assert.Equal(HealthStatus.Healthy, health.Lease(Stopwatch.GetTimestamp()).Status);
        Assert.Equal(HealthStatus.Healthy, health.KernelFence(Stopwatch.GetTimestamp()).Status);
    }

    [Fact]
    public void The_kernel_fence_must_have_been_renewed_within_one_lease_and_its_last_renewal_must_have_worked()
    {
        var health = new AgentHealth();
        health.Clustered(TimeSpan.FromSeconds(1.5), kernelFence: true);
        Assert.Contains("not renewed yet", health.KernelFence(Stopwatch.GetTimestamp()).Description);

        health.FenceRenewed();
        var renewed = Stopwatch.GetTimestamp();
        Assert.Equal(HealthStatus.Healthy, health.KernelFence(renewed).Status);
        Assert.Equal(HealthStatus.Unhealthy, health.KernelFence(renewed + 2 * Second).Status);

        health.FenceFailed("nft: table bridge replug: No such file or directory");
        Assert.Equal("the last renewal failed: nft: table bridge replug: No such file or directory", health.KernelFence(renewed).Description);
    }

    [Fact]
    public void The_uevent_source_is_ready_while_it_listens()
    {
        var health = new AgentHealth();
        Assert.Equal(HealthStatus.Unhealthy, health.UeventSource().Status);
        var open = true;
        health.ObserveSource(() => (open, "netlink uevent socket"));
        Assert.Equal(HealthStatus.Healthy, health.UeventSource().Status);
        open = false;
        Assert.Equal("netlink uevent socket: closed", health.UeventSource().Description);
    }

    [Theory]
    [InlineData("", null)]
    [InlineData("http://127.0.0.1:9464;http://[::1]:9464", null)]
    [InlineData("http://localhost:0", null)]
    [InlineData("https://127.0.0.1:9464", "'https://127.0.0.1:9464' is not an http URL")]
    [InlineData("http://0.0.0.0:9464/metrics", "give the address and port only")]
    [InlineData("9464", "'9464' is not an http URL")]
    public void Http_urls_are_http_with_an_address_and_a_port(string urls, string? problem)
    {
        var problems = ListenUrls.Problems(urls, "Replug:Agent:HttpUrls");
        if (problem is null) Assert.Empty(problems);
        else Assert.Contains(problems, p => p.StartsWith("Replug:Agent:HttpUrls: ", StringComparison.Ordinal) && p.Contains(problem));
    }

    [Fact]
    public void Totals_are_kept_by_label_values_and_a_total_without_labels_exists_from_the_start()
    {
        var plain = new Totals();
        Assert.Equal(0, Assert.Single(plain.Observe()).Value);

        var byReason = new Totals("reason");
        byReason.Add(1, "truncated");
        byReason.Add(2, "truncated");
        byReason.Add(1, "bad_credentials");
        var measured = byReason.Observe().ToDictionary(m => (string)m.Tags[0].Value!, m => m.Value);
        Assert.Equal(new Dictionary<string, long> { ["truncated"] = 3, ["bad_credentials"] = 1 }, measured);
        Assert.Throws<ArgumentException>(() => byReason.Add(1));
    }

    [Fact]
    public void Device_states_are_counted_for_every_state_zeros_included()
    {
        var metrics = new AgentMetrics(null);
        var census = new DeviceStateCensus();
        metrics.ObserveDevices(census);
        census.Set(new("net", "a"), Replug.Agent.Devices.DeviceState.Active);
        census.Set(new("net", "b"), Replug.Agent.Devices.DeviceState.Active);
        census.Set(new("net", "c"), Replug.Agent.Devices.DeviceState.Faulted);
        census.Remove(new("net", "c"));

        var seen = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) => { if (instrument.Meter == metrics.Meter && instrument.Name == "devices") l.EnableMeasurementEvents(instrument); };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) => seen[(string)tags[0].Value!] = value);
        listener.Start();
        listener.RecordObservableInstruments();

        Assert.Equal(Enum.GetNames<Replug.Agent.Devices.DeviceState>().Length, seen.Count);
        Assert.Equal(2, seen["Active"]);
        Assert.Equal(0, seen["Faulted"]);
    }
}
