using Replug.Coordinator.Policies;
using Replug.Shared.Devices;

namespace Replug.Coordinator.Tests.Policies;

/// <summary>Hand-built snapshots: hosts of 10 Gb/s NICs, ports given by their active device and members.</summary>
public static class PolicyFixtures
{
    public const double Gbps = 1e9;
    public const double NicCapacity = 10 * Gbps;
    public static readonly DateTimeOffset T0 = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    public static DeviceId Nic(string name) => DeviceId.Net(name);

    /// <summary>A host with NICs named "HOST-n0".. each at no traffic; traffic comes from the ports put on them (<see cref="Snapshot"/>).</summary>
    public static HostLoad Host(string name, int nics = 4, int freeSlots = 4, bool standby = false, params int[] unplugged) =>
        new(new HostId(name), Up: true, Drained: false, Standby: standby,
            [.. Enumerable.Range(0, nics).Select(i => new NicLoad(Nic($"{name}-n{i}"), NicCapacity, 0, Healthy: true, Plugged: !unplugged.Contains(i)))],
            freeSlots);

    public static PortLoad Port(string name, string host, int active, double gbps, params int[] spares) =>
        new(new PortId(name), new HostId(host), Nic($"{host}-n{active}"), [Nic($"{host}-n{active}"), .. spares.Select(s => Nic($"{host}-n{s}"))], gbps * Gbps);

    /// <summary>The hosts with each NIC's traffic the sum of the ports active on it.</summary>
    public static PolicySnapshot Snapshot(IEnumerable<HostLoad> hosts, IEnumerable<PortLoad> ports)
    {
        var portList = ports.ToList();
        return new PolicySnapshot(
            [.. hosts.Select(h => h with
            {
                Nics = [.. h.Nics.Select(n => n with { Bps = portList.Where(p => p.Host == h.Host && p.Active == n.Device).Sum(p => p.Bps) })],
            })],
            portList);
    }

    public static PolicySnapshot ApplyAll(PolicySnapshot snapshot, IEnumerable<PolicyDecision> decisions, DateTimeOffset now) =>
        decisions.Aggregate(snapshot, (s, d) => s.Apply(d.Action, now));
}
