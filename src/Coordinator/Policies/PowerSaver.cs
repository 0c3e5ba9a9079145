using System.Collections.Immutable;
using Replug.Shared.Devices;

namespace Replug.Coordinator.Policies;

/// <summary>
/// Power saving's settings, after DPM: NICs are kept between <see cref="LowUtilization"/> and
/// <see cref="HighUtilization"/>; a NIC is retired only after <see cref="LowFor"/> of low demand,
/// capacity comes back after <see cref="HighFor"/> of high demand, and the <see cref="Reserve"/>
/// is never spent. <see cref="Level"/> 1 waits longer and fills NICs less; 5 retires sooner and
/// fills them closer to the ceiling.
/// </summary>
public sealed record PowerSavingSettings(PolicyMode Mode = PolicyMode.Advise, int Level = 3, double LowUtilization = 0.45,
    double HighUtilization = 0.81, TimeSpan? LowFor = null, TimeSpan? HighFor = null, Reserve? Reserve = null)
{
    public static readonly TimeSpan DefaultLowFor = TimeSpan.FromMinutes(40);
    public static readonly TimeSpan DefaultHighFor = TimeSpan.FromMinutes(5);

    public Reserve EffectiveReserve => Reserve ?? new Reserve();

    /// <summary>How long a NIC must have been below <see cref="LowUtilization"/> before it is retired.</summary>
    public TimeSpan RetireAfter => (LowFor ?? DefaultLowFor) * PolicyLevel.Pick(Level, 2.0, 1.5, 1.0, 0.75, 0.5);

    /// <summary>How long a host must have been above <see cref="HighUtilization"/> before a NIC comes back; short at every level.</summary>
    public TimeSpan ReplugAfter => (HighFor ?? DefaultHighFor) * PolicyLevel.Pick(Level, 0.5, 0.75, 1.0, 1.0, 1.0);

    /// <summary>How full consolidation may make the NICs that take a retired NIC's ports: inside the band, with room below its top.</summary>
    public double ConsolidateTo => LowUtilization + (HighUtilization - LowUtilization) * PolicyLevel.Pick(Level, 0.0, 0.25, 0.5, 0.7, 0.85);

    /// <summary>Every problem, each naming its field after <paramref name="prefix"/> (e.g. "Replug:Coordinator:Policies:PowerSaving:").</summary>
    public IReadOnlyList<string> Validate(string prefix = "")
    {
        var problems = new PolicyLevel.Problems(prefix);
        problems.Check(Enum.IsDefined(Mode), nameof(Mode), $"'{Mode}' is not a mode (Off, Advise, Auto)");
        problems.Check(PolicyLevel.IsValid(Level), nameof(Level), $"{Level} is not a level ({PolicyLevel.Min} to {PolicyLevel.Max})");
        problems.Check(LowUtilization is > 0 and < 1, nameof(LowUtilization), $"{LowUtilization} must be between 0 and 1 (a fraction of capacity)");
        problems.Check(HighUtilization > LowUtilization && HighUtilization <= 1, nameof(HighUtilization),
            $"{HighUtilization} must be above LowUtilization ({LowUtilization}) and at most 1");
        problems.Check(LowFor is null || LowFor > TimeSpan.Zero, nameof(LowFor), $"{LowFor} must be positive");
        problems.Check(HighFor is null || HighFor > TimeSpan.Zero, nameof(HighFor), $"{HighFor} must be positive");
        problems.All.AddRange(EffectiveReserve.Validate(prefix + nameof(Reserve) + ":"));
        return problems.All;
    }
}

