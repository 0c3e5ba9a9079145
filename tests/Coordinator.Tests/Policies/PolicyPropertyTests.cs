using Replug.Coordinator.Policies;
using Replug.Shared.Devices;
using static Replug.Coordinator.Tests.Policies.PolicyFixtures;

namespace Replug.Coordinator.Tests.Policies;

/// <summary>
/// Random clusters (seeded; a failing seed is named and replays), every level, both policies in
/// auto: whatever they decide, no port that had its reserve loses it, no port is left on a NIC
/// that cannot carry it, and no host loses its last usable NIC.
/// </summary>
public sealed class PolicyPropertyTests
{
    private static PolicySnapshot RandomCluster(Random random)
    {
        var hosts = Enumerable.Range(0, random.Next(2, 7)).Select(h =>
        {
            var nics = random.Next(1, 5);
            var unplugged = Enumerable.Range(0, nics).Where(_ => random.NextDouble() < 0.2).ToArray();
            var host = Host($"h{h}", nics, freeSlots: random.Next(0, 4), unplugged: unplugged);
            return host with
            {
                Nics = [.. host.Nics.Select(n => n with { Healthy = random.NextDouble() > 0.1 })],
                Standby = random.NextDouble() < 0.1,
            };
        }).ToList();
        var ports = new List<PortLoad>();
        foreach (var host in hosts)
        {
            var count = host.Nics.Count;
            for (var p = 0; p < random.Next(0, 6); p++)
            {
                var members = Enumerable.Range(0, count).OrderBy(_ => random.Next()).Take(random.Next(1, count + 1)).ToArray();
                ports.Add(Port($"{host.Host.Value}-p{p}", host.Host.Value, members[0], random.NextDouble() * 6, members[1..]));
            }
        }
        return Snapshot(hosts, ports);
    }

    [Fact]
    public void Over_2000_random_clusters_no_policy_spends_the_reserve_or_strands_a_port()
    {
        for (var seed = 1; seed <= 2000; seed++)
        {
            var random = new Random(seed);
            var snapshot = RandomCluster(random);
            var level = 1 + seed % 5;
            var reserve = new Reserve(SpareNicsPerPort: 1 + seed % 2, SpareHosts: seed % 3);
            var saving = new PowerSavingSettings(PolicyMode.Auto, level, Reserve: reserve);
            var balancing = new LoadBalancingSettings(PolicyMode.Auto, level, Reserve: reserve);
            // Long enough in the low state that every idle NIC is a candidate.
            var memory = PowerSavingMemory.Empty;
            (_, memory) = PowerSaver.Decide(snapshot, memory, saving, T0);
            var now = T0 + saving.RetireAfter * 2;

            var (saverDecisions, _) = PowerSaver.Decide(snapshot, memory, saving, now);
            var afterSaver = ApplyAll(snapshot, saverDecisions, now);
            var after = ApplyAll(afterSaver, LoadBalancer.Decide(afterSaver, balancing, now), now);

            foreach (var port in snapshot.Ports.Where(p => snapshot.Host(p.Host)!.Available))
            {
                var now1 = after.Port(port.Port)!;
                if (reserve.Holds(snapshot, port))
                    Assert.True(Reserve.SparesOf(after, now1) >= reserve.SpareNicsPerPort, $"seed {seed}: {port.Port.Value} lost its reserve");
                var wasUsable = port.Active is { } a && snapshot.Host(port.Host)!.Nic(a) is { Usable: true };
                var isUsable = now1.Active is { } b && after.Host(now1.Host)!.Nic(b) is { Usable: true };
                if (wasUsable) Assert.True(isUsable, $"seed {seed}: {port.Port.Value} left on a NIC that cannot carry it");
            }
            foreach (var host in snapshot.Hosts.Where(h => h.Nics.Any(n => n.Usable)))
                Assert.True(after.Host(host.Host)!.Nics.Any(n => n.Usable), $"seed {seed}: {host.Host} lost its last usable NIC");
        }
    }
}
