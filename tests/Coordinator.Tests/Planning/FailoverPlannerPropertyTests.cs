using Replug.Coordinator.Planning;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;

namespace Replug.Coordinator.Tests.Planning;

/// <summary>
/// Many random clusters and fail-overs (seeded, so a failure replays), each plan checked
/// against the planner's invariants rather than against a hand-computed answer.
/// </summary>
public sealed class FailoverPlannerPropertyTests
{
    private static readonly string?[] Groups = [null, null, "db", "web", "cache", ""];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Random_plans_keep_every_invariant(int seed)
    {
        var random = new Random(seed);
        for (var round = 0; round < 500; round++)
        {
            var hosts = RandomHosts(random);
            var ports = RandomPorts(random, hosts);
            var policy = new PlannerPolicy((ReservedHostPolicy)random.Next(3));

            var plan = FailoverPlanner.Plan(ports, hosts, policy);

            var context = $"seed {seed}, round {round}";
            EveryPortIsPlacedOrUnplacedExactlyOnce(ports, plan, context);
            PlacementsGoOnlyToUpHostsOtherThanTheOneLeft(ports, hosts, policy, plan, context);
            NoHostGoesOverCapacity(hosts, plan, context);
            NoAntiAffinityGroupIsDoubledOnAHost(ports, hosts, plan, context);
            AHigherPriorityIsNeverUnplacedWhileALowerOneTookAHostItCouldUse(ports, hosts, plan, context);
            UnderPreferReservedAnOrdinaryHostIsUsedOnlyWhenNoReservedHostCouldBe(ports, hosts, policy, plan, context);
            EveryUnplacedCauseHoldsInTheFinalState(ports, hosts, policy, plan, context);
            Assert.Equal(plan.Placements, FailoverPlanner.Plan(ports, hosts, policy).Placements);
        }
    }

    private static HostCandidate[] RandomHosts(Random random)
    {
        var statuses = new[] { HostStatus.Up, HostStatus.Up, HostStatus.Up, HostStatus.Unreachable, HostStatus.Down, HostStatus.Drained };
        var portNumber = 0;
        return Enumerable.Range(0, random.Next(0, 12)).Select(i => new HostCandidate(
            new HostId($"h{i}"),
            statuses[random.Next(statuses.Length)],
            Capacity: random.Next(-1, 6),
            Load: random.Next(-1, 5),
            Reserved: random.Next(4) == 0,
            PortsHere: Enumerable.Range(0, random.Next(0, 3))
                .Select(_ => new PortSpec(new PortId($"existing{portNumber++}"), 0, Groups[random.Next(Groups.Length)]))
                .ToArray())).ToArray();
    }

    private static PortToPlace[] RandomPorts(Random random, HostCandidate[] hosts) =>
        Enumerable.Range(0, random.Next(0, 30)).Select(i => new PortToPlace(
            new PortSpec(new PortId($"p{i}"), random.Next(-1, 4), Groups[random.Next(Groups.Length)]),
            random.Next(4) switch
            {
                0 => null,
                1 => new HostId("gone"),
                _ when hosts.Length > 0 => hosts[random.Next(hosts.Length)].Host,
                _ => null,
            })).ToArray();

    private static void EveryPortIsPlacedOrUnplacedExactlyOnce(PortToPlace[] ports, PlacementPlan plan, string context)
    {
        var answered = plan.Placements.Select(p => p.Port).Concat(plan.Unplaced.Select(u => u.Port)).ToList();
        Assert.True(answered.Count == ports.Length, context);
        Assert.True(ports.Select(p => p.Port).ToHashSet().SetEquals(answered), context);
    }

    private static void PlacementsGoOnlyToUpHostsOtherThanTheOneLeft(PortToPlace[] ports, HostCandidate[] hosts,
        PlannerPolicy policy, PlacementPlan plan, string context)
    {
        var byPort = ports.ToDictionary(p => p.Port);
        var byHost = hosts.ToDictionary(h => h.Host);
        foreach (var placement in plan.Placements)
        {
            var host = byHost[placement.Host];
            Assert.True(host.Status == HostStatus.Up, context);
            Assert.True(byPort[placement.Port].From != placement.Host, context);
            Assert.True(policy.Reserved != ReservedHostPolicy.ReservedOnly || host.Reserved, context);
        }
    }

    private static void NoHostGoesOverCapacity(HostCandidate[] hosts, PlacementPlan plan, string context)
    {
        foreach (var host in hosts)
        {
            var placed = plan.Placements.Count(p => p.Host == host.Host);
            Assert.True(placed <= Free(host), $"{context}: {host.Host} takes {placed} with {Free(host)} free");
        }
    }

    private static void NoAntiAffinityGroupIsDoubledOnAHost(PortToPlace[] ports, HostCandidate[] hosts, PlacementPlan plan, string context)
    {
        var byPort = ports.ToDictionary(p => p.Port);
        foreach (var host in hosts)
        {
            var existing = host.PortsHere.Select(p => p.AntiAffinityGroup).Where(IsGroup).ToHashSet();
            var placed = plan.Placements.Where(p => p.Host == host.Host)
                .Select(p => byPort[p.Port].Spec.AntiAffinityGroup).Where(IsGroup).ToList();
            Assert.True(placed.Count == placed.Distinct().Count(), $"{context}: a group twice among the ports placed on {host.Host}");
            Assert.True(!placed.Any(existing.Contains), $"{context}: a group placed where it already was on {host.Host}");
        }
    }

