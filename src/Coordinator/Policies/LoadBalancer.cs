using Replug.Shared.Devices;

namespace Replug.Coordinator.Policies;

/// <summary>
/// Load balancing's settings. <see cref="Level"/> 1 acts only on large differences, 5 on small ones
/// (DRS's migration threshold); a port is not moved again within <see cref="Cooldown"/>.
/// </summary>
public sealed record LoadBalancingSettings(PolicyMode Mode = PolicyMode.Advise, int Level = 3, TimeSpan? Cooldown = null, Reserve? Reserve = null)
{
    public Reserve EffectiveReserve => Reserve ?? new Reserve();

    public static readonly TimeSpan DefaultCooldown = TimeSpan.FromMinutes(10);

    public TimeSpan EffectiveCooldown => Cooldown ?? DefaultCooldown;

    /// <summary>Within a host: the difference between its busiest and idlest usable NIC that is worth a switch.</summary>
    public double NicSpread => PolicyLevel.Pick(Level, 0.50, 0.35, 0.25, 0.15, 0.08);

    /// <summary>Across hosts: how far above the mean of available hosts a host's utilization must be to give a port away.</summary>
    public double HostImbalance => PolicyLevel.Pick(Level, 0.40, 0.30, 0.20, 0.12, 0.06);

    /// <summary>Cross-host moves per round: each is a detach and an attach, and traffic must settle before the next judgement.</summary>
    public int MovesPerRound => PolicyLevel.Pick(Level, 1, 2, 3, 4, 6);

    /// <summary>Below this, a busy NIC is not worth a switch: spreading idle traffic changes nothing for anyone.</summary>
    public const double BusyNic = 0.30;

    /// <summary>A host is never made busier than this by a move (DPM's upper bound of the target band).</summary>
    public const double TargetCeiling = 0.81;

    /// <summary>Every problem, each naming its field after <paramref name="prefix"/> (e.g. "Replug:Coordinator:Policies:LoadBalancing:").</summary>
    public IReadOnlyList<string> Validate(string prefix = "")
    {
        var problems = new PolicyLevel.Problems(prefix);
        problems.Check(Enum.IsDefined(Mode), nameof(Mode), $"'{Mode}' is not a mode (Off, Advise, Auto)");
        problems.Check(PolicyLevel.IsValid(Level), nameof(Level), $"{Level} is not a level ({PolicyLevel.Min} to {PolicyLevel.Max})");
        problems.Check(Cooldown is null || Cooldown > TimeSpan.Zero, nameof(Cooldown), $"{Cooldown} must be positive");
        problems.All.AddRange(EffectiveReserve.Validate(prefix + nameof(Reserve) + ":"));
        return problems.All;
    }
}

/// <summary>
/// Load balancing as a pure decider: within a host, which member of each port is active, so that
/// the host's NICs carry even traffic; across hosts, which port a host too busy for the cluster
/// gives to the least busy host with room. Each verdict is weighed on the cluster as the earlier
/// verdicts of the round leave it.
/// </summary>
public static class LoadBalancer
{
    public const string Name = "load-balancing";

    public static IReadOnlyList<PolicyDecision> Decide(PolicySnapshot snapshot, LoadBalancingSettings settings, DateTimeOffset now)
    {
        var decisions = new List<PolicyDecision>();
        if (settings.Mode == PolicyMode.Off) return decisions;
        var current = snapshot;
        foreach (var host in snapshot.Hosts.Where(h => h.Available).Select(h => h.Host))
            current = BalanceNics(current, host, settings, now, decisions);
        BalanceHosts(current, settings, now, decisions);
        return decisions;
    }

    private static bool Cooling(PortLoad port, LoadBalancingSettings settings, DateTimeOffset now) =>
        port.LastMovedAt is { } moved && now - moved < settings.EffectiveCooldown;

