using Replug.Harness.Tests.Support;
using Xunit.Abstractions;

namespace Replug.Harness.Tests;

/// <summary>The management network cut, wholly for one host or only between two agents; the NICs keep their traffic throughout.</summary>
public sealed class PartitionTests(ClusterPool pool, ITestOutputHelper output) : HarnessTest(pool, output)
{
    [HarnessFact]
    public Task A_host_cut_off_stops_forwarding_before_its_ports_forward_elsewhere_and_rejoins_once_healed() => RunAsync(async cluster =>
    {
        var victim = cluster.BusiestHost();
        var ports = cluster.PortsForwardingOn(victim);
        var cutAt = await cluster.IsolateHostAsync(victim);
        var moved = new List<(string Port, string To)>();
        foreach (var port in ports) moved.Add((port, await cluster.WaitForwardingElsewhereAsync(port, victim, TimeSpan.FromSeconds(30))));
        // Long enough for the split brain resolver to down it (its agent exits and is restarted, still cut off).
        await cluster.WaitUntilAsync(() => cluster.Now >= cutAt + 10_000, "the partition has lasted 10 s", TimeSpan.FromSeconds(20));
        await cluster.UnisolateHostAsync(victim);

        await cluster.WaitHostStatusAsync(victim, "Up", TimeSpan.FromSeconds(60));
        await cluster.WaitSettledAsync(TimeSpan.FromSeconds(60), $"a 10 s partition of {victim}");
        foreach (var (port, to) in moved)
        {
            var handover = Handover.Of(cluster.Traffic, port, victim, to, cutAt);
            cluster.Timeline.Add(handover.ToString());
            handover.AssertOldStoppedFirst(cluster.Traffic.LastSentSlot);
        }
    });

    [HarnessFact]
    public Task Cutting_only_two_agents_apart_never_makes_a_port_forward_twice_and_both_rejoin_once_healed() => RunAsync(async cluster =>
    {
        var a = cluster.BusiestHost();
        var b = cluster.QuietestHost(not: a);
        var cutAt = await cluster.CutAsync(a, b);
        await cluster.WaitUntilAsync(() => cluster.Now >= cutAt + 10_000, "the partition has lasted 10 s", TimeSpan.FromSeconds(20));
        cluster.AssertNoViolations(cutAt);
        await cluster.UncutAsync(a, b);

        foreach (var host in cluster.Hosts) await cluster.WaitHostStatusAsync(host.Name, "Up", TimeSpan.FromSeconds(60));
        await cluster.WaitSettledAsync(TimeSpan.FromSeconds(60), $"an asymmetric partition {a} <-> {b}");
    });
}
