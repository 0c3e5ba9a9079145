using Replug.Harness.Tests.Support;
using Xunit.Abstractions;

namespace Replug.Harness.Tests;

/// <summary>Coordinator processes killed, and every process restarted.</summary>
public sealed class CoordinatorFaultTests(ClusterPool pool, ITestOutputHelper output) : HarnessTest(pool, output)
{
    [HarnessFact]
    public Task Killing_the_singletons_node_during_a_fail_over_lets_the_other_coordinator_finish_it() => RunAsync(async cluster =>
    {
        // The fail-over comes from a partition, whose host fences itself: this scenario is about the
        // coordinator's hand-over, not about a dead agent's kernel state.
        var victim = cluster.BusiestHost();
        var ports = cluster.PortsForwardingOn(victim);
        var cutAt = await cluster.IsolateHostAsync(victim);
        // With the kernel lease the coordinator may move the ports as soon as it finds the host unreachable
        // (its lease ran out first): the kill then lands on the fail-over's commands in flight or just done.
        await cluster.WaitHostStatusAsync(victim, "Unreachable|Down", TimeSpan.FromSeconds(20));
        var singleton = cluster.SingletonNode() ?? throw new HarnessException("no coordinator logged that it runs the singleton");
        await cluster.KillCoordinatorAsync(singleton.Name, hold: true);

        foreach (var port in ports)
        {
            var to = await cluster.WaitForwardingElsewhereAsync(port, victim, TimeSpan.FromSeconds(90));
            var handover = Handover.Of(cluster.Traffic, port, victim, to, cutAt);
            cluster.Timeline.Add(handover.ToString());
            handover.AssertOldStoppedFirst(cluster.Traffic.LastSentSlot);
        }
        await cluster.WaitSettledAsync(TimeSpan.FromSeconds(60), $"the kill of {singleton.Name} during the fail-over of {victim}");

        await cluster.UnisolateHostAsync(victim);
        cluster.StartCoordinator(singleton.Name);
        await cluster.WaitHostStatusAsync(victim, "Up", TimeSpan.FromSeconds(60));
        await cluster.WaitSettledAsync(TimeSpan.FromSeconds(60), $"the return of {victim} and {singleton.Name}");
    });

    [HarnessFact]
    public Task After_a_restart_of_every_process_every_port_forwards_on_one_host_again() => RunAsync(async cluster =>
    {
        await cluster.RestartEverythingAsync(crash: false);
        foreach (var host in cluster.Hosts) await cluster.WaitHostStatusAsync(host.Name, "Up", TimeSpan.FromSeconds(120));
        await cluster.WaitSettledAsync(TimeSpan.FromSeconds(60), "a restart of every process");
    });
}
