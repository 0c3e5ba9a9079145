using System.Diagnostics;
using Replug.Coordinator.Planning;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using Xunit.Abstractions;

namespace Replug.Coordinator.Tests.Planning;

/// <summary>
/// Catches a planner that went quadratic (or hung): the bound is generous on purpose, the
/// figure is printed for the reader; measuring belongs in the benchmarks.
/// </summary>
public sealed class FailoverPlannerScaleTests(ITestOutputHelper output)
{
    private static readonly TimeSpan HangBound = TimeSpan.FromSeconds(30);

    [Fact]
    public void Planning_10000_ports_over_1000_hosts_finishes_promptly()
    {
        var random = new Random(42);
        var hosts = Enumerable.Range(0, 1000).Select(i => new HostCandidate(
            new HostId($"host-{i:D4}"),
            (i % 20) switch { 0 => HostStatus.Down, 1 => HostStatus.Drained, 2 => HostStatus.Unreachable, _ => HostStatus.Up },
            Capacity: 12,
            Load: random.Next(0, 8),
            Reserved: i % 10 == 5,
            PortsHere: [new PortSpec(new PortId($"existing-{i}"), 0, $"group-{random.Next(200)}")])).ToArray();
        var ports = Enumerable.Range(0, 10_000).Select(i => new PortToPlace(
            new PortSpec(new PortId($"port-{i:D5}"), random.Next(0, 5), i % 2 == 0 ? $"group-{random.Next(200)}" : null),
            new HostId($"host-{random.Next(1000):D4}"))).ToArray();

        var plan = Measure("10,000 ports over 1,000 hosts", () => FailoverPlanner.Plan(ports, hosts, PlannerPolicy.Default));

        Assert.Equal(ports.Length, plan.Placements.Count + plan.Unplaced.Count);
    }

    [Fact]
    public void Planning_10000_ports_of_one_anti_affinity_group_over_1000_hosts_finishes_promptly()
    {
        // Each host takes one port of the group; the 9,000 left over must not each scan every host.
        var hosts = Enumerable.Range(0, 1000).Select(i => new HostCandidate(
            new HostId($"host-{i:D4}"), HostStatus.Up, Capacity: 100, Load: 0, Reserved: false, PortsHere: [])).ToArray();
        var ports = Enumerable.Range(0, 10_000).Select(i => new PortToPlace(
            new PortSpec(new PortId($"port-{i:D5}"), 0, "db"), new HostId($"host-{i % 1000:D4}"))).ToArray();

        var plan = Measure("10,000 ports of one group over 1,000 hosts", () => FailoverPlanner.Plan(ports, hosts, PlannerPolicy.Default));

        Assert.Equal(1000, plan.Placements.Count);
        Assert.All(plan.Unplaced, u => Assert.Equal(UnplacedCause.AntiAffinity, u.Cause));
    }

    private PlacementPlan Measure(string what, Func<PlacementPlan> plan)
    {
        var clock = Stopwatch.StartNew();
        var result = plan();
        var first = clock.Elapsed;
        clock.Restart();
        plan();
        var second = clock.Elapsed;
        output.WriteLine($"{what}: {first.TotalMilliseconds:F1} ms (first run, with JIT), {second.TotalMilliseconds:F1} ms (second run); " +
                         $"{result.Placements.Count} placed, {result.Unplaced.Count} unplaced");
        Assert.True(first < HangBound, $"{what} took {first}");
        return result;
    }
}
