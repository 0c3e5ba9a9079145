namespace Replug.Coordinator.Planning;

/// <summary>What the coordinator knows of a host's membership and availability.</summary>
public enum HostStatus
{
    /// <summary>Member of the cluster and reachable.</summary>
    Up,
    /// <summary>Not reachable from the coordinator's side; its lease may still run.</summary>
    Unreachable,
    /// <summary>Removed from the cluster (downed by the split brain resolver, left, or lease expired).</summary>
    Down,
    /// <summary>Up, but an operator took it out of placement.</summary>
    Drained,
}
