using Replug.Shared.Devices;

namespace Replug.Coordinator.Planning;

/// <summary>A port goes to a host; <paramref name="Reason"/> says why this host, for the operator.</summary>
public sealed record Placement(PortId Port, HostId Host, string Reason);

/// <summary>Why a port could not be placed, as a named cause (to count and test) beside the operator's text.</summary>
public enum UnplacedCause
{
    /// <summary>No host is Up, apart from the one the port leaves.</summary>
    NoUpHost,
    /// <summary>The policy is reserved-only and no reserved host is Up, apart from the one the port leaves.</summary>
    NoReservedHost,
    /// <summary>Every candidate host is full (counting the ports placed earlier in the plan).</summary>
    NoCapacity,
    /// <summary>Every candidate host with free capacity already carries a port of the port's anti-affinity group.</summary>
    AntiAffinity,
}

/// <summary>A port the plan could not place: it is never silently dropped.</summary>
public sealed record Unplaced(PortId Port, UnplacedCause Cause, string Reason);

/// <summary>
/// The planner's answer: every port it was given is in exactly one of the two lists, each in
/// planning order (higher priority first, then by port id).
/// </summary>
public sealed record PlacementPlan(IReadOnlyList<Placement> Placements, IReadOnlyList<Unplaced> Unplaced);
