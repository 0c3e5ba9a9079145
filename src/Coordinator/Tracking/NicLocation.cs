using Replug.Shared.Devices;

namespace Replug.Coordinator.Tracking;

/// <summary>Where a NIC is present: on <paramref name="Host"/> as <paramref name="Device"/>, since <paramref name="Since"/>.</summary>
public sealed record NicLocation(NicIdentity Nic, HostId Host, DeviceId Device, DateTimeOffset Since);

/// <summary>The state of one identity on one host, as a <see cref="NicTracker"/> holds it.</summary>
public enum NicPlacementState
{
    /// <summary>The host reports the NIC and nothing is pending: it is a location.</summary>
    Present,
    /// <summary>The host reported a removal; the tracker waits until a deadline for an add elsewhere (or here again).</summary>
    Departing,
    /// <summary>
    /// The host reported an add while the identity was still present on another host; the tracker waits
    /// until a deadline for that host's removal (the destination of a migration often reports first).
    /// </summary>
    Arriving,
}

/// <summary>What happened to an orchestrator's migration announcement.</summary>
public enum AnnouncementStatus
{
    Started,
    Completed,
    Aborted,
    /// <summary>Neither complete nor abort came within the announced timeout.</summary>
    Lapsed,
}
