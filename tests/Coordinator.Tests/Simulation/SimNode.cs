using Replug.Shared.Devices;
using Replug.Shared.Protocol;

namespace Replug.Coordinator.Tests.Simulation;

/// <summary>
/// One cluster node: a host (its agent is the node's process) or a coordinator node. The process
/// comes and goes (a new incarnation each start); membership is the cluster's view of it.
/// </summary>
public sealed class SimNode(int index, string name, bool coordinatorRole)
{
    public int Index { get; } = index;
    public string Name { get; } = name;
    public bool CoordinatorRole { get; } = coordinatorRole;
    public string Address { get; } = $"akka.tcp://replug@{name}:4053";
    public Akka.Actor.Address AkkaAddress { get; } = new("akka.tcp", "replug", name, 4053);

    /// <summary>The process runs (an agent, or a coordinator node that may host the singleton).</summary>
    public bool ProcessUp { get; set; }
    public long Incarnation { get; set; }
    /// <summary>
    /// The running process has not joined yet: it talks to no one in the cluster. The node may still
    /// be a <see cref="Member"/> through its previous incarnation, which the others now find
    /// unreachable (heartbeats to the old incarnation fail) until the join replaces it.
    /// </summary>
    public bool Joining { get; set; }
    /// <summary>A member of the cluster (joined, not yet downed or removed).</summary>
    public bool Member { get; set; }
    /// <summary>
    /// Joined while the cluster had no convergence (some member unreachable): Akka makes it
    /// WeaklyUp, and neither the split brain resolver nor the agents' leases count it until the
    /// cluster converges and the leader moves it to Up.
    /// </summary>
    public bool WeaklyUp { get; set; }
    /// <summary>Join order: the oldest coordinator member hosts the singleton.</summary>
    public long JoinedAs { get; set; }

    // For hosts only.
    public SimHostConfig? Host { get; init; }
    public SimKernel Kernel { get; } = new();
    public SimAgent? Agent { get; set; }

    public override string ToString() => Name;
}

/// <summary>
/// What a host has and is configured with (its agent's options file: survives restarts): its
/// ports over their NICs (preferred first), the devices it keeps for fail-over, every NIC in its
/// slots.
/// </summary>
public sealed record SimHostConfig(HostId Host, IReadOnlyList<SimPortConfig> Ports, IReadOnlyList<DeviceId> FailoverDevices,
    IReadOnlyList<(DeviceId Device, NicIdentity Identity)> Nics)
{
    public int Capacity => Ports.Count + FailoverDevices.Count;
}

public sealed record SimPortConfig(PortSpec Spec, IReadOnlyList<DeviceId> Members);
