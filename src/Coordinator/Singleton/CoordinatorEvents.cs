using Replug.Coordinator.Planning;
using Replug.Coordinator.Policies;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;

namespace Replug.Coordinator.Singleton;

/// <summary>
/// Marker for the coordinator's persisted events. They live apart from the wire messages, have
/// their own serializer and a version in their manifest (CoordinatorEventSerializer): an
/// event written by an earlier Replug is upcast when read.
/// </summary>
public interface ICoordinatorEvent
{
    DateTimeOffset At { get; }
}

/// <summary>A fail-over's identity: a port's move from one host, with every step recorded under it.</summary>
public readonly record struct FailoverId(Guid Value)
{
    public static FailoverId New() => new(Guid.NewGuid());
    public override string ToString() => Value.ToString("N")[..12];
}

public enum HostCommandKind { Attach, Detach }

/// <summary>Planned hot plug on one device of one host (DPDK's dev_detach / dev_attach), or a port's switch to another member there.</summary>
public enum DeviceOperationKind { Detach, Attach, SwitchPort }

public enum CommandOutcome
{
    Acknowledged,
    Refused,
    /// <summary>Its host was lost (its lease ran out): nothing will answer, and nothing it held forwards.</summary>
    HostLost,
    /// <summary>A newer command for the same port on the same host replaced it.</summary>
    Superseded,
}

public static class CoordinatorEvents
{
    /// <summary>A new singleton took over: its commands carry this epoch, and agents refuse older ones.</summary>
    public sealed record EpochStarted(long Epoch, string Node, DateTimeOffset At) : ICoordinatorEvent;

    public sealed record HostRegistered(HostId Host, string Address, long Incarnation, HostInventory Inventory, DateTimeOffset At) : ICoordinatorEvent;
    public sealed record HostStatusChanged(HostId Host, HostStatus Status, string Reason, DateTimeOffset At) : ICoordinatorEvent;
    public sealed record HostDrainChanged(HostId Host, bool Drained, DateTimeOffset At) : ICoordinatorEvent;
    /// <summary>An operator removed a Down host from the registry: its NICs, commands and unplugged devices go with it.</summary>
    public sealed record HostForgotten(HostId Host, string By, DateTimeOffset At) : ICoordinatorEvent;

    public sealed record NicAdded(HostId Host, NicReport Nic, DateTimeOffset At) : ICoordinatorEvent;
    public sealed record NicRemoved(HostId Host, DeviceId Device, NicIdentity Identity, DateTimeOffset At) : ICoordinatorEvent;
    /// <summary>A NIC removed on one host was added on another within the window (or as announced): a live migration.</summary>
    public sealed record NicMigrated(NicIdentity Nic, HostId From, HostId To, DeviceId Device, bool Announced, DateTimeOffset At) : ICoordinatorEvent;
    public sealed record NicFaulted(NicIdentity Nic, HostId Host, DeviceId Device, string Reason, DateTimeOffset At) : ICoordinatorEvent;
    public sealed record MigrationAnnounced(NicIdentity Nic, HostId From, HostId To, MigrationPhase Phase, DateTimeOffset At) : ICoordinatorEvent;

    /// <summary>The NIC tracker's windows that ended by <paramref name="At"/> were closed: pending removals became faults.</summary>
    public sealed record NicWindowsClosed(DateTimeOffset At) : ICoordinatorEvent;

    public sealed record PortReported(HostId Host, PortReport Port, DateTimeOffset At) : ICoordinatorEvent;
    /// <summary>
    /// A port's location changed without a fail-over (it followed its NIC through a migration):
    /// the old host detaches it first, then the new one attaches it over <paramref name="Devices"/>.
    /// </summary>
    public sealed record PortMoved(PortId Port, HostId From, HostId To, string Reason, DateTimeOffset At, IReadOnlyList<DeviceId>? Devices = null) : ICoordinatorEvent;
    /// <summary>A port escalated while its NIC may be migrating: it waits for the NIC tracker's verdict.</summary>
    public sealed record EscalationDeferred(HostId Host, PortId Port, string Reason, DateTimeOffset At) : ICoordinatorEvent;

    /// <summary>A command owed to an agent outside a fail-over (a detach, a port following its NIC, a port re-created after a restart).</summary>
    public sealed record CommandIssued(CommandId Id, HostId Host, HostCommandKind Kind, PortSpec Port, IReadOnlyList<DeviceId>? Devices,
        string Reason, DateTimeOffset At) : ICoordinatorEvent;
    /// <summary>A command was sent again (attempt <paramref name="Attempt"/>): the next try waits twice as long, up to a cap.</summary>
    public sealed record CommandRetried(CommandId Id, int Attempt, DateTimeOffset At) : ICoordinatorEvent;
    /// <summary>A command outside a fail-over is no longer owed: answered, refused, or its host was lost.</summary>
    public sealed record CommandSettled(CommandId Id, HostId Host, CommandOutcome Outcome, string Reason, DateTimeOffset At) : ICoordinatorEvent;

    /// <param name="To">The host a policy moves the port to (placed there when it can take it, else like any fail-over); null: the planner chooses.</param>
    public sealed record FailoverStarted(FailoverId Id, PortSpec Port, HostId? From, string Reason, DateTimeOffset At, HostId? To = null) : ICoordinatorEvent;
    public sealed record FailoverPlaced(FailoverId Id, HostId To, CommandId Command, long Epoch, string Reason, DateTimeOffset At) : ICoordinatorEvent;
    public sealed record FailoverUnplaced(FailoverId Id, string Reason, DateTimeOffset At) : ICoordinatorEvent;
    public sealed record FailoverCommandFailed(FailoverId Id, HostId To, CommandId Command, string Reason, DateTimeOffset At) : ICoordinatorEvent;
    public sealed record FailoverCompleted(FailoverId Id, HostId To, CommandId Command, DateTimeOffset At) : ICoordinatorEvent;
    /// <summary>The fail-over is no longer needed (the port recovered where it was, or followed a migration).</summary>
    public sealed record FailoverCancelled(FailoverId Id, string Reason, DateTimeOffset At) : ICoordinatorEvent;

    /// <summary>
    /// An operation on a device was decided (by an operator, or by a policy in auto mode): its
    /// command <paramref name="Id"/> is owed to the host until it answers, retried like a port's
    /// command (<see cref="CommandRetried"/>) and ended by <see cref="CommandSettled"/>.
    /// </summary>
    /// <param name="Port">For <see cref="DeviceOperationKind.SwitchPort"/>: the port whose traffic moves to <paramref name="Device"/>.</param>
    /// <param name="By">Who asked: "operator", or "policy:NAME".</param>
    public sealed record DeviceOperationStarted(CommandId Id, HostId Host, DeviceOperationKind Kind, DeviceId Device, PortId? Port, string By,
        string Reason, DateTimeOffset At) : ICoordinatorEvent;

    /// <summary>The policies' settings changed (an operator, through the API): they outlive restarts and win over the configuration file.</summary>
    public sealed record PoliciesConfigured(PolicySettings Settings, string By, DateTimeOffset At) : ICoordinatorEvent;

    /// <summary>
    /// A policy's verdict, recorded before anything is done about it: in auto mode with the
    /// operation (<paramref name="Operation"/>) or fail-over (<paramref name="Failover"/>) that
    /// carries it out, in advise mode with neither.
    /// </summary>
    public sealed record PolicyDecided(string Policy, PolicyMode Mode, PolicyAction Action, string Reason, IReadOnlyDictionary<string, double> Inputs,
        CommandId? Operation, FailoverId? Failover, DateTimeOffset At) : ICoordinatorEvent;
}
