using System.Diagnostics;
using Replug.Coordinator.Policies;
using Replug.Coordinator.Tests.Policies;

namespace Replug.Bench;

/// <summary>
/// The policies over a simulated day of a synthetic cluster (tests/Coordinator.Tests/Policies/
/// PolicyDaySimulation): no policy, a naive threshold rule, and Replug's policies at levels 1, 3
/// and 5, on the same seed's trace and faults, as one table.
/// </summary>
public static class PolicyDayBenchmark
{
    public static Task<int> RunAsync(string[] args)
    {
        if (args.Contains("-h") || args.Contains("--help"))
        {
            Console.WriteLine("usage: policies [--seed N (1)] [--hosts N (50)] [--faults N (30)] [--hours H (24)] [--peak FRACTION (0.55)] [--trace ROW (1-5)]");
            return Task.FromResult(0);
        }
        var options = new DayOptions(
            Seed: BenchFormat.IntOption(args, "--seed", 1),
            Hosts: BenchFormat.IntOption(args, "--hosts", 50),
            NicFaults: BenchFormat.IntOption(args, "--faults", 30),
            PeakUtilization: BenchFormat.DoubleOption(args, "--peak", 0.55))
        {
            Length = TimeSpan.FromHours(BenchFormat.IntOption(args, "--hours", 24)),
        };
        var reserve = new Reserve(SpareNicsPerPort: 1, SpareHosts: 1);
        Console.WriteLine($"policies: seed {options.Seed}, {options.Hosts} hosts x {options.NicsPerHost} NICs of {options.NicGbps} Gb/s, " +
            $"{options.Hosts * options.PortsPerHost} ports, {options.Length.TotalHours:0} h in {options.Tick.TotalSeconds:0} s ticks, " +
            $"peak {options.PeakUtilization:P0} of capacity, {options.NicFaults} NIC faults, plug delay {options.PlugDelay.TotalSeconds:0} s, " +
            $"reserve {reserve.SpareNicsPerPort} spare NIC per port");
        Console.WriteLine();
        Console.WriteLine("| strategy | NIC-hours unplugged | port-minutes without reserve (ports) | NIC-minutes > 80 % | port-minutes down | moves | switches | plugs / unplugs | faults handled | wall time |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|");
        IDayStrategy[] strategies = [new NoPolicy(), new NaiveThreshold(), new ReplugPolicies(1, reserve), new ReplugPolicies(3, reserve), new ReplugPolicies(5, reserve)];
        if (BenchFormat.Option(args, "--trace") is { } traced)
        {
            // One strategy's every verdict and every port outage, by the strategy's row number (1: no policy).
            var strategy = strategies[int.Parse(traced, System.Globalization.CultureInfo.InvariantCulture) - 1];
            PolicyDaySimulation.Run(options, strategy, reserve, Console.WriteLine);
            return Task.FromResult(0);
        }
        foreach (var strategy in strategies)
        {
            var clock = Stopwatch.StartNew();
            var r = PolicyDaySimulation.Run(options, strategy, reserve);
            Console.WriteLine($"| {r.Strategy} | {r.NicHoursUnplugged:0} of {r.NicHours:0} ({r.NicHoursUnplugged / r.NicHours:P0}) | " +
                $"{r.PortMinutesWithoutReserve:0} ({r.PortsEverWithoutReserve}) | {r.NicMinutesAbove80:0} | {r.PortMinutesDown:0.#} | {r.Moves} | {r.Switches} | " +
                $"{r.Plugs} / {r.Unplugs} | {r.FaultsHandled} of {r.Faults} | {clock.Elapsed.TotalSeconds:0.0} s |");
        }
        return Task.FromResult(0);
    }
}
