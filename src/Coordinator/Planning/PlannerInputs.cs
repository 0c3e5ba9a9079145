using Replug.Shared.Devices;
using Replug.Shared.Protocol;

namespace Replug.Coordinator.Planning;

/// <summary>
/// A host as the planner sees it: a snapshot of the coordinator's registry. Capacity is how
/// many ports the host can carry in all, Load how many it carries now, Reserved marks a host
/// kept free for fail-over. <paramref name="PortsHere"/> are the ports the host carries now,
/// read for their anti-affinity groups.
/// </summary>
/// <remarks>
/// The planner takes the host as reported: a port that is leaving this host still counts in
/// its load and its anti-affinity groups until the host reports it gone, because a move is
/// not atomic (the detach may lag the attach, or fail).
/// </remarks>
public sealed record HostCandidate(
    HostId Host,
    HostStatus Status,
    int Capacity,
    int Load,
    bool Reserved,
    IReadOnlyCollection<PortSpec> PortsHere);

/// <summary>
/// A port that needs a host. <paramref name="From"/> is the host it leaves (lost, or whose
/// NICs for it all failed): never chosen again for this port, even when it is still Up.
/// Null for a port with no current host.
/// </summary>
public sealed record PortToPlace(PortSpec Spec, HostId? From = null)
{
    public PortId Port => Spec.Port;
}

/// <summary>How reserved (fail-over) hosts take part in placement.</summary>
public enum ReservedHostPolicy
{
    /// <summary>Reserved hosts are tried before any other (vSphere HA's dedicated fail-over hosts).</summary>
    PreferReserved,
    /// <summary>Only reserved hosts are candidates; with none usable, the port stays unplaced.</summary>
    ReservedOnly,
    /// <summary>A reserved host is a candidate like any other.</summary>
    Ignore,
}

/// <summary>The operator's choices that shape a plan.</summary>
public sealed record PlannerPolicy(ReservedHostPolicy Reserved = ReservedHostPolicy.PreferReserved)
{
    public static readonly PlannerPolicy Default = new();
}
