using Replug.Shared.Devices;
using Replug.Shared.Protocol;

namespace Replug.Coordinator.Tests.Simulation;

/// <summary>
/// The hardware and configuration of a run's hosts, drawn from the seed: ports spread over the
/// hosts, each over a preferred NIC and usually a standby, a few fail-over devices per host,
/// every NIC with a permanent MAC of its own.
/// </summary>
public static class SimLayout
{
    public static IReadOnlyList<SimHostConfig> Hosts(Random random, int hosts, int ports, int failoverDevices)
    {
        var portsOf = Enumerable.Range(0, hosts).Select(_ => new List<SimPortConfig>()).ToArray();
        var nicsOf = Enumerable.Range(0, hosts).Select(_ => new List<(DeviceId, NicIdentity)>()).ToArray();
        var first = random.Next(hosts);
        DeviceId Nic(int host, string name)
        {
            var device = DeviceId.Net(name);
            nicsOf[host].Add((device, new NicIdentity(NicIdentityKind.PermanentMac, $"02:00:00:{host + 1:x2}:{nicsOf[host].Count + 1:x2}:00")));
            return device;
        }
        for (var p = 0; p < ports; p++)
        {
            var host = (first + p) % hosts;
            var n = portsOf[host].Count;
            var members = new List<DeviceId> { Nic(host, $"ens{n + 1}a") };
            if (random.NextDouble() < 0.7) members.Add(Nic(host, $"ens{n + 1}b"));
            var group = random.NextDouble() < 0.3 ? $"g{random.Next(3)}" : null;
            portsOf[host].Add(new SimPortConfig(new PortSpec(new PortId($"p{p + 1:00}"), random.Next(3), group), members));
        }
        return [.. Enumerable.Range(0, hosts).Select(h =>
        {
            var failover = Enumerable.Range(1, failoverDevices).Select(i => Nic(h, $"fo{i}")).ToList();
            return new SimHostConfig(new HostId($"h{h + 1}"), portsOf[h], failover, nicsOf[h]);
        })];
    }
}
