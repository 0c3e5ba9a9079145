using Replug.Coordinator.Policies;
using Replug.Shared.Devices;

namespace Replug.Coordinator.Tests.Policies;

/// <summary>A simulated day: the cluster's shape, its load trace and its faults, all from <see cref="Seed"/>.</summary>
public sealed record DayOptions(int Seed = 1, int Hosts = 50, int NicsPerHost = 4, int PortsPerHost = 8, double NicGbps = 10,
    double PeakUtilization = 0.55, int NicFaults = 30, int BurstsPerHost = 3)
{
    public TimeSpan Length { get; init; } = TimeSpan.FromHours(24);
    public TimeSpan Tick { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>From an agent's plug to the NIC carrying traffic (link up, or a PCI function probed).</summary>
    public TimeSpan PlugDelay { get; init; } = TimeSpan.FromSeconds(20);
}

/// <summary>What a strategy does each round: the verdicts to carry out (it keeps its own memory).</summary>
public interface IDayStrategy
{
    string Name { get; }
    IReadOnlyList<PolicyAction> Round(PolicySnapshot snapshot, DateTimeOffset now);
}

/// <summary>No policy: NICs stay plugged, ports stay where they are (the agents' local fail-over still runs).</summary>
public sealed class NoPolicy : IDayStrategy
{
    public string Name => "no policy";
    public IReadOnlyList<PolicyAction> Round(PolicySnapshot snapshot, DateTimeOffset now) => [];
}

/// <summary>
/// A naive threshold rule: every round, a NIC under 20 % has its ports moved to the host's least
/// busy other NIC and is unplugged (one NIC kept per host); a NIC over 80 %, or a port with no
/// usable device, gets a NIC plugged back. No reserve, no hysteresis.
/// </summary>
public sealed class NaiveThreshold : IDayStrategy
{
    public string Name => "naive threshold (20 % / 80 %)";

    public IReadOnlyList<PolicyAction> Round(PolicySnapshot snapshot, DateTimeOffset now)
    {
        var actions = new List<PolicyAction>();
        var current = snapshot;
        foreach (var hostId in snapshot.Hosts.Where(h => h.Available).Select(h => h.Host))
        {
            var host = current.Host(hostId)!;
            var starving = current.PortsOn(hostId).Any(p => p.Active is not { } a || host.Nic(a) is not { Usable: true });
            if ((starving || host.Nics.Any(n => n.Usable && n.Utilization > 0.8)) && host.Nics.FirstOrDefault(n => n.Healthy && !n.Plugged) is { } off)
            {
                actions.Add(new PolicyAction.PlugNic(hostId, off.Device));
                current = current.Apply(actions[^1], now);
                continue;
            }
            foreach (var nic in host.Nics.Where(n => n.Usable && n.Utilization < 0.2).ToList())
            {
                var h = current.Host(hostId)!;
                var others = h.Nics.Where(n => n.Usable && n.Device != nic.Device).ToList();
                if (others.Count == 0) break;
                foreach (var port in current.PortsOn(hostId).Where(p => p.Active == nic.Device).ToList())
                {
                    var to = port.Members.Select(current.Host(hostId)!.Nic).OfType<NicLoad>()
                        .Where(n => n.Usable && n.Device != nic.Device).OrderBy(n => n.Utilization).FirstOrDefault();
                    if (to is null) continue;
                    actions.Add(new PolicyAction.SwitchActive(hostId, port.Port, nic.Device, to.Device));
                    current = current.Apply(actions[^1], now);
                }
                if (current.PortsOn(hostId).Any(p => p.Active == nic.Device)) continue;
                actions.Add(new PolicyAction.UnplugNic(hostId, nic.Device));
                current = current.Apply(actions[^1], now);
            }
        }
        return actions;
    }
}

/// <summary>Replug's two policies in auto at one level: power saving first (a fault wins), then load balancing.</summary>
public sealed class ReplugPolicies(int level, Reserve reserve) : IDayStrategy
{
    private PowerSavingMemory _memory = PowerSavingMemory.Empty;
    private readonly PowerSavingSettings _saving = new(PolicyMode.Auto, level, Reserve: reserve);
    private readonly LoadBalancingSettings _balancing = new(PolicyMode.Auto, level, Reserve: reserve);

    public string Name => $"Replug, level {level}";

    public IReadOnlyList<PolicyAction> Round(PolicySnapshot snapshot, DateTimeOffset now)
    {
        var (saving, memory) = PowerSaver.Decide(snapshot, _memory, _saving, now);
        _memory = memory;
        var after = saving.Aggregate(snapshot, (s, d) => s.Apply(d.Action, now));
        return [.. saving.Select(d => d.Action), .. LoadBalancer.Decide(after, _balancing, now).Select(d => d.Action)];
    }
}

/// <summary>What a day cost and saved under one strategy.</summary>
public sealed record DayResult(string Strategy, double NicHoursUnplugged, double NicHours, double PortMinutesWithoutReserve,
    int PortsEverWithoutReserve, double NicMinutesAbove80, double PortMinutesDown, int Moves, int Switches, int Plugs, int Unplugs,
    int Faults, int FaultsHandled);

/// <summary>
/// A day of a synthetic cluster in simulated time: every host's ports may use each of its NICs (a
/// fail-safe port over one function of each card); traffic follows a day/night curve (20 % of the
/// peak at 04:00, the peak at 16:00) with per-host bursts and noise; NICs fail and return. Each
/// tick the agents' local fail-over moves ports off NICs that cannot carry them, the figures are
/// counted, and the strategy's verdicts are carried out (a plug takes effect after
/// <see cref="DayOptions.PlugDelay"/>). Same seed, same trace and faults for every strategy.
/// </summary>
public static class PolicyDaySimulation
{
    public static readonly DateTimeOffset Midnight = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    private sealed record Fault(DateTimeOffset Start, DateTimeOffset End, HostId Host, DeviceId Nic);

    public static DayResult Run(DayOptions options, IDayStrategy strategy, Reserve reserve, Action<string>? trace = null)
    {
        var random = new Random(options.Seed);
        var capacity = options.NicGbps * 1e9;
        var hosts = Enumerable.Range(0, options.Hosts).Select(h => new HostLoad(new HostId($"h{h:00}"), true, false, false,
            [.. Enumerable.Range(0, options.NicsPerHost).Select(n => new NicLoad(DeviceId.Net($"h{h:00}n{n}"), capacity, 0, true, true))],
            FreeSlots: 4)).ToList();
        var weights = new Dictionary<PortId, double>();
        var ports = new List<PortLoad>();
        foreach (var host in hosts)
            for (var p = 0; p < options.PortsPerHost; p++)
            {
                var id = new PortId($"{host.Host.Value}p{p}");
                weights[id] = 0.3 + -Math.Log(1 - random.NextDouble());
                var members = host.Nics.Select(n => n.Device).ToList();
                ports.Add(new PortLoad(id, host.Host, members[p % members.Count], members, 0));
            }
        // Peak total demand = PeakUtilization of the cluster's capacity.
        var scale = options.PeakUtilization * capacity * options.NicsPerHost * options.Hosts / weights.Values.Sum();
        var bursts = hosts.SelectMany(h => Enumerable.Range(0, options.BurstsPerHost).Select(_ =>
        {
            var start = Midnight + TimeSpan.FromMinutes(random.Next(0, (int)options.Length.TotalMinutes));
            return (h.Host, Start: start, End: start + TimeSpan.FromMinutes(random.Next(10, 31)));
        })).ToList();
        var faults = Enumerable.Range(0, options.NicFaults).Select(_ =>
        {
            var host = hosts[random.Next(hosts.Count)];
            var start = Midnight + TimeSpan.FromMinutes(random.Next(0, (int)options.Length.TotalMinutes));
            return new Fault(start, start + TimeSpan.FromMinutes(random.Next(10, 61)), host.Host, host.Nics[random.Next(host.Nics.Count)].Device);
        }).ToList();
        var noise = new Random(options.Seed * 7919 + 1);

        var snapshot = new PolicySnapshot(hosts, ports);
        var pendingPlugs = new Dictionary<(HostId, DeviceId), DateTimeOffset>();
        var tickMinutes = options.Tick.TotalMinutes;
        double unpluggedHours = 0, nicHours = 0, withoutReserve = 0, above80 = 0, down = 0;
        int moves = 0, switches = 0, plugs = 0, unplugs = 0;
        var everWithoutReserve = new HashSet<PortId>();
        var faultDowned = new HashSet<Fault>();

        for (var now = Midnight; now < Midnight + options.Length; now += options.Tick)
        {
            // The world: plugs that completed, faults that began or ended, this tick's demand.
            var ready = pendingPlugs.Where(p => p.Value <= now).Select(p => p.Key).ToList();
            foreach (var key in ready) pendingPlugs.Remove(key);
            var failing = faults.Where(f => f.Start <= now && now < f.End).Select(f => (f.Host, f.Nic)).ToHashSet();
            var hour = (now - Midnight).TotalHours;
            var curve = 0.2 + 0.8 * Math.Pow(0.5 - 0.5 * Math.Cos(2 * Math.PI * (hour - 4) / 24), 1.5);
            snapshot = snapshot with
            {
                Hosts = [.. snapshot.Hosts.Select(h => h with
                {
                    Nics = [.. h.Nics.Select(n => n with
                    {
                        Healthy = !failing.Contains((h.Host, n.Device)),
                        Plugged = n.Plugged || ready.Contains((h.Host, n.Device)),
                    })],
                })],
                Ports = [.. snapshot.Ports.Select(p =>
                {
                    var burst = bursts.Any(b => b.Host == p.Host && b.Start <= now && now < b.End) ? 1.8 : 1.0;
                    return p with { Bps = scale * weights[p.Port] * curve * burst * (0.9 + 0.2 * noise.NextDouble()) };
                })],
            };

            // The agents' local fail-over: a port on a NIC that cannot carry it switches to its least busy usable member.
            snapshot = WithTraffic(snapshot);
            foreach (var port in snapshot.Ports.ToList())
            {
                var host = snapshot.Host(port.Host)!;
                if (port.Active is { } active && host.Nic(active) is { Usable: true }) continue;
                var to = port.Members.Select(host.Nic).OfType<NicLoad>().Where(n => n.Usable).OrderBy(n => n.Utilization).FirstOrDefault();
                if (to is null) continue;
                snapshot = snapshot with { Ports = [.. snapshot.Ports.Select(p => p.Port == port.Port ? p with { Active = to.Device } : p)] };
                snapshot = WithTraffic(snapshot);
            }

            // The day's figures for this tick.
            foreach (var host in snapshot.Hosts)
                foreach (var nic in host.Nics)
                {
                    nicHours += tickMinutes / 60;
                    if (nic.Healthy && !nic.Plugged) unpluggedHours += tickMinutes / 60;
                    if (nic.Usable && nic.Utilization > 0.8) above80 += tickMinutes;
                }
            foreach (var port in snapshot.Ports)
            {
                var host = snapshot.Host(port.Host)!;
                if (port.Active is not { } a || host.Nic(a) is not { Usable: true })
                {
                    down += tickMinutes;
                    trace?.Invoke($"{now:HH:mm:ss} {port.Port.Value} down on {port.Host}: " +
                        string.Join(", ", host.Nics.Select(n => $"{n.Device.Name}{(n.Healthy ? "" : " failed")}{(n.Plugged ? "" : " unplugged")}")));
                    foreach (var f in faults.Where(f => f.Host == port.Host && f.Start <= now && now < f.End)) faultDowned.Add(f);
                }
                else if (!reserve.Holds(snapshot, port))
                {
                    withoutReserve += tickMinutes;
                    everWithoutReserve.Add(port.Port);
                }
            }

            // The strategy's verdicts, carried out.
            foreach (var action in strategy.Round(snapshot, now))
            {
                trace?.Invoke($"{now:HH:mm:ss} {action}");
                switch (action)
                {
                    case PolicyAction.PlugNic plug:
                        if (snapshot.Host(plug.Host)?.Nic(plug.Nic) is { Plugged: false } && pendingPlugs.TryAdd((plug.Host, plug.Nic), now + options.PlugDelay))
                            plugs++;
                        continue;
                    case PolicyAction.UnplugNic unplug:
                        if (snapshot.Host(unplug.Host)?.Nic(unplug.Nic) is not { Plugged: true } || snapshot.PortsOn(unplug.Host).Any(p => p.Active == unplug.Nic))
                            continue;
                        unplugs++;
                        break;
                    case PolicyAction.SwitchActive:
                        switches++;
                        break;
                    case PolicyAction.MovePort:
                        moves++;
                        break;
                }
                snapshot = snapshot.Apply(action, now);
            }
        }

        return new DayResult(strategy.Name, unpluggedHours, nicHours, withoutReserve, everWithoutReserve.Count, above80, down,
            moves, switches, plugs, unplugs, faults.Count, faults.Count - faultDowned.Count);
    }

    /// <summary>Each usable NIC carries the ports active on it; a NIC that cannot carry traffic carries none.</summary>
    private static PolicySnapshot WithTraffic(PolicySnapshot snapshot)
    {
        var load = snapshot.Ports.Where(p => p.Active is not null).GroupBy(p => (p.Host, p.Active!.Value)).ToDictionary(g => g.Key, g => g.Sum(p => p.Bps));
        return snapshot with
        {
            Hosts = [.. snapshot.Hosts.Select(h => h with
            {
                Nics = [.. h.Nics.Select(n => n with { Bps = n.Usable ? load.GetValueOrDefault((h.Host, n.Device)) : 0 })],
            })],
        };
    }
}
