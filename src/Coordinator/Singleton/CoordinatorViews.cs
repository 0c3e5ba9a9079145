using Replug.Coordinator.Planning;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;

namespace Replug.Coordinator.Singleton;

/// <summary>
/// A host as operators see it (<c>GET /hosts</c>): a contract of its own, apart from the state
/// (<see cref="HostRecord"/>) and the persisted schema, so changing one does not silently change the
/// others. Its ports and load follow the ports, not what the host reported at registration.
/// </summary>
/// <param name="Ports">The ports this host carries now (or is about to: on their way to it).</param>
/// <param name="Capacity">Fail-over slots: how many ports of other hosts it can take in all.</param>
/// <param name="Load">The ports of other hosts it carries on those slots.</param>
/// <param name="Traffic">
/// Each NIC's traffic as the host's agent last reported it (its current incarnation's; NICs it has not
/// measured yet are left out): what the web view plots over time. Measurements, not journaled.
/// </param>
public sealed record HostView(HostId Host, string Address, long Incarnation, HostStatus Status, bool Drained, DateTimeOffset Since,
    IReadOnlyList<NicReport> Nics, IReadOnlyList<PortId> Ports, int Capacity, int Load, bool Reserved,
    IReadOnlyList<NicLoadSample>? Traffic = null);

/// <summary>
/// A logical port as operators see it (<c>GET /ports</c>). <paramref name="Redundant"/>: its host
/// reported more than one device for it; a port without (a migrated port that found no free
/// fail-over device for a standby, or a port over one device) is flagged, not hidden.
/// </summary>
public sealed record PortView(PortSpec Spec, HostId Host, PortState State, FailoverId? Failover, DeviceId? Active,
    IReadOnlyList<DeviceId> Members, bool Forwarding, bool Redundant, HostId? Home, HostId? MovingFrom, bool Fenced = false);

public static class CoordinatorViews
{
    public static IReadOnlyList<HostView> Hosts(CoordinatorState state)
    {
        var candidates = state.Candidates().ToDictionary(c => c.Host);
        return [.. state.Hosts.Values.OrderBy(h => h.Host.Value, StringComparer.Ordinal).Select(h => new HostView(
            h.Host, h.Address, h.Incarnation, h.Status, h.Drained, h.Since, h.Inventory.Nics,
            [.. candidates[h.Host].PortsHere.Select(p => p.Port).Concat(state.IncomingPorts(h.Host)).Distinct().OrderBy(p => p.Value, StringComparer.Ordinal)],
            h.Inventory.Capacity, candidates[h.Host].Load, h.Inventory.Reserved,
            [.. h.Inventory.Nics.Select(n => state.Loads.Of(h.Host, h.Incarnation, n.Device)).OfType<NicLoadSample>()]))];
    }

    public static IReadOnlyList<PortView> Ports(CoordinatorState state) =>
        [.. state.Ports.Values.OrderBy(p => p.Spec.Port.Value, StringComparer.Ordinal).Select(p => new PortView(
            p.Spec, p.Host, p.State, p.Failover, p.LastReport?.Active, p.LastReport?.Members ?? [],
            p.State == PortState.Active && p.LastReport is { Forwarding: true },
            p.LastReport is { Members.Count: > 1 }, p.Home, p.Move?.From, p.LastReport is { Fenced: true }))];
}
