using System.Diagnostics;
using Replug.Coordinator.Tests.Simulation;

namespace Replug.Bench;

/// <summary>
/// Runs seeds of the deterministic simulation (tests/Coordinator.Tests/Simulation) on every core
/// and prints how many steps and faults they covered and every violation with its seed and a
/// short trace; or one seed with its whole trace.
/// </summary>
public static class SimulationBenchmark
{
    public static Task<int> RunAsync(string[] args)
    {
        if (args.Contains("-h") || args.Contains("--help"))
        {
            Console.WriteLine("usage: simulate [--seeds N (1000)] [--from N (1)] [--profile default|all|none] [--seed S [--trace]]"
                + " [--fault-phase SECONDS (30)] [--stable-after SECONDS (production)] [--policies off|eager] [--decider real|registrar]");
            return Task.FromResult(0);
        }
        var profile = FaultProfile.Named(BenchFormat.Option(args, "--profile") ?? "default");
        var options = new SimulationOptions { Profile = profile };
        if (BenchFormat.Option(args, "--fault-phase") is { } phase) options = options with { FaultPhase = TimeSpan.FromSeconds(double.Parse(phase, System.Globalization.CultureInfo.InvariantCulture)) };
        if (BenchFormat.Option(args, "--stable-after") is { } stable) options = options with { StableAfter = TimeSpan.FromSeconds(double.Parse(stable, System.Globalization.CultureInfo.InvariantCulture)) };
        // The policy test's settings (both policies in auto, at their most eager), as SimulationPolicyTests runs them.
        if (BenchFormat.Option(args, "--policies") == "eager") options = options with { Coordinator = options.Coordinator with { Policies = SimulationOptions.EagerPolicies } };
        if (BenchFormat.Option(args, "--decider") == "registrar") options = options with { Decider = RegistrarDecider.Create };
        if (BenchFormat.Option(args, "--seed") is { } one)
        {
            var seed = int.Parse(one, System.Globalization.CultureInfo.InvariantCulture);
            var result = SimulationRunner.Run(seed, options);
            if (args.Contains("--trace"))
                foreach (var line in result.Trace) Console.WriteLine(line);
            Console.WriteLine();
            Console.WriteLine($"seed {seed}: {result.Steps} steps, {result.SimulatedMs / 1000.0:0.#} s simulated, faults: {Faults(result.FaultsInjected)}");
            Console.WriteLine(result.Passed ? "no violation" : result.Describe());
            return Task.FromResult(result.Passed ? 0 : 1);
        }

        var seeds = BenchFormat.IntOption(args, "--seeds", 1000);
        var from = BenchFormat.IntOption(args, "--from", 1);
        Console.WriteLine($"simulate: seeds {from}..{from + seeds - 1}, profile {profile.Name}, stable-after {options.StableAfter.TotalSeconds:0.#} s, policies {(options.Coordinator.Policies == SimulationOptions.EagerPolicies ? "eager" : "off")}, {Environment.ProcessorCount} cores");
        Console.WriteLine($"  {options.DescribeBound()}");
        var quiet = options with { RecordTrace = false };
        var clock = Stopwatch.StartNew();
        var results = new SimulationResult[seeds];
        Parallel.For(0, seeds, i => results[i] = SimulationRunner.Run(from + i, quiet));
        clock.Stop();

        var faults = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var r in results)
            foreach (var (kind, count) in r.FaultsInjected) faults[kind] = faults.GetValueOrDefault(kind) + count;
        var failed = results.Where(r => !r.Passed).ToList();
        var byInvariant = failed.SelectMany(r => r.Violations.Select(v => v.Invariant).Distinct()).GroupBy(v => v)
            .OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} {g.Count()}");
        Console.WriteLine($"  seeds:      {seeds} in {clock.Elapsed.TotalSeconds:0.0} s ({seeds / clock.Elapsed.TotalSeconds:0} seeds/s)");
        Console.WriteLine($"  steps:      {results.Sum(r => r.Steps)} ({results.Sum(r => r.Steps) / clock.Elapsed.TotalSeconds:0} steps/s), simulated {results.Sum(r => r.SimulatedMs) / 3_600_000.0:0.0} h");
        Console.WriteLine($"  faults:     {faults.Values.Sum()}: {string.Join(", ", faults.Select(f => $"{f.Key} {f.Value}"))}");
        Console.WriteLine($"  violations: {failed.Count} seed(s) failed{(failed.Count > 0 ? ": " + string.Join(", ", byInvariant) : "")}");
        foreach (var r in failed.Take(BenchFormat.IntOption(args, "--show", 10)))
        {
            Console.WriteLine();
            Console.Write(r.Describe());
        }
        if (failed.Count > 0) Console.WriteLine($"\nfailed seeds: {string.Join(" ", failed.Select(r => r.Seed))}");
        return Task.FromResult(failed.Count == 0 ? 0 : 1);
    }

    private static string Faults(IReadOnlyDictionary<string, int> faults) =>
        faults.Count == 0 ? "none" : string.Join(", ", faults.Select(f => $"{f.Key} {f.Value}"));
}
