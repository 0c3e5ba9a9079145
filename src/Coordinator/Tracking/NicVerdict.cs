using Replug.Shared.Devices;

namespace Replug.Coordinator.Tracking;

/// <summary>
/// What a <see cref="NicTracker"/> concluded from one report, notice or expiry. Every verdict carries a
/// human-readable <see cref="Reason"/> for the log and the operators' API; identity conflicts (the same
/// identity present on several hosts) are named there too.
/// </summary>
public abstract record NicVerdict(string Reason)
{
    /// <summary>A NIC seen for the first time (or after its fault was forgotten): a new location.</summary>
    public sealed record Placed(NicLocation Location, string Reason) : NicVerdict(Reason);

    /// <summary>
    /// A NIC came back (on <see cref="NicLocation.Host"/>) after its removal from <paramref name="FaultedOn"/>
    /// was already reported <see cref="Faulted"/>. Its fail-over has happened; the coordinator may fail
    /// back or keep it as a standby.
    /// </summary>
    public sealed record Recovered(NicLocation Location, HostId FaultedOn, string Reason) : NicVerdict(Reason);

    /// <summary>
    /// Back in place: removed and added again on the same host within the window (a re-plug, a driver
    /// reload), or a new device name on the same host. Not a migration, not a fault; the device name in
    /// <paramref name="Location"/> is the current one.
    /// </summary>
    public sealed record Replugged(NicLocation Location, string Reason) : NicVerdict(Reason);

    /// <summary>The NIC moved: its location and its logical port follow it to <paramref name="To"/>; no fail-over.</summary>
    public sealed record Migrated(NicIdentity Nic, HostId From, HostId To, DeviceId NewDevice, bool Announced, string Reason) : NicVerdict(Reason);

    /// <summary>A removal waits until <paramref name="Deadline"/> for an add elsewhere (or a notice); then it faults.</summary>
    public sealed record RemovalPending(NicIdentity Nic, HostId Host, DeviceId Device, DateTimeOffset Deadline, bool Announced, string Reason) : NicVerdict(Reason);

    /// <summary>
    /// An add on <paramref name="Host"/> while the identity is still present elsewhere waits until
    /// <paramref name="Deadline"/> for that host's removal; then it is <see cref="Duplicated"/>.
    /// </summary>
    public sealed record ArrivalPending(NicIdentity Nic, HostId Host, DeviceId Device, DateTimeOffset Deadline, string Reason) : NicVerdict(Reason);

    /// <summary>The window (or the announced timeout) passed with no add of the identity: fail over.</summary>
    public sealed record Faulted(NicIdentity Nic, HostId Host, DeviceId Device, string Reason) : NicVerdict(Reason);

    /// <summary>
    /// An identity conflict: the NIC at <paramref name="Location"/> is present while another NIC with the
    /// same identity is still present on <paramref name="AlsoPresentOn"/> (cloned VMs, a misconfigured MAC).
    /// Both are tracked, never merged; an operator should look.
    /// </summary>
    public sealed record Duplicated(NicLocation Location, IReadOnlyList<HostId> AlsoPresentOn, string Reason) : NicVerdict(Reason);

    /// <summary>An orchestrator's migration announcement started, ended or lapsed; no location moved.</summary>
    public sealed record AnnouncementChanged(NicIdentity Nic, HostId From, HostId To, AnnouncementStatus Status, DateTimeOffset? Deadline, string Reason) : NicVerdict(Reason);

    /// <summary>
    /// Nothing for the coordinator to act on: a duplicate or stale report or notice, or an early arrival
    /// withdrawn before it was confirmed.
    /// </summary>
    public sealed record Ignored(string Reason) : NicVerdict(Reason);
}
