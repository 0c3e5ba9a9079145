using System.Diagnostics;
using Xunit.Abstractions;

namespace Replug.Coordinator.Tests.Simulation;

/// <summary>
/// The fail-over protocol over a thousand seeded worlds: the real decider, the agents' pure
/// parts, a faulty network, crashes and NIC moves. A failure names its seeds and how to replay them.
/// </summary>
public sealed class SimulationTests(ITestOutputHelper output)
{
    public const int Seeds = 1000;

    private static IReadOnlyList<SimulationResult> RunSeeds(int from, int count, SimulationOptions options)
    {
        var results = new SimulationResult[count];
        Parallel.For(0, count, i => results[i] = SimulationRunner.Run(from + i, options));
        return results;
    }

    private static string Failures(IReadOnlyList<SimulationResult> results, int show = 3)
    {
        var failed = results.Where(r => !r.Passed).ToList();
        var kinds = failed.SelectMany(r => r.Violations.Select(v => v.Invariant).Distinct()).GroupBy(k => k).Select(g => $"{g.Key} in {g.Count()}");
        return $"{failed.Count} of {results.Count} seeds failed ({string.Join(", ", kinds)}); seeds: {string.Join(" ", failed.Select(r => r.Seed).Take(50))}\n"
            + string.Join("\n", failed.Take(show).Select(r => r.Describe()))
            + "\nreplay one: dotnet run -c Release --project bench/Replug.Bench -- simulate --seed SEED --trace";
    }

    [Fact]
    public void A_thousand_seeds_keep_the_promise()
    {
        var options = new SimulationOptions { RecordTrace = false };
        var clock = Stopwatch.StartNew();
        var results = RunSeeds(1, Seeds, options);
        output.WriteLine($"{Seeds} seeds in {clock.Elapsed.TotalSeconds:0.0} s: {results.Sum(r => r.Steps)} steps, {results.Sum(r => r.FaultCount)} faults; {options.DescribeBound()}");
        Assert.True(results.All(r => r.Passed), Failures(results));
    }

    [Fact]
    public void A_seed_replays_exactly()
    {
        var options = new SimulationOptions { Profile = FaultProfile.All };
        var first = SimulationRunner.Run(42, options);
        var second = SimulationRunner.Run(42, options);
        Assert.True(first.FaultCount > 0);
        Assert.Equal(first.Trace.Count, second.Trace.Count);
        for (var i = 0; i < first.Trace.Count; i++) Assert.Equal(first.Trace[i].ToString(), second.Trace[i].ToString());
    }

    /// <summary>
    /// The agent does not yet fence its data path without a living process (the next issue): a
    /// killed agent's host keeps forwarding while its ports are failed over. The harness must see it.
    /// </summary>
    [Fact]
    public void Killing_agents_whose_hosts_keep_forwarding_is_found_as_a_port_on_two_hosts()
    {
        var options = new SimulationOptions { Profile = FaultProfile.Default with { Name = "agent-crashes", AgentCrashes = true }, RecordTrace = false };
        SimulationResult? found = null;
        for (var seed = 1; seed <= 300 && found is null; seed++)
        {
            var result = SimulationRunner.Run(seed, options);
            if (result.Violations.Any(v => v.Invariant == "at-most-one-host"
                && result.ShortTraces[result.Violations.ToList().IndexOf(v)].Any(l => l.Text.Contains("kill -9", StringComparison.Ordinal))))
                found = result;
        }
        Assert.NotNull(found);
        output.WriteLine($"found by seed {found!.Seed}:\n{found.Describe()}");
    }
}
