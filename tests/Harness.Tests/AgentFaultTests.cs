using Replug.Harness.Tests.Support;
using Xunit.Abstractions;

namespace Replug.Harness.Tests;

/// <summary>An agent process killed, hung, or restarted, while its host's kernel keeps whatever state it left.</summary>
public sealed class AgentFaultTests(ITestOutputHelper output) : HarnessTest(output)
{
    private static readonly TimeSpan FailoverBound = TimeSpan.FromSeconds(30);

    [HarnessFact]
    public Task A_killed_agents_ports_forward_on_another_host_and_the_killed_host_stops_forwarding_first() => RunAsync(async cluster =>
    {
        var victim = cluster.Hosts[0];
        var killedAt = await cluster.KillAgentAsync(victim.Name, hold: true);

        foreach (var port in victim.Ports)
        {
            var to = await cluster.WaitForwardingElsewhereAsync(port.Name, victim.Name, FailoverBound);
            var handover = Handover.Of(cluster.Traffic, port.Name, victim.Name, to, killedAt);
            cluster.Timeline.Add(handover.ToString());
            // With no agent alive, only the kernel can stop the port: within the lease, and before anyone else starts it.
            handover.AssertOldStoppedFirst(cluster.Traffic.LastSentSlot, cluster.Options.Timings.Lease + TimeSpan.FromMilliseconds(300));
        }
        var settled = await cluster.WaitSettledAsync(TimeSpan.FromSeconds(30), "kill -9 of agent h1");
        Assert.All(victim.Ports, p => Assert.NotEqual(victim.Name, settled.Forwarding[p.Name]));
    });

    [HarnessFact]
    public Task An_agent_hung_for_10_s_loses_its_ports_to_another_host_without_forwarding_them_twice_and_rejoins() => RunAsync(async cluster =>
    {
        var victim = cluster.Hosts[0];
        var stoppedAt = cluster.PauseAgent(victim.Name);
        var moved = new List<Handover>();
        foreach (var port in victim.Ports)
        {
            var to = await cluster.WaitForwardingElsewhereAsync(port.Name, victim.Name, TimeSpan.FromSeconds(10));
            moved.Add(Handover.Of(cluster.Traffic, port.Name, victim.Name, to, stoppedAt));
        }
        await cluster.WaitUntilAsync(() => cluster.Now >= stoppedAt + 10_000, "10 s of SIGSTOP have passed", TimeSpan.FromSeconds(15));
        cluster.ResumeAgent(victim.Name);

        await cluster.WaitHostStatusAsync(victim.Name, "Up", TimeSpan.FromSeconds(60));
        await cluster.WaitSettledAsync(TimeSpan.FromSeconds(60), "SIGSTOP of agent h1 for 10 s");
        foreach (var handover in moved)
        {
            var final = Handover.Of(cluster.Traffic, handover.Port, handover.From, handover.To, stoppedAt);
            cluster.Timeline.Add(final.ToString());
            final.AssertOldStoppedFirst(cluster.Traffic.LastSentSlot, cluster.Options.Timings.Lease + TimeSpan.FromMilliseconds(300));
        }
    });

    [HarnessFact]
    public Task An_agent_restarted_after_its_ports_moved_does_not_forward_them_again() => RunAsync(async cluster =>
    {
        var victim = cluster.Hosts[0];
        var killedAt = await cluster.KillAgentAsync(victim.Name, hold: true);
        foreach (var port in victim.Ports) await cluster.WaitForwardingElsewhereAsync(port.Name, victim.Name, FailoverBound);
        await cluster.WaitHostStatusAsync(victim.Name, "Down", TimeSpan.FromSeconds(30));

        var restartedAt = cluster.StartAgent(victim.Name);
        await cluster.WaitHostStatusAsync(victim.Name, "Up", TimeSpan.FromSeconds(60));
        var settled = await cluster.WaitSettledAsync(TimeSpan.FromSeconds(30), "the restart of agent h1");

        foreach (var port in victim.Ports)
        {
            Assert.NotEqual(victim.Name, settled.Forwarding[port.Name]);
            var p = cluster.PortIndex(port.Name);
            var h = cluster.HostIndex(victim.Name);
            Assert.False(cluster.Traffic.SeenBetween(p, h, restartedAt, cluster.Traffic.LastSentSlot),
                $"{victim.Name} forwarded {port.Name} after its agent restarted at {restartedAt / 1000.0:0.000} s " +
                $"(killed at {killedAt / 1000.0:0.000} s), though the port had moved");
        }
    });
}
