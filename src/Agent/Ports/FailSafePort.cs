using Replug.Shared.Devices;

namespace Replug.Agent.Ports;

/// <summary>What the port must do after a change; carried out in order by the group actor.</summary>
public abstract record PortAction
{
    /// <summary>Move traffic from <see cref="From"/> (null: the port had none) to <see cref="To"/>.</summary>
    public sealed record Switch(DeviceId? From, DeviceId To) : PortAction;

    /// <summary>Take <see cref="Device"/> out of the path: no healthy sub-device is left.</summary>
    public sealed record Deactivate(DeviceId Device) : PortAction;

    /// <summary>The port has no healthy sub-device: the coordinator must act.</summary>
    public sealed record Escalate(string Reason) : PortAction;

    /// <summary>A port that had escalated has a healthy sub-device again.</summary>
    public sealed record Recover(DeviceId Active) : PortAction;
}

/// <summary>
/// The fail-safe decision for one logical port (after DPDK's fail-safe PMD and the kernel's
/// net_failover): a preferred sub-device and standbys in preference order. A fault of the
/// active sub-device switches to the most preferred healthy standby; a healthy preferred
/// device takes the traffic back when the port is revertive; no healthy device left
/// escalates. Pure: the actor applies the actions and reports.
/// </summary>
public sealed class FailSafePort
{
    private readonly DeviceId[] _members;
    private readonly HashSet<DeviceId> _healthy = [];
    // Devices that were healthy once and then lost: only their return is subject to "non-revertive".
    private readonly HashSet<DeviceId> _lostOnce = [];

    public FailSafePort(PortId port, IReadOnlyList<DeviceId> members, bool revertive)
    {
        if (members.Count == 0) throw new ArgumentException($"port {port} has no devices", nameof(members));
        if (members.Distinct().Count() != members.Count) throw new ArgumentException($"port {port} lists a device twice", nameof(members));
        Port = port;
        _members = [.. members];
        Revertive = revertive;
    }

    public PortId Port { get; }
    public IReadOnlyList<DeviceId> Members => _members;
    public bool Revertive { get; }
    public DeviceId? Active { get; private set; }
    public bool Escalated { get; private set; }
    public DeviceId Preferred => _members[0];

    public bool IsMember(DeviceId device) => Array.IndexOf(_members, device) >= 0;
    public bool IsHealthy(DeviceId device) => _healthy.Contains(device);
    public IEnumerable<DeviceId> HealthyStandbys => _members.Where(m => m != Active && _healthy.Contains(m));

    /// <summary>
    /// Where the traffic goes should the active device be lost now: what <see cref="OnUnhealthy"/>
    /// would switch to (the most preferred healthy standby), or null when the port would escalate.
    /// </summary>
    public DeviceId? StandbyIfActiveLost
    {
        get
        {
            if (Active is null) return null;
            foreach (var m in _members)
                if (m != Active && _healthy.Contains(m)) return m;
            return null;
        }
    }

    /// <summary>
    /// A sub-device became usable (probed, restored, recovered). A revertive port moves to it
    /// when it is preferred over the active one; a non-revertive one only when it never failed.
    /// </summary>
    public IReadOnlyList<PortAction> OnHealthy(DeviceId device)
    {
        if (!IsMember(device) || !_healthy.Add(device)) return [];
        if (Active is null)
        {
            var best = MostPreferredHealthy()!.Value;
            Active = best;
            if (!Escalated) return [new PortAction.Switch(null, best)];
            Escalated = false;
            return [new PortAction.Switch(null, best), new PortAction.Recover(best)];
        }
        // A non-revertive port does not switch back to a device that failed (primary_reselect=failure,
        // as bonding calls it); a more preferred device that was merely slower to probe still wins.
        if ((Revertive || !_lostOnce.Contains(device)) && Rank(device) < Rank(Active.Value))
        {
            var from = Active.Value;
            Active = device;
            return [new PortAction.Switch(from, device)];
        }
        return [];
    }

    /// <summary>A sub-device faulted, is failing, or is being drained.</summary>
    public IReadOnlyList<PortAction> OnUnhealthy(DeviceId device, string reason)
    {
        if (!IsMember(device)) return [];
        if (_healthy.Remove(device)) _lostOnce.Add(device);
        if (Active != device) return [];
        var next = MostPreferredHealthy();
        if (next is { } standby)
        {
            Active = standby;
            return [new PortAction.Switch(device, standby)];
        }
        Active = null;
        Escalated = true;
        return [new PortAction.Deactivate(device), new PortAction.Escalate($"no healthy device left after {device} ({reason})")];
    }

    /// <summary>Why the port cannot move its traffic to <paramref name="device"/> on request, or null when it can.</summary>
    public string? WhyNotSwitchTo(DeviceId device) =>
        !IsMember(device) ? $"{device} is not a member of port {Port} (members: {string.Join(", ", _members)})"
        : !_healthy.Contains(device) ? $"{device} is not a healthy member of port {Port} (healthy: {Describe(_members.Where(_healthy.Contains))})"
        : null;

    /// <summary>
    /// An explicit switch (an operator's or a load balancer's remap within the host): the traffic
    /// moves to <paramref name="device"/> when it is a healthy member (nothing when it is the active
    /// one already, or cannot be: <see cref="WhyNotSwitchTo"/>). It stays there until that device is
    /// lost, or, on a revertive port, until a more preferred member becomes healthy again: a health
    /// report of a member that was healthy all along changes nothing.
    /// </summary>
    public IReadOnlyList<PortAction> SwitchTo(DeviceId device)
    {
        if (WhyNotSwitchTo(device) is not null || Active == device) return [];
        var from = Active;
        Active = device;
        return [new PortAction.Switch(from, device)];
    }

    private static string Describe(IEnumerable<DeviceId> devices) => devices.Any() ? string.Join(", ", devices) : "none";

    /// <summary>
    /// The data path could not make <paramref name="device"/> active: treat it as unusable for
    /// this port and pick again, so one broken sub-device never leaves the port without traffic.
    /// </summary>
    public IReadOnlyList<PortAction> OnSwitchFailed(DeviceId device, string error) =>
        Active == device ? OnUnhealthy(device, $"switch failed: {error}") : [];

    private DeviceId? MostPreferredHealthy()
    {
        foreach (var m in _members)
            if (_healthy.Contains(m)) return m;
        return null;
    }

    private int Rank(DeviceId device) => Array.IndexOf(_members, device);
}
