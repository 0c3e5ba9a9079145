using Replug.Shared.Devices;

namespace Replug.Shared.Protocol;

/// <summary>Marker for every message between an agent and the coordinator: bound to <c>HostProtocolSerializer</c>.</summary>
public interface IHostMessage;

/// <summary>A command's identity: the coordinator retries with the same id, the agent applies it once.</summary>
public readonly record struct CommandId(Guid Value)
{
    public static CommandId New() => new(Guid.NewGuid());
    public override string ToString() => Value.ToString("N")[..12];
}

/// <summary>A NIC as an agent reports it.</summary>
public sealed record NicReport(DeviceId Device, NicIdentity Identity, string? PciSlot, bool Healthy);

/// <summary>
/// What the coordinator needs to place a port on another host: restart priority (higher tiers
/// placed first) and an anti-affinity group (two ports of one group never share a host).
/// </summary>
public sealed record PortSpec(PortId Port, int Priority = 0, string? AntiAffinityGroup = null);

/// <summary>
/// A logical port as an agent reports it. <paramref name="Fenced"/>: the port knows its active
/// device but keeps it out of the data path (no majority, or not yet confirmed by the coordinator),
/// so it does not forward.
/// </summary>
public sealed record PortReport(PortSpec Spec, IReadOnlyList<DeviceId> Members, DeviceId? Active, bool Escalated, bool Fenced = false)
{
    public PortId Port => Spec.Port;

    /// <summary>Whether the port carries traffic on the reporting host.</summary>
    public bool Forwarding => Active is not null && !Escalated && !Fenced;
}

/// <summary>
/// A NIC's traffic as its agent measures it: each direction's smoothed rate (bits per second) and
/// the link's capacity (the kernel's speed, or the configured one). A full-duplex link gives each
/// direction all of it, so the busier direction is the load.
/// </summary>
public sealed record NicLoadSample(DeviceId Device, double CapacityBps, double RxBps, double TxBps)
{
    public double Bps => Math.Max(RxBps, TxBps);
    public double Utilization => CapacityBps > 0 ? Bps / CapacityBps : 0;
}

/// <summary>
/// A host's whole inventory. Capacity is its number of fail-over slots: ports failed over from
/// other hosts that it can take (its own ports' devices are not slots: they cannot carry a
/// foreign port). Load is how many foreign ports it carries now, so Capacity - Load is the room
/// left for fail-overs. Reserved marks a host kept free for fail-over (used first).
/// </summary>
public sealed record HostInventory(IReadOnlyList<NicReport> Nics, IReadOnlyList<PortReport> Ports, int Capacity, int Load, bool Reserved = false)
{
    public static readonly HostInventory Empty = new([], [], 0, 0);
}

/// <summary>agent &lt;-&gt; coordinator, grouped by conversation.</summary>
public static class HostProtocol
{
    // Registration: an agent announces itself (again after every restart: Incarnation grows).
    /// <param name="NewestEpoch">
    /// The newest coordinator epoch this agent has seen: a coordinator whose journal is behind it
    /// (restored, emptied) starts above it, so an epoch is never used twice.
    /// </param>
    public sealed record RegisterHost(HostId Host, string Address, long Incarnation, HostInventory Inventory, long NewestEpoch = 0) : IHostMessage;
    /// <param name="OwnedPorts">
    /// The ports this host may carry: a host that returns after a partition re-activates only
    /// these and lets the others go (they were failed over while it was away).
    /// </param>
    /// <param name="IncomingPorts">
    /// Ports on their way to this host (an attach is owed): kept as they are, neither unfenced
    /// (the attach does that, if it is still wanted) nor detached.
    /// </param>
    /// <param name="Incarnation">
    /// The incarnation whose registration this answers: a restarted agent ignores an answer to
    /// its predecessor's (delayed) registration, which says nothing about what it may carry.
    /// </param>
    public sealed record HostRegistered(HostId Host, long Epoch, IReadOnlyList<PortId> OwnedPorts, IReadOnlyList<PortId>? IncomingPorts = null,
        long Incarnation = 0) : IHostMessage;

    // Reports: every change after registration. Idempotent: a duplicate changes nothing.
    public sealed record NicAdded(HostId Host, NicReport Nic) : IHostMessage;
    public sealed record NicRemoved(HostId Host, DeviceId Device, NicIdentity Identity) : IHostMessage;
    public sealed record PortChanged(HostId Host, PortReport Port) : IHostMessage;
    /// <summary>The port has no healthy device on this host: the coordinator must move it.</summary>
    public sealed record PortEscalated(HostId Host, PortId Port, string Reason) : IHostMessage;

