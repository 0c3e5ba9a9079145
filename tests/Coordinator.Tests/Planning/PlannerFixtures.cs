using Replug.Coordinator.Planning;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;

namespace Replug.Coordinator.Tests.Planning;

/// <summary>Short builders for planner inputs, so each test states only what it is about.</summary>
internal static class PlannerFixtures
{
    public static HostCandidate Host(string id, int capacity = 10, int load = 0, HostStatus status = HostStatus.Up,
        bool reserved = false, params PortSpec[] here) =>
        new(new HostId(id), status, capacity, load, reserved, here);

    public static PortToPlace Port(string id, int priority = 0, string? group = null, string? from = null) =>
        new(new PortSpec(new PortId(id), priority, group), from is null ? null : new HostId(from));

    public static PortSpec Existing(string id, string? group = null) => new(new PortId(id), 0, group);

    public static PlacementPlan Plan(IReadOnlyList<PortToPlace> ports, IReadOnlyList<HostCandidate> hosts,
        ReservedHostPolicy reserved = ReservedHostPolicy.PreferReserved) =>
        FailoverPlanner.Plan(ports, hosts, new PlannerPolicy(reserved));

    /// <summary>The host a port went to, or null when it was not placed.</summary>
    public static string? HostOf(this PlacementPlan plan, string port) =>
        plan.Placements.SingleOrDefault(p => p.Port.Value == port)?.Host.Value;

    public static Unplaced UnplacedOf(this PlacementPlan plan, string port) =>
        Assert.Single(plan.Unplaced, u => u.Port.Value == port);

    public static string[] PlacedPorts(this PlacementPlan plan) => plan.Placements.Select(p => p.Port.Value).ToArray();

    public static string[] UnplacedPorts(this PlacementPlan plan) => plan.Unplaced.Select(u => u.Port.Value).ToArray();
}