    /// <summary>
    /// An unplaced port H, a lower-priority port L placed on X: X must have been unusable for H
    /// for a reason L's placement did not create — H leaves X, or H's group was on X already or
    /// came with a port of H's priority or higher. (Capacity cannot be the reason: L found room.)
    /// </summary>
    private static void AHigherPriorityIsNeverUnplacedWhileALowerOneTookAHostItCouldUse(PortToPlace[] ports,
        HostCandidate[] hosts, PlacementPlan plan, string context)
    {
        var byPort = ports.ToDictionary(p => p.Port);
        var byHost = hosts.ToDictionary(h => h.Host);
        foreach (var unplaced in plan.Unplaced)
        {
            var higher = byPort[unplaced.Port];
            foreach (var placement in plan.Placements.Where(p => byPort[p.Port].Spec.Priority < higher.Spec.Priority))
            {
                var group = higher.Spec.AntiAffinityGroup;
                var hostUnusable = higher.From == placement.Host
                    || (IsGroup(group) && byHost[placement.Host].PortsHere.Any(p => p.AntiAffinityGroup == group))
                    || (IsGroup(group) && plan.Placements.Any(p => p.Host == placement.Host
                        && byPort[p.Port].Spec.Priority >= higher.Spec.Priority && byPort[p.Port].Spec.AntiAffinityGroup == group));
                Assert.True(hostUnusable, $"{context}: {unplaced.Port} unplaced while {placement.Port} took {placement.Host}");
            }
        }
    }

    /// <summary>
    /// Free capacity only shrinks and groups only grow as a plan goes on, so a reserved host still
    /// usable by a port at the end of the plan was usable when the port went to an ordinary host.
    /// </summary>
    private static void UnderPreferReservedAnOrdinaryHostIsUsedOnlyWhenNoReservedHostCouldBe(PortToPlace[] ports,
        HostCandidate[] hosts, PlannerPolicy policy, PlacementPlan plan, string context)
    {
        if (policy.Reserved != ReservedHostPolicy.PreferReserved) return;
        var byPort = ports.ToDictionary(p => p.Port);
        var byHost = hosts.ToDictionary(h => h.Host);
        foreach (var placement in plan.Placements.Where(p => !byHost[p.Host].Reserved))
        {
            var port = byPort[placement.Port];
            var usable = hosts.Where(h => h.Reserved && UsableAtTheEnd(h, port, byPort, plan));
            Assert.True(!usable.Any(), $"{context}: {placement.Port} on ordinary {placement.Host} while a reserved host had room");
        }
    }

    private static void EveryUnplacedCauseHoldsInTheFinalState(PortToPlace[] ports, HostCandidate[] hosts,
        PlannerPolicy policy, PlacementPlan plan, string context)
    {
        var byPort = ports.ToDictionary(p => p.Port);
        foreach (var unplaced in plan.Unplaced)
        {
            var port = byPort[unplaced.Port];
            var up = hosts.Where(h => h.Status == HostStatus.Up && h.Host != port.From).ToList();
            var eligible = up.Where(h => policy.Reserved != ReservedHostPolicy.ReservedOnly || h.Reserved).ToList();
            var withRoom = eligible.Where(h => Free(h) > plan.Placements.Count(p => p.Host == h.Host)).ToList();
            var holds = unplaced.Cause switch
            {
                UnplacedCause.NoUpHost => up.Count == 0,
                UnplacedCause.NoReservedHost => policy.Reserved == ReservedHostPolicy.ReservedOnly && up.Count > 0 && eligible.Count == 0,
                UnplacedCause.NoCapacity => eligible.Count > 0 && withRoom.Count == 0,
                UnplacedCause.AntiAffinity => IsGroup(port.Spec.AntiAffinityGroup)
                    && withRoom.All(h => !UsableAtTheEnd(h, port, byPort, plan)),
                _ => false,
            };
            Assert.True(holds, $"{context}: {unplaced.Port} unplaced as {unplaced.Cause} ({unplaced.Reason})");
            Assert.False(string.IsNullOrWhiteSpace(unplaced.Reason), context);
        }
    }

    private static bool UsableAtTheEnd(HostCandidate host, PortToPlace port, Dictionary<PortId, PortToPlace> byPort, PlacementPlan plan)
    {
        if (host.Status != HostStatus.Up || host.Host == port.From) return false;
        var placedHere = plan.Placements.Where(p => p.Host == host.Host).ToList();
        if (placedHere.Count >= Free(host)) return false;
        var group = port.Spec.AntiAffinityGroup;
        if (!IsGroup(group)) return true;
        return !host.PortsHere.Any(p => p.AntiAffinityGroup == group)
            && !placedHere.Any(p => byPort[p.Port].Spec.AntiAffinityGroup == group);
    }

    private static int Free(HostCandidate host) => host.Capacity < 0 || host.Load < 0 ? 0 : Math.Max(0, host.Capacity - host.Load);

    private static bool IsGroup(string? group) => !string.IsNullOrEmpty(group);
}