/// <summary>
/// What power saving remembers between rounds: since when each NIC has been below the band, each
/// host above it, each host empty; and when each NIC was last plugged back (a NIC is not retired
/// again within <see cref="PowerSavingSettings.RetireAfter"/> of coming back: no flapping).
/// </summary>
public sealed record PowerSavingMemory(
    ImmutableDictionary<(HostId, DeviceId), DateTimeOffset> LowSince,
    ImmutableDictionary<HostId, DateTimeOffset> HighSince,
    ImmutableDictionary<HostId, DateTimeOffset> EmptySince,
    ImmutableDictionary<(HostId, DeviceId), DateTimeOffset> PluggedAt)
{
    public static readonly PowerSavingMemory Empty = new(
        ImmutableDictionary<(HostId, DeviceId), DateTimeOffset>.Empty, ImmutableDictionary<HostId, DateTimeOffset>.Empty,
        ImmutableDictionary<HostId, DateTimeOffset>.Empty, ImmutableDictionary<(HostId, DeviceId), DateTimeOffset>.Empty);
}

/// <summary>
/// Power saving as a pure decider. In order, each round: **a fault wins** (a port short of its
/// reserve, or with no usable active device, gets an unplugged member back at once; a cluster
/// short of spare hosts wakes one); then high demand brings capacity back; then a NIC low for
/// long enough is retired: its ports switch to their other members (if those stay inside the band)
/// and it is unplugged, when the reserve holds without it; an empty host is recommended to
/// standby. Every unplug keeps one usable NIC per host.
/// </summary>
public static class PowerSaver
{
    public const string Name = "power-saving";

    public static (IReadOnlyList<PolicyDecision> Decisions, PowerSavingMemory Memory) Decide(PolicySnapshot snapshot,
        PowerSavingMemory memory, PowerSavingSettings settings, DateTimeOffset now)
    {
        var decisions = new List<PolicyDecision>();
        if (settings.Mode == PolicyMode.Off) return (decisions, PowerSavingMemory.Empty);
        memory = Observe(snapshot, memory, settings, now);
        var current = snapshot;
        current = RestoreReserve(current, settings, now, decisions, ref memory);
        current = MeetDemand(current, settings, now, decisions, ref memory);
        current = RetireIdleNics(current, memory, settings, now, decisions);
        RecommendStandby(current, memory, settings, now, decisions);
        return (decisions, memory);
    }

    /// <summary>Starts and ends the low, high and empty periods from this round's figures.</summary>
    private static PowerSavingMemory Observe(PolicySnapshot snapshot, PowerSavingMemory memory, PowerSavingSettings settings, DateTimeOffset now)
    {
        var low = ImmutableDictionary.CreateBuilder<(HostId, DeviceId), DateTimeOffset>();
        var high = ImmutableDictionary.CreateBuilder<HostId, DateTimeOffset>();
        var empty = ImmutableDictionary.CreateBuilder<HostId, DateTimeOffset>();
        foreach (var host in snapshot.Hosts.Where(h => h.Available))
        {
            foreach (var nic in host.Nics.Where(n => n.Usable && n.Utilization < settings.LowUtilization))
                low[(host.Host, nic.Device)] = memory.LowSince.GetValueOrDefault((host.Host, nic.Device), now);
            if (host.Nics.Any(n => n.Usable && n.Utilization > settings.HighUtilization) || host.Utilization > settings.HighUtilization)
                high[host.Host] = memory.HighSince.GetValueOrDefault(host.Host, now);
            if (!snapshot.PortsOn(host.Host).Any()) empty[host.Host] = memory.EmptySince.GetValueOrDefault(host.Host, now);
        }
        return memory with { LowSince = low.ToImmutable(), HighSince = high.ToImmutable(), EmptySince = empty.ToImmutable() };
    }

