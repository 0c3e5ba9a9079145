using System.Text.Json.Serialization;
using Replug.Shared.Devices;

namespace Replug.Coordinator.Policies;

/// <summary>What a policy does with its verdicts: nothing, record and show them, or carry them out.</summary>
public enum PolicyMode { Off, Advise, Auto }

/// <summary>A NIC as the policies see it: its capacity, its smoothed traffic, and whether it can carry a port now.</summary>
public sealed record NicLoad(DeviceId Device, double CapacityBps, double Bps, bool Healthy, bool Plugged)
{
    public double Utilization => CapacityBps > 0 ? Bps / CapacityBps : 0;

    /// <summary>Healthy and plugged: a port may be active on it, or switch to it at once.</summary>
    public bool Usable => Healthy && Plugged;
}

/// <summary>
/// A logical port as the policies see it: where it runs, its active device, the devices it may
/// use on that host (its members there), its smoothed traffic, and when a policy last moved it.
/// </summary>
public sealed record PortLoad(PortId Port, HostId Host, DeviceId? Active, IReadOnlyList<DeviceId> Members, double Bps,
    DateTimeOffset? LastMovedAt = null);

/// <summary>
/// A host as the policies see it. <paramref name="FreeSlots"/>: the ports it can still take from
/// other hosts. <paramref name="Standby"/>: recommended to standby (the orchestrator's hook took it
/// out); <paramref name="Available"/>: up, not drained, not in standby.
/// </summary>
public sealed record HostLoad(HostId Host, bool Up, bool Drained, bool Standby, IReadOnlyList<NicLoad> Nics, int FreeSlots)
{
    public bool Available => Up && !Drained && !Standby;
    public double CapacityBps => Nics.Where(n => n.Usable).Sum(n => n.CapacityBps);
    public double Bps => Nics.Sum(n => n.Bps);
    public double Utilization => CapacityBps > 0 ? Bps / CapacityBps : Bps > 0 ? double.PositiveInfinity : 0;
    public NicLoad? Nic(DeviceId device) => Nics.FirstOrDefault(n => n.Device == device);
}

/// <summary>Everything a policy decides from: one moment of the cluster.</summary>
public sealed record PolicySnapshot(IReadOnlyList<HostLoad> Hosts, IReadOnlyList<PortLoad> Ports)
{
    public HostLoad? Host(HostId host) => Hosts.FirstOrDefault(h => h.Host == host);
    public PortLoad? Port(PortId port) => Ports.FirstOrDefault(p => p.Port == port);
    public IEnumerable<PortLoad> PortsOn(HostId host) => Ports.Where(p => p.Host == host);

    /// <summary>
    /// The cluster as it would be once <paramref name="action"/> is carried out, traffic included:
    /// a policy weighs its next verdict on the result of its last one in the same round, and the
    /// simulator carries verdicts out with the same rules.
    /// </summary>
    public PolicySnapshot Apply(PolicyAction action, DateTimeOffset now) => action switch
    {
        PolicyAction.SwitchActive s when Port(s.Port) is { } port =>
            this with
            {
                Hosts = [.. Hosts.Select(h => h.Host != s.Host ? h : h with
                {
                    Nics = [.. h.Nics.Select(n => n.Device == s.From ? n with { Bps = Math.Max(0, n.Bps - port.Bps) }
                        : n.Device == s.To ? n with { Bps = n.Bps + port.Bps } : n)],
                })],
                Ports = [.. Ports.Select(p => p.Port != s.Port ? p : p with { Active = s.To, LastMovedAt = now })],
            },
        PolicyAction.MovePort m when Port(m.Port) is { } port && Host(m.To) is { } target => MoveTo(port, target, now),
        PolicyAction.UnplugNic u => WithNic(u.Host, u.Nic, n => n with { Plugged = false }),
        PolicyAction.PlugNic p => WithNic(p.Host, p.Nic, n => n with { Plugged = true }),
        PolicyAction.StandbyHost s => this with { Hosts = [.. Hosts.Select(h => h.Host == s.Host ? h with { Standby = true } : h)] },
        PolicyAction.WakeHost w => this with { Hosts = [.. Hosts.Select(h => h.Host == w.Host ? h with { Standby = false } : h)] },
        _ => this,
    };

