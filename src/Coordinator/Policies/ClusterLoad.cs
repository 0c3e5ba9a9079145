using Replug.Coordinator.Planning;
using Replug.Coordinator.Singleton;
using Replug.Shared.Devices;

namespace Replug.Coordinator.Policies;

/// <summary>The coordinator's state and the agents' load reports, as the policies see them: one <see cref="PolicySnapshot"/>.</summary>
public static class ClusterLoad
{
    /// <summary>What a NIC is taken to carry before its agent has reported a figure (a veth, an agent that does not sample).</summary>
    public const double UnknownCapacityBps = 10e9;

    public static PolicySnapshot Snapshot(CoordinatorState state)
    {
        var candidates = state.Candidates().ToDictionary(c => c.Host);
        var hosts = new List<HostLoad>();
        var nicBps = new Dictionary<(HostId, DeviceId), double>();
        foreach (var host in state.Hosts.Values.OrderBy(h => h.Host.Value, StringComparer.Ordinal))
        {
            var nics = new List<NicLoad>();
            foreach (var nic in host.Inventory.Nics.OrderBy(n => n.Device.Name, StringComparer.Ordinal))
            {
                var sample = state.Loads.Of(host.Host, host.Incarnation, nic.Device);
                var unplugged = state.Unplugged.GetValueOrDefault((host.Host, nic.Device));
                var open = state.OpenOperationOn(host.Host, nic.Device);
                var plugged = open?.Kind switch
                {
                    Singleton.DeviceOperationKind.Detach => false,
                    Singleton.DeviceOperationKind.Attach => true,
                    _ => unplugged is null,
                };
                // A NIC on its host is healthy unless taken out of service (the link state an agent reports
                // when a NIC appears goes stale; see CoordinatorState.InService). A policy's unplug took the
                // link down on purpose: the NIC is as healthy as when it went. An operator's detach
                // (maintenance, a card pulled) is out of service: no policy plugs it back.
                var healthy = unplugged?.ByPolicy ?? true;
                var bps = plugged ? sample?.Bps ?? 0 : 0;
                nicBps[(host.Host, nic.Device)] = bps;
                nics.Add(new NicLoad(nic.Device, sample?.CapacityBps is > 0 and var c ? c : UnknownCapacityBps, bps, healthy, plugged));
            }
            var room = candidates.TryGetValue(host.Host, out var candidate) ? Math.Max(0, candidate.Capacity - candidate.Load) : 0;
            hosts.Add(new HostLoad(host.Host, host.Status == HostStatus.Up, host.Drained, state.Standby.Contains(host.Host), nics, room));
        }

        var carried = state.Ports.Values.Where(p => p.State == PortState.Active && p.LastReport is not null).ToList();
        // A NIC's traffic is shared evenly by the ports active on it: the agent measures NICs, not ports.
        var sharing = carried.Where(p => p.LastReport!.Active is not null).GroupBy(p => (p.Host, p.LastReport!.Active!.Value))
            .ToDictionary(g => g.Key, g => g.Count());
        var ports = carried.OrderBy(p => p.Spec.Port.Value, StringComparer.Ordinal).Select(p =>
        {
            var active = p.LastReport!.Forwarding ? p.LastReport.Active : null;
            var bps = active is { } a && sharing.TryGetValue((p.Host, a), out var n) ? nicBps.GetValueOrDefault((p.Host, a)) / n : 0;
            return new PortLoad(p.Spec.Port, p.Host, active, p.LastReport.Members, bps, state.LastPolicyMove(p.Spec.Port));
        }).ToList();
        return new PolicySnapshot(hosts, ports);
    }
}