    // Commands: carry an id and the plan's epoch; an agent refuses an epoch older than the newest it has seen.
    /// <param name="Devices">The devices to run the port over (it followed them in a migration); null: the host's fail-over devices.</param>
    /// <param name="Incarnation">
    /// The agent incarnation the coordinator addresses (the one it registered): a restarted agent at
    /// the same address refuses a command meant for its predecessor (0: any).
    /// </param>
    public sealed record AttachPort(CommandId Id, long Epoch, PortSpec Port, IReadOnlyList<DeviceId>? Devices = null, long Incarnation = 0) : IHostMessage;
    public sealed record DetachPort(CommandId Id, long Epoch, PortId Port, long Incarnation = 0) : IHostMessage;
    public sealed record CommandAcknowledged(CommandId Id, HostId Host, long Epoch) : IHostMessage;
    /// <param name="Epoch">
    /// The epoch of the copy refused: a delayed copy from an older epoch is refused while the
    /// current one may be applied, so the coordinator judges only refusals of its own epoch.
    /// </param>
    /// <param name="Incarnation">The refusing agent's incarnation (0: unknown).</param>
    public sealed record CommandRefused(CommandId Id, HostId Host, string Reason, long NewestEpoch, long Epoch = 0, long Incarnation = 0) : IHostMessage;

    // Leases: what lets a host's ports forward. The agent asks every so often; the coordinator
    // answers only while it sees a majority and the host as reachable, and the agent installs the
    // lease in the kernel (a timeout the kernel enforces with no process alive), counted from when
    // it ASKED: the kernel's lease never outlives the coordinator's record of it.
    /// <param name="Sequence">The agent's counter for this request: the grant names it, and the agent counts the lease from when it sent it.</param>
    /// <param name="KernelEnforced">
    /// Every port of this host stops forwarding in the kernel when the lease runs out: the
    /// coordinator may then move them once the lease it granted has run out, without waiting for
    /// the agent to notice the cut itself.
    /// </param>
    public sealed record RenewLease(HostId Host, long Incarnation, long Sequence, bool KernelEnforced) : IHostMessage;
    /// <param name="Duration">How long from the request the host may forward (the coordinator counts it from when it answered, which is later).</param>
    /// <param name="Ports">The ports this host may forward now, in the coordinator's view: any other stays fenced in the kernel.</param>
    public sealed record LeaseGranted(HostId Host, long Incarnation, long Sequence, long Epoch, TimeSpan Duration, IReadOnlyList<PortId> Ports) : IHostMessage;

    // Load: each NIC's smoothed traffic, sent when it changed by more than the agent's threshold or at its heartbeat.
    /// <param name="Nics">Every NIC whose load this agent measures, with the figures it last reported for each.</param>
    public sealed record NicLoadReported(HostId Host, long Incarnation, IReadOnlyList<NicLoadSample> Nics) : IHostMessage;

    // Planned hot plug (DPDK's dev_detach / dev_attach, driven by an operator or a policy): commands
    // like the ports' ones (id, epoch, incarnation), acknowledged once DONE, not when received.
    /// <summary>
    /// Take the device out of service: every port using it moves its traffic to another member
    /// first (remap), then the device is released (a net device's link goes down; a PCI function
    /// is unbound and removed, so the card can be pulled). Refused, changing nothing, when a port
    /// would be left without a healthy device.
    /// </summary>
    public sealed record DetachDevice(CommandId Id, long Epoch, DeviceId Device, string Reason, long Incarnation = 0) : IHostMessage;
    /// <summary>
    /// Bring a detached device back (rescan for a removed PCI function, bind its driver, bring the
    /// link up, re-apply its configuration) and offer it to its ports, which take it back as their
    /// revertive setting says. Acknowledged once it is in service.
    /// </summary>
    public sealed record AttachDevice(CommandId Id, long Epoch, DeviceId Device, string Reason, long Incarnation = 0) : IHostMessage;
    /// <summary>
    /// Within one host: the port's traffic moves to <paramref name="Device"/>, one of its healthy
    /// members (a load balancer's remap). Refused when the device is not a healthy member.
    /// </summary>
    public sealed record SwitchPortDevice(CommandId Id, long Epoch, PortId Port, DeviceId Device, long Incarnation = 0) : IHostMessage;
}

/// <summary>Orchestrators announce live migrations ahead: an announced NIC move never triggers a fail-over.</summary>
public enum MigrationPhase
{
    Start,
    Complete,
    Abort,
}

/// <summary>Marker for operators' requests to the coordinator (through its HTTP API).</summary>
public interface IOperatorMessage;

public static class OperatorProtocol
{
    public sealed record MigrationNotice(NicIdentity Nic, HostId From, HostId To, MigrationPhase Phase) : IOperatorMessage;
    public sealed record DrainHost(HostId Host) : IOperatorMessage;
    public sealed record UndrainHost(HostId Host) : IOperatorMessage;
    public sealed record OperatorAck(bool Accepted, string? Error = null) : IOperatorMessage;
}

/// <summary>Where each node's host agent and the coordinator's proxy live, so either side can reach the other from an address alone.</summary>
public static class ActorNames
{
    public const string HostAgent = "host-agent";
    public const string Coordinator = "coordinator";
    public const string CoordinatorProxy = "coordinator-proxy";

    public static string HostAgentAt(string nodeAddress) => $"{nodeAddress}/user/{HostAgent}";
}