    /// <summary>
    /// A port placed on <paramref name="target"/> runs on its least loaded usable NIC, with every
    /// other NIC of the target as a member (what its agent gives it as fail-over devices), so that
    /// a NIC unplugged there now can be plugged back for it later.
    /// </summary>
    private PolicySnapshot MoveTo(PortLoad port, HostLoad target, DateTimeOffset now)
    {
        var devices = target.Nics.OrderBy(n => n.Usable ? 0 : 1).ThenBy(n => n.Utilization).ThenBy(n => n.Device.Name, StringComparer.Ordinal)
            .Select(n => n.Device).ToList();
        if (!target.Nics.Any(n => n.Usable)) return this;
        return this with
        {
            Hosts = [.. Hosts.Select(h =>
                h.Host == port.Host ? h with { Nics = [.. h.Nics.Select(n => n.Device == port.Active ? n with { Bps = Math.Max(0, n.Bps - port.Bps) } : n)] }
                : h.Host == target.Host ? h with
                {
                    FreeSlots = Math.Max(0, h.FreeSlots - 1),
                    Nics = [.. h.Nics.Select(n => n.Device == devices[0] ? n with { Bps = n.Bps + port.Bps } : n)],
                }
                : h)],
            Ports = [.. Ports.Select(p => p.Port != port.Port ? p : p with { Host = target.Host, Active = devices[0], Members = devices, LastMovedAt = now })],
        };
    }

    private PolicySnapshot WithNic(HostId host, DeviceId nic, Func<NicLoad, NicLoad> change) =>
        this with { Hosts = [.. Hosts.Select(h => h.Host != host ? h : h with { Nics = [.. h.Nics.Select(n => n.Device == nic ? change(n) : n)] })] };
}

/// <summary>What a policy would have done: carried out by the coordinator in <see cref="PolicyMode.Auto"/>.</summary>
/// <remarks>Persisted in <c>PolicyDecided</c> and shown by the API: each kind by its name, which never changes.</remarks>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
[JsonDerivedType(typeof(SwitchActive), "switch-active")]
[JsonDerivedType(typeof(MovePort), "move-port")]
[JsonDerivedType(typeof(UnplugNic), "unplug-nic")]
[JsonDerivedType(typeof(PlugNic), "plug-nic")]
[JsonDerivedType(typeof(StandbyHost), "standby-host")]
[JsonDerivedType(typeof(WakeHost), "wake-host")]
public abstract record PolicyAction
{
    /// <summary>One line for logs and views, naming the host, port and device.</summary>
    public string Describe() => this switch
    {
        SwitchActive s => $"switch port {s.Port} on {s.Host} from {s.From} to {s.To}",
        MovePort m => $"move port {m.Port} from {m.From} to {m.To}",
        UnplugNic u => $"unplug {u.Nic} on {u.Host}",
        PlugNic p => $"plug {p.Nic} back on {p.Host}",
        StandbyHost s => $"standby host {s.Host}",
        WakeHost w => $"wake host {w.Host}",
        _ => GetType().Name,
    };

    /// <summary>Within a host: the port's active device becomes another of its members (a remap, no host change).</summary>
    public sealed record SwitchActive(HostId Host, PortId Port, DeviceId From, DeviceId To) : PolicyAction;
    /// <summary>Across hosts, through the same fenced, epoch-checked detach-then-attach as a fail-over.</summary>
    public sealed record MovePort(PortId Port, HostId From, HostId To) : PolicyAction;
    /// <summary>The agent takes the NIC out of service (link down, or a PCI function removed) after no port uses it.</summary>
    public sealed record UnplugNic(HostId Host, DeviceId Nic) : PolicyAction;
    public sealed record PlugNic(HostId Host, DeviceId Nic) : PolicyAction;
    /// <summary>Recommendations for the orchestrator's hook: the host carries nothing and may sleep, or is needed again.</summary>
    public sealed record StandbyHost(HostId Host) : PolicyAction;
    public sealed record WakeHost(HostId Host) : PolicyAction;
}

/// <summary>One verdict: the action, why, and the figures it was decided from (shown to operators as they are).</summary>
public sealed record PolicyDecision(string Policy, PolicyAction Action, string Reason, IReadOnlyDictionary<string, double> Inputs)
{
    /// <summary>A verdict's figures by name, rounded for reading.</summary>
    public static IReadOnlyDictionary<string, double> Figures(params (string Name, double Value)[] inputs) =>
        new System.Collections.ObjectModel.ReadOnlyDictionary<string, double>(inputs.ToDictionary(i => i.Name, i => Math.Round(i.Value, 4)));
}

/// <summary>
/// How far a policy goes, from 1 (conservative: acts on large, lasting differences only) to 5
/// (aggressive: acts on small and short ones), in the spirit of DRS's migration threshold.
/// </summary>
public static class PolicyLevel
{
    public const int Min = 1;
    public const int Max = 5;

    public static bool IsValid(int level) => level is >= Min and <= Max;

    /// <summary>Collects problems as "PREFIX:Field: problem", the shape configuration errors and the API's 400s name a field in.</summary>
    internal sealed class Problems(string prefix)
    {
        public List<string> All { get; } = [];
        public void Check(bool ok, string field, string problem) { if (!ok) All.Add($"{prefix}{field}: {problem}"); }
    }

    /// <summary>The value for <paramref name="level"/> from a table of five, one per level.</summary>
    public static T Pick<T>(int level, T l1, T l2, T l3, T l4, T l5) => Math.Clamp(level, Min, Max) switch
    {
        1 => l1,
        2 => l2,
        3 => l3,
        4 => l4,
        _ => l5,
    };
}
