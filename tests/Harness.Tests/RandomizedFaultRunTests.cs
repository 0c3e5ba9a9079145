using Replug.Harness.Tests.Support;
using Xunit.Abstractions;

namespace Replug.Harness.Tests;

/// <summary>
/// A seeded schedule of every fault the scenarios inject, at random times, with the probe checking
/// every frame all along. CI runs a short one with a fixed seed; REPLUG_HARNESS_SEED and
/// REPLUG_HARNESS_SECONDS choose another (run-harness.sh runs any length and prints the seed).
/// </summary>
public sealed class RandomizedFaultRunTests(ClusterPool pool, ITestOutputHelper output) : HarnessTest(pool, output)
{
    public const int DefaultSeed = 7;
    public const int DefaultSeconds = 75;

    [HarnessFact]
    public Task A_seeded_randomized_fault_run_never_forwards_a_port_on_two_hosts_and_settles_afterwards() => RunAsync(async cluster =>
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("REPLUG_HARNESS_SEED"), out var s) ? s : DefaultSeed;
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("REPLUG_HARNESS_SECONDS"), out var l) ? l : DefaultSeconds;
        var plan = FaultPlan.Create(seed, TimeSpan.FromSeconds(seconds), cluster.Hosts, [.. cluster.Coordinators.Select(c => c.Name)]);
        Output.WriteLine($"seed {seed}, {seconds} s, {plan.Faults.Count} faults:\n{plan.Describe()}");

        var result = await RandomFaultRun.ExecuteAsync(cluster, plan);

        Output.WriteLine(result.Describe());
        cluster.AssertNoViolations();
        Assert.True(result.LivenessFailure is null, result.LivenessFailure);
    });
}
