using Replug.Harness.Tests.Support;
using Xunit.Abstractions;

namespace Replug.Harness.Tests;

/// <summary>An agent process killed, hung, or restarted, while its host's kernel keeps whatever state it left.</summary>
public sealed class AgentFaultTests(ClusterPool pool, ITestOutputHelper output) : HarnessTest(pool, output)
{
    private static readonly TimeSpan FailoverBound = TimeSpan.FromSeconds(30);

    [HarnessFact]
    public Task A_killed_agents_ports_forward_on_another_host_and_the_killed_host_stops_forwarding_first() => RunAsync(async cluster =>
    {
        var victim = cluster.BusiestHost();
        var ports = cluster.PortsForwardingOn(victim);
        var killedAt = await cluster.KillAgentAsync(victim, hold: true);

        foreach (var port in ports)
        {
            var to = await cluster.WaitForwardingElsewhereAsync(port, victim, FailoverBound);
            var handover = Handover.Of(cluster.Traffic, port, victim, to, killedAt);
            cluster.Timeline.Add(handover.ToString());
            // With no agent alive, only the kernel can stop the port: within the lease, and before anyone else starts it.
            handover.AssertOldStoppedFirst(cluster.Traffic.LastSentSlot, cluster.Options.Timings.Lease + TimeSpan.FromMilliseconds(300));
        }
        var settled = await cluster.WaitSettledAsync(TimeSpan.FromSeconds(30), $"kill -9 of agent {victim}");
        Assert.All(ports, p => Assert.NotEqual(victim, settled.Forwarding[p]));
    });

    [HarnessFact]
    public Task An_agent_hung_for_10_s_loses_its_ports_to_another_host_without_forwarding_them_twice_and_rejoins() => RunAsync(async cluster =>
    {
        var victim = cluster.BusiestHost();
        var ports = cluster.PortsForwardingOn(victim);
        var stoppedAt = cluster.PauseAgent(victim);
        var moved = new List<(string Port, string To)>();
        foreach (var port in ports) moved.Add((port, await cluster.WaitForwardingElsewhereAsync(port, victim, TimeSpan.FromSeconds(10))));
        await cluster.WaitUntilAsync(() => cluster.Now >= stoppedAt + 10_000, "10 s of SIGSTOP have passed", TimeSpan.FromSeconds(15));
        cluster.ResumeAgent(victim);

        await cluster.WaitHostStatusAsync(victim, "Up", TimeSpan.FromSeconds(60));
        await cluster.WaitSettledAsync(TimeSpan.FromSeconds(60), $"SIGSTOP of agent {victim} for 10 s");
        // Removed while it was stopped (longer than StableAfter): on waking it learns it was downed, exits
        // with code 4 (not 0: the service manager must see why), is restarted and rejoins as a new incarnation.
        Assert.Contains(cluster.Agents[victim].Exits, e => e.At >= stoppedAt && e.Code == Replug.Shared.Hosting.ExitCodes.Downed);
        foreach (var (port, to) in moved)
        {
            var handover = Handover.Of(cluster.Traffic, port, victim, to, stoppedAt);
            cluster.Timeline.Add(handover.ToString());
            handover.AssertOldStoppedFirst(cluster.Traffic.LastSentSlot, cluster.Options.Timings.Lease + TimeSpan.FromMilliseconds(300));
        }
    });

    [HarnessFact]
    public Task An_agent_restarted_after_its_ports_moved_does_not_forward_them_again() => RunAsync(async cluster =>
    {
        var victim = cluster.BusiestHost();
        var ports = cluster.PortsForwardingOn(victim);
        var killedAt = await cluster.KillAgentAsync(victim, hold: true);
        foreach (var port in ports) await cluster.WaitForwardingElsewhereAsync(port, victim, FailoverBound);
        await cluster.WaitHostStatusAsync(victim, "Down", TimeSpan.FromSeconds(30));

        var restartedAt = cluster.StartAgent(victim);
        await cluster.WaitHostStatusAsync(victim, "Up", TimeSpan.FromSeconds(60));
        var settled = await cluster.WaitSettledAsync(TimeSpan.FromSeconds(30), $"the restart of agent {victim}");

        foreach (var port in ports)
        {
            Assert.NotEqual(victim, settled.Forwarding[port]);
            Assert.False(cluster.Traffic.SeenBetween(cluster.PortIndex(port), cluster.HostIndex(victim), restartedAt, cluster.Traffic.LastSentSlot),
                $"{victim} forwarded {port} after its agent restarted at {restartedAt / 1000.0:0.000} s " +
                $"(killed at {killedAt / 1000.0:0.000} s), though the port had moved");
        }
    });
}