    private static PolicySnapshot BalanceNics(PolicySnapshot current, HostId hostId, LoadBalancingSettings settings, DateTimeOffset now,
        List<PolicyDecision> decisions)
    {
        var switched = new HashSet<PortId>();
        while (true)
        {
            var host = current.Host(hostId)!;
            var usable = host.Nics.Where(n => n.Usable && n.CapacityBps > 0).ToList();
            if (usable.Count < 2) return current;
            var busiest = usable.MaxBy(n => n.Utilization)!;
            var idlest = usable.MinBy(n => n.Utilization)!;
            var spread = busiest.Utilization - idlest.Utilization;
            if (busiest.Utilization < LoadBalancingSettings.BusyNic || spread < settings.NicSpread) return current;

            // The port whose switch leaves the busier of the two NICs least busy; only a switch that helps.
            (PortLoad Port, NicLoad To, double Worse)? best = null;
            foreach (var port in current.PortsOn(hostId).Where(p => p.Active == busiest.Device && !switched.Contains(p.Port) && !Cooling(p, settings, now)))
                foreach (var to in port.Members.Select(host.Nic).OfType<NicLoad>().Where(n => n.Usable && n.Device != busiest.Device && n.CapacityBps > 0))
                {
                    var worse = Math.Max((busiest.Bps - port.Bps) / busiest.CapacityBps, (to.Bps + port.Bps) / to.CapacityBps);
                    if (worse < busiest.Utilization - 0.01 && (best is null || worse < best.Value.Worse)) best = (port, to, worse);
                }
            if (best is not { } chosen) return current;

            var action = new PolicyAction.SwitchActive(hostId, chosen.Port.Port, busiest.Device, chosen.To.Device);
            decisions.Add(new PolicyDecision(Name, action,
                $"NICs of {hostId} uneven: {busiest.Device.Name} at {busiest.Utilization:P0}, {idlest.Device.Name} at {idlest.Utilization:P0} " +
                $"(level {settings.Level} acts above {settings.NicSpread:P0}); {chosen.Port.Port.Value} to {chosen.To.Device.Name}",
                PolicyDecision.Figures(("from utilization", busiest.Utilization), ("to utilization", chosen.To.Utilization), ("port bps", chosen.Port.Bps),
                    ("spread", spread), ("threshold", settings.NicSpread))));
            switched.Add(chosen.Port.Port);
            current = current.Apply(action, now);
        }
    }

    private static void BalanceHosts(PolicySnapshot current, LoadBalancingSettings settings, DateTimeOffset now, List<PolicyDecision> decisions)
    {
        var moved = new HashSet<PortId>();
        for (var round = 0; round < settings.MovesPerRound; round++)
        {
            var available = current.Hosts.Where(h => h.Available && h.CapacityBps > 0).ToList();
            if (available.Count < 2) return;
            var mean = available.Sum(h => h.Bps) / available.Sum(h => h.CapacityBps);
            var hot = available.MaxBy(h => h.Utilization)!;
            if (hot.Utilization - mean < settings.HostImbalance) return;

            (PortLoad Port, HostLoad To, double Worse)? best = null;
            // A port goes only where it keeps its reserve: its active NIC and the spares the reserve asks for.
            var nicsNeeded = 1 + settings.EffectiveReserve.SpareNicsPerPort;
            foreach (var to in available.Where(h => h.Host != hot.Host && h.FreeSlots > 0 && h.Nics.Count(n => n.Usable) >= nicsNeeded))
                foreach (var port in current.PortsOn(hot.Host).Where(p => p.Bps > 0 && !moved.Contains(p.Port) && !Cooling(p, settings, now)))
                {
                    var hotAfter = (hot.Bps - port.Bps) / hot.CapacityBps;
                    var coolAfter = (to.Bps + port.Bps) / to.CapacityBps;
                    if (coolAfter > LoadBalancingSettings.TargetCeiling) continue;
                    var worse = Math.Max(hotAfter, coolAfter);
                    if (worse < hot.Utilization - 0.01 && (best is null || worse < best.Value.Worse)) best = (port, to, worse);
                }
            if (best is not { } chosen) return;

            var action = new PolicyAction.MovePort(chosen.Port.Port, hot.Host, chosen.To.Host);
            decisions.Add(new PolicyDecision(Name, action,
                $"{hot.Host} at {hot.Utilization:P0} against a cluster mean of {mean:P0} (level {settings.Level} acts {settings.HostImbalance:P0} above it); " +
                $"{chosen.Port.Port.Value} to {chosen.To.Host} at {chosen.To.Utilization:P0}",
                PolicyDecision.Figures(("from utilization", hot.Utilization), ("to utilization", chosen.To.Utilization), ("cluster mean", mean),
                    ("port bps", chosen.Port.Bps), ("threshold", settings.HostImbalance))));
            moved.Add(chosen.Port.Port);
            current = current.Apply(action, now);
        }
    }
}
