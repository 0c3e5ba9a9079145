using Replug.Coordinator.Policies;
using Replug.Coordinator.Singleton;
using Xunit.Abstractions;
using static Replug.Coordinator.Singleton.CoordinatorEvents;

namespace Replug.Coordinator.Tests.Simulation;

/// <summary>
/// The promise with both policies in auto mode, acting on the loads the simulated agents report:
/// ports moved between hosts and NICs unplugged and plugged back while hosts, processes, NICs
/// and the network fail. A failure names its seeds.
/// </summary>
public sealed class SimulationPolicyTests(ITestOutputHelper output)
{
    public const int Seeds = 200;

    public static SimulationOptions Options(FaultProfile profile) => new()
    {
        Profile = profile,
        RecordTrace = false,
        Coordinator = new SimulationOptions().Coordinator with { Policies = SimulationOptions.EagerPolicies },
    };

    /// <remarks>
    /// The default fault profile, as the thousand-seed test: the "all" profile kills agents whose
    /// kernels keep forwarding (the simulation has no kernel fence), which it must find.
    /// </remarks>
    [Fact]
    public void Seeds_with_both_policies_in_auto_keep_the_promise_and_the_policies_act()
    {
        const string profile = "default";
        var options = Options(FaultProfile.Default);
        var results = new SimulationResult[Seeds];
        var acted = new (int Unplugs, int Plugs, int Moves, int Switches, int Done)[Seeds];
        Parallel.For(0, Seeds, i =>
        {
            SimWorld? world = null;
            results[i] = SimulationRunner.Run(10_000 + i, options, w => world = w);
            var auto = world!.Journal.OfType<PolicyDecided>().Where(d => d.Mode == PolicyMode.Auto).ToList();
            var settled = world.Journal.OfType<CommandSettled>().Where(s => s.Outcome == CommandOutcome.Acknowledged).Select(s => s.Id).ToHashSet();
            acted[i] = (auto.Count(d => d.Action is PolicyAction.UnplugNic), auto.Count(d => d.Action is PolicyAction.PlugNic),
                auto.Count(d => d.Action is PolicyAction.MovePort), auto.Count(d => d.Action is PolicyAction.SwitchActive),
                auto.Count(d => d.Operation is { } op && settled.Contains(op)));
        });
        var failed = results.Where(r => !r.Passed).ToList();
        output.WriteLine($"{Seeds} seeds ({profile}): {results.Sum(r => r.FaultCount)} faults; policy verdicts carried out: " +
            $"{acted.Sum(a => a.Unplugs)} unplugs, {acted.Sum(a => a.Plugs)} plugs, {acted.Sum(a => a.Moves)} moves, {acted.Sum(a => a.Switches)} switches; " +
            $"{acted.Sum(a => a.Done)} operations acknowledged");
        Assert.True(failed.Count == 0,
            $"{failed.Count} of {Seeds} seeds failed; seeds: {string.Join(" ", failed.Select(r => r.Seed).Take(50))}\n" +
            string.Join("\n", failed.Take(3).Select(r => r.Describe())));
        // The test proves something only if the policies really acted in most worlds.
        Assert.True(acted.Count(a => a.Done > 0) > Seeds / 2, $"policies acted in only {acted.Count(a => a.Done > 0)} of {Seeds} seeds");
        Assert.True(acted.Sum(a => a.Unplugs) > 0 && acted.Sum(a => a.Plugs) > 0, "both unplugs and plugs must occur");
    }
}
