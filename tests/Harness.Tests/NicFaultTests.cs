using Replug.Harness.Tests.Support;
using Xunit.Abstractions;

namespace Replug.Harness.Tests;

/// <summary>NICs pulled, returned and moved between hosts (a live migration) while the probe's frames flow.</summary>
public sealed class NicFaultTests(ClusterPool pool, ITestOutputHelper output) : HarnessTest(pool, output)
{
    /// <summary>A port forwarding on one host over its preferred NIC with a standby present, as the API and the probe see it now.</summary>
    internal static async Task<(ApiPort Port, string Host)?> FindPortWithStandbyAsync(ReplugCluster cluster)
    {
        var ports = await cluster.Api.PortsAsync() ?? [];
        foreach (var port in ports.OrderBy(p => p.Port, StringComparer.Ordinal))
        {
            if (port is not { State: "Active", Forwarding: true, Members.Count: >= 2 } || port.Active != port.Members[0]) continue;
            var hosts = cluster.ForwardingHosts(port.Port);
            if (hosts.Count == 1 && hosts[0] == port.Host && port.Members.All(m => cluster.Topology.WhereIs(Nic(m)) == port.Host)) return (port, port.Host);
        }
        return null;
    }

    internal static async Task<(ApiPort Port, string Host)> PortWithStandbyAsync(ReplugCluster cluster) =>
        await FindPortWithStandbyAsync(cluster) ?? throw new HarnessException("no port forwards over its preferred NIC with a standby");

    /// <summary>For <see cref="HarnessTest.RunAsync"/>: earlier tests may have left every port on a single fail-over device.</summary>
    internal static async Task<string?> HasPortWithStandby(ReplugCluster cluster) =>
        await FindPortWithStandbyAsync(cluster) is null ? "no port forwards over its preferred NIC with a standby" : null;

    internal static string Nic(string device) => device.StartsWith("net/", StringComparison.Ordinal) ? device[4..] : device;

    [HarnessFact]
    public Task Removing_the_active_NIC_keeps_the_port_forwarding_on_its_host_over_the_standby_and_its_return_takes_it_back() => RunAsync(async cluster =>
    {
        var (port, host) = await PortWithStandbyAsync(cluster);
        var (preferred, standby) = (Nic(port.Members[0]), Nic(port.Members[1]));
        var (p, h) = (cluster.PortIndex(port.Port), cluster.HostIndex(host));
        await cluster.WaitEnslavedAsync(host, port.Port, [preferred], TimeSpan.FromSeconds(5));

        var removedAt = await cluster.DeleteNicAsync(preferred);
        await cluster.WaitEnslavedAsync(host, port.Port, [standby], TimeSpan.FromSeconds(5));
        await cluster.WaitUntilAsync(() => cluster.Traffic.LastSeen(p, h) > removedAt + 500, $"{port.Port} forwards on {host} over {standby}", TimeSpan.FromSeconds(10));
        AssertForwardedWithoutPause(cluster, port.Port, host, removedAt);
        await cluster.WaitApiPortAsync(port.Port, a => a.Host == host && a.Forwarding && a.Active == $"net/{standby}",
            $"{port.Port} forwarding over net/{standby}", TimeSpan.FromSeconds(5));

        var returnedAt = await cluster.RestoreNicAsync(preferred, host);
        await cluster.WaitEnslavedAsync(host, port.Port, [preferred], TimeSpan.FromSeconds(10));
        await cluster.WaitUntilAsync(() => cluster.Traffic.LastSeen(p, h) > returnedAt + 500, $"{port.Port} forwards on {host} over {preferred}", TimeSpan.FromSeconds(10));
        AssertForwardedWithoutPause(cluster, port.Port, host, returnedAt);
        await cluster.WaitApiPortAsync(port.Port, a => a.Forwarding && a.Active == $"net/{preferred}",
            $"{port.Port} forwarding over net/{preferred} again (revertive)", TimeSpan.FromSeconds(5));

        var settled = await cluster.WaitSettledAsync(TimeSpan.FromSeconds(20), $"the removal and return of {preferred}");
        Assert.Equal(host, settled.Forwarding[port.Port]);
        foreach (var other in cluster.Hosts.Where(x => x.Name != host))
            Assert.False(cluster.Traffic.SeenBetween(p, cluster.HostIndex(other.Name), removedAt, cluster.Traffic.LastSentSlot),
                $"{port.Port} forwarded on {other.Name} though it never left {host}");
    }, HasPortWithStandby);

    /// <summary>A local switch is a few milliseconds: the run of frames on the host goes on across it (gaps under the record's merge gap).</summary>
    private static void AssertForwardedWithoutPause(ReplugCluster cluster, string port, string host, int at)
    {
        var (p, h) = (cluster.PortIndex(port), cluster.HostIndex(host));
        var run = cluster.Traffic.Intervals(p, h).LastOrDefault(i => i.First <= at);
        Assert.True(run.Last >= at + 500,
            $"{port} paused on {host} for more than {ForwardingRecord.MergeGapMs} ms around {at / 1000.0:0.000} s: " +
            string.Join(", ", cluster.Traffic.Intervals(p, h).Where(i => i.Last >= at - 1000)));
    }

    [HarnessFact]
    public Task A_port_that_loses_every_NIC_forwards_on_another_host_after_its_host_stopped_forwarding_it() => RunAsync(async cluster =>
    {
        var (port, host) = await PortWithStandbyAsync(cluster);
        var nics = port.Members.Select(Nic).ToList();
        var lostAt = 0;
        foreach (var nic in nics.AsEnumerable().Reverse()) lostAt = await cluster.DeleteNicAsync(nic);

        var to = await cluster.WaitForwardingElsewhereAsync(port.Port, host, TimeSpan.FromSeconds(30));
        var handover = Handover.Of(cluster.Traffic, port.Port, host, to, lostAt);
        cluster.Timeline.Add(handover.ToString());
        handover.AssertOldStoppedFirst(cluster.Traffic.LastSentSlot);

        foreach (var nic in nics) await cluster.RestoreNicAsync(nic, host);
        var settled = await cluster.WaitSettledAsync(TimeSpan.FromSeconds(30), $"the loss of every NIC of {port.Port}");
        Assert.NotNull(settled.Forwarding[port.Port]);
    }, HasPortWithStandby);

    [HarnessTheory]
    [InlineData(true)]
    [InlineData(false)]
    public Task A_port_follows_its_migrated_NIC_to_the_new_host_and_the_old_host_stops_first(bool announced) => RunAsync(async cluster =>
    {
        var (port, from) = await PortWithStandbyAsync(cluster);
        var nic = Nic(port.Active!);
        var to = cluster.QuietestHost(not: from);
        var movedAt = await cluster.MigrateNicAsync(nic, to, announced);

        await cluster.WaitUntilAsync(() => cluster.ForwardingHosts(port.Port).SequenceEqual([to]),
            $"{port.Port} forwards on {to} only (it followed {nic})", TimeSpan.FromSeconds(30));
        var handover = Handover.Of(cluster.Traffic, port.Port, from, to, movedAt);
        cluster.Timeline.Add(handover.ToString());
        handover.AssertOldStoppedFirst(cluster.Traffic.LastSentSlot);

        var settled = await cluster.WaitSettledAsync(TimeSpan.FromSeconds(30), $"the migration of {nic} to {to}");
        Assert.Equal(to, settled.Forwarding[port.Port]);
        Assert.Equal($"net/{nic}", settled.Api.Single(a => a.Port == port.Port).Active);
    }, HasPortWithStandby);
}
