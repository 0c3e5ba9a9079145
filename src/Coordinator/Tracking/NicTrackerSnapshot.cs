using Replug.Shared.Devices;

namespace Replug.Coordinator.Tracking;

/// <summary>
/// Everything a <see cref="NicTracker"/> knows, as plain data, so that an event-sourced actor can persist it
/// and recover it with <see cref="NicTracker.FromSnapshot(NicTrackerSnapshot, NicTrackerOptions)"/>. Lists are
/// sorted by identity and host, so equal states give equal snapshots. Deadlines are absolute and kept as
/// they were, even if the options changed since.
/// </summary>
public sealed record NicTrackerSnapshot(
    int Version,
    IReadOnlyList<NicTrackerSnapshot.Placement> Placements,
    IReadOnlyList<NicTrackerSnapshot.Announcement> Announcements,
    IReadOnlyList<NicTrackerSnapshot.Fault> Faults)
{
    public const int CurrentVersion = 1;

    /// <summary>
    /// One identity on one host. <paramref name="Since"/> is when it entered <paramref name="State"/>;
    /// <paramref name="Deadline"/> is set exactly when the state is pending (departing or arriving);
    /// <paramref name="Announced"/> when an announcement protects it; <paramref name="DeviceAssumed"/> when a
    /// completion notice placed it before the host reported its device name.
    /// </summary>
    public sealed record Placement(
        NicIdentity Nic, HostId Host, DeviceId Device, NicPlacementState State, DateTimeOffset Since,
        DateTimeOffset? Deadline, bool Announced, bool DeviceAssumed);

    /// <summary>A migration announced by an orchestrator and not yet completed, aborted or lapsed.</summary>
    public sealed record Announcement(
        NicIdentity Nic, HostId From, HostId To, DateTimeOffset StartedAt, DateTimeOffset Deadline, DeviceId? FromDevice);

    /// <summary>A fault remembered until <paramref name="ForgetAt"/>, so that the NIC's return is a recovery.</summary>
    public sealed record Fault(NicIdentity Nic, HostId Host, DeviceId Device, DateTimeOffset FaultedAt, DateTimeOffset ForgetAt);
}