    private static PolicySnapshot RestoreReserve(PolicySnapshot current, PowerSavingSettings settings, DateTimeOffset now,
        List<PolicyDecision> decisions, ref PowerSavingMemory memory)
    {
        var reserve = settings.EffectiveReserve;
        foreach (var port in current.Ports.ToList())
        {
            var host = current.Host(port.Host);
            if (host is not { Up: true }) continue;
            var activeUsable = port.Active is { } active && host.Nic(active) is { Usable: true };
            var spares = Reserve.SparesOf(current, port);
            if (activeUsable && spares >= reserve.SpareNicsPerPort) continue;
            var unplugged = port.Members.Select(host.Nic).OfType<NicLoad>().FirstOrDefault(n => n.Healthy && !n.Plugged);
            if (unplugged is null) continue;
            var action = new PolicyAction.PlugNic(port.Host, unplugged.Device);
            decisions.Add(new PolicyDecision(Name, action,
                activeUsable
                    ? $"fault: {port.Port.Value} on {port.Host} has {spares} spare NIC(s), reserve {reserve.SpareNicsPerPort}; {unplugged.Device.Name} plugged back at once"
                    : $"fault: {port.Port.Value} on {port.Host} has no usable active device; {unplugged.Device.Name} plugged back at once",
                PolicyDecision.Figures(("spares", spares), ("reserve", reserve.SpareNicsPerPort))));
            memory = memory with { PluggedAt = memory.PluggedAt.SetItem((port.Host, unplugged.Device), now) };
            current = current.Apply(action, now);
        }
        if (Reserve.HostsWithRoom(current) < reserve.SpareHosts && current.Hosts.FirstOrDefault(h => h.Up && h.Standby) is { } sleeping)
        {
            var action = new PolicyAction.WakeHost(sleeping.Host);
            decisions.Add(new PolicyDecision(Name, action,
                $"fault: {Reserve.HostsWithRoom(current)} available host(s) with room for a fail-over, reserve {reserve.SpareHosts}; {sleeping.Host} woken",
                PolicyDecision.Figures(("hosts with room", Reserve.HostsWithRoom(current)), ("reserve", reserve.SpareHosts))));
            current = current.Apply(action, now);
        }
        return current;
    }

    private static PolicySnapshot MeetDemand(PolicySnapshot current, PowerSavingSettings settings, DateTimeOffset now,
        List<PolicyDecision> decisions, ref PowerSavingMemory memory)
    {
        // This round changes only PluggedAt; the high periods read here stay as observed.
        var highSince = memory.HighSince;
        foreach (var (hostId, since) in highSince)
        {
            if (now - since < settings.ReplugAfter || current.Host(hostId) is not { } host) continue;
            if (host.Nics.FirstOrDefault(n => n.Healthy && !n.Plugged) is not { } unplugged) continue;
            var action = new PolicyAction.PlugNic(hostId, unplugged.Device);
            decisions.Add(new PolicyDecision(Name, action,
                $"{hostId} above {settings.HighUtilization:P0} for {(now - since).TotalMinutes:0.#} min (level {settings.Level} waits {settings.ReplugAfter.TotalMinutes:0.#}); {unplugged.Device.Name} plugged back",
                PolicyDecision.Figures(("host utilization", host.Utilization), ("high", settings.HighUtilization), ("minutes high", (now - since).TotalMinutes))));
            memory = memory with { PluggedAt = memory.PluggedAt.SetItem((hostId, unplugged.Device), now) };
            current = current.Apply(action, now);
        }
        var available = current.Hosts.Where(h => h.Available && h.CapacityBps > 0).ToList();
        var clusterHigh = available.Count > 0 && available.All(h => highSince.TryGetValue(h.Host, out var s) && now - s >= settings.ReplugAfter);
        if (clusterHigh && current.Hosts.FirstOrDefault(h => h.Up && h.Standby) is { } sleeping)
        {
            var action = new PolicyAction.WakeHost(sleeping.Host);
            decisions.Add(new PolicyDecision(Name, action, $"every available host above {settings.HighUtilization:P0}; {sleeping.Host} woken",
                PolicyDecision.Figures(("hosts", available.Count), ("high", settings.HighUtilization))));
            current = current.Apply(action, now);
        }
        return current;
    }

