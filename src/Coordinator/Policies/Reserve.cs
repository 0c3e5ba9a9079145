using Replug.Shared.Devices;

namespace Replug.Coordinator.Policies;

/// <summary>
/// The redundancy no policy may spend: every port keeps <see cref="SpareNicsPerPort"/> usable
/// members besides its active one (a local fail-over is a remap, not an outage), and the cluster
/// keeps <see cref="SpareHosts"/> available hosts with room for a fail-over.
/// </summary>
public sealed record Reserve(int SpareNicsPerPort = 1, int SpareHosts = 1)
{
    public IReadOnlyList<string> Validate(string prefix = "")
    {
        var problems = new PolicyLevel.Problems(prefix);
        problems.Check(SpareNicsPerPort is >= 0 and <= 8, nameof(SpareNicsPerPort), $"{SpareNicsPerPort} must be between 0 and 8");
        problems.Check(SpareHosts is >= 0 and <= 1000, nameof(SpareHosts), $"{SpareHosts} must be between 0 and 1000");
        return problems.All;
    }

    /// <summary>The port's usable members other than its active device.</summary>
    public static int SparesOf(PolicySnapshot snapshot, PortLoad port, DeviceId? without = null)
    {
        if (snapshot.Host(port.Host) is not { } host) return 0;
        return port.Members.Count(m => m != port.Active && m != without && host.Nic(m) is { Usable: true });
    }

    /// <summary>Whether the port has its reserve now.</summary>
    public bool Holds(PolicySnapshot snapshot, PortLoad port) => SparesOf(snapshot, port) >= SpareNicsPerPort;

    /// <summary>
    /// Whether <paramref name="nic"/> may be unplugged: no port is active on it, and every port
    /// that has it as a member still has its reserve without it (a port already short of its
    /// reserve keeps every member it has).
    /// </summary>
    public bool AllowsUnplug(PolicySnapshot snapshot, HostId host, DeviceId nic) =>
        snapshot.PortsOn(host).All(p => p.Active != nic && (!p.Members.Contains(nic) || SparesOf(snapshot, p, without: nic) >= SpareNicsPerPort));

    /// <summary>Available hosts with room for a fail-over.</summary>
    public static int HostsWithRoom(PolicySnapshot snapshot, HostId? without = null) =>
        snapshot.Hosts.Count(h => h.Available && h.FreeSlots > 0 && h.Host != without);

    /// <summary>Whether <paramref name="host"/> may go to standby: the cluster keeps its spare hosts without it.</summary>
    public bool AllowsStandby(PolicySnapshot snapshot, HostId host) => HostsWithRoom(snapshot, without: host) >= SpareHosts;
}