    private static PolicySnapshot RetireIdleNics(PolicySnapshot current, PowerSavingMemory memory, PowerSavingSettings settings, DateTimeOffset now,
        List<PolicyDecision> decisions)
    {
        var reserve = settings.EffectiveReserve;
        foreach (var ((hostId, device), since) in memory.LowSince.OrderBy(l => l.Value).ThenBy(l => l.Key.Item1.Value, StringComparer.Ordinal)
                     .ThenBy(l => l.Key.Item2.Name, StringComparer.Ordinal))
        {
            if (now - since < settings.RetireAfter) continue;
            if (memory.PluggedAt.TryGetValue((hostId, device), out var plugged) && now - plugged < settings.RetireAfter) continue;
            if (memory.HighSince.ContainsKey(hostId)) continue;
            var host = current.Host(hostId);
            if (host is not { Available: true } || host.Nic(device) is not { Usable: true } nic) continue;
            if (host.Nics.Count(n => n.Usable) <= 1) continue;
            // Only a standby of some port here: a NIC no port uses is the host's fail-over capacity (or not Replug's), which no policy spends.
            if (!current.PortsOn(hostId).Any(p => p.Members.Contains(device))) continue;

            // Its ports move to their other members first, each onto the least busy one that stays inside the band.
            var plan = current;
            var switches = new List<PolicyAction.SwitchActive>();
            var fits = true;
            foreach (var port in plan.PortsOn(hostId).Where(p => p.Active == device).OrderByDescending(p => p.Bps).ToList())
            {
                var planHost = plan.Host(hostId)!;
                var to = port.Members.Where(m => m != device).Select(planHost.Nic).OfType<NicLoad>()
                    .Where(n => n.Usable && n.CapacityBps > 0 && (n.Bps + port.Bps) / n.CapacityBps <= settings.ConsolidateTo)
                    .OrderBy(n => n.Utilization).FirstOrDefault();
                if (to is null)
                {
                    fits = false;
                    break;
                }
                var change = new PolicyAction.SwitchActive(hostId, port.Port, device, to.Device);
                switches.Add(change);
                plan = plan.Apply(change, now);
            }
            if (!fits || !reserve.AllowsUnplug(plan, hostId, device)) continue;

            var minutes = (now - since).TotalMinutes;
            foreach (var change in switches)
                decisions.Add(new PolicyDecision(Name, change,
                    $"consolidating {hostId}: {change.Port.Value} leaves {device.Name} (below {settings.LowUtilization:P0} for {minutes:0} min) for {change.To.Name}",
                    PolicyDecision.Figures(("nic utilization", nic.Utilization), ("consolidate to", settings.ConsolidateTo))));
            var unplug = new PolicyAction.UnplugNic(hostId, device);
            decisions.Add(new PolicyDecision(Name, unplug,
                $"{device.Name} on {hostId} below {settings.LowUtilization:P0} for {minutes:0} min (level {settings.Level} waits {settings.RetireAfter.TotalMinutes:0}); " +
                $"every port keeps {reserve.SpareNicsPerPort} spare NIC(s) without it",
                PolicyDecision.Figures(("nic utilization", nic.Utilization), ("low", settings.LowUtilization), ("minutes low", minutes),
                    ("ports switched", switches.Count))));
            current = plan.Apply(unplug, now);
        }
        return current;
    }

    private static void RecommendStandby(PolicySnapshot current, PowerSavingMemory memory, PowerSavingSettings settings, DateTimeOffset now,
        List<PolicyDecision> decisions)
    {
        var reserve = settings.EffectiveReserve;
        foreach (var (hostId, since) in memory.EmptySince.OrderBy(e => e.Value).ThenBy(e => e.Key.Value, StringComparer.Ordinal))
        {
            if (now - since < settings.RetireAfter || current.Host(hostId) is not { Available: true } host) continue;
            if (current.PortsOn(hostId).Any() || !reserve.AllowsStandby(current, hostId)) continue;
            var action = new PolicyAction.StandbyHost(hostId);
            decisions.Add(new PolicyDecision(Name, action,
                $"{hostId} has carried no port for {(now - since).TotalMinutes:0} min; {Reserve.HostsWithRoom(current, hostId)} other host(s) keep room for fail-over (reserve {reserve.SpareHosts})",
                PolicyDecision.Figures(("minutes empty", (now - since).TotalMinutes), ("hosts with room", Reserve.HostsWithRoom(current, hostId)))));
            current = current.Apply(action, now);
        }
    }
}
