using Replug.Shared.Devices;
using Replug.Shared.Protocol;

namespace Replug.Coordinator.Planning;

/// <summary>
/// Decides where each port of a fail-over goes: a pure function of the ports, a snapshot of
/// the hosts and the policy — no actors, no I/O, the same input always gives the same plan.
/// </summary>
/// <remarks>
/// The rules, as Masakari and vSphere HA operators expect them:
/// <list type="bullet">
/// <item>Only <see cref="HostStatus.Up"/> hosts are candidates, and never the host a port leaves.</item>
/// <item>Free capacity is Capacity − Load (0 when either is negative, or when the load exceeds
/// the capacity), and goes down as the plan places ports, so the plan never overfills a host.</item>
/// <item>Higher priority is placed first, ties by port id (ordinal), so a lower tier never takes
/// the last slot a higher tier needed.</item>
/// <item>Reserved hosts first, only, or like any other, per <see cref="ReservedHostPolicy"/>.</item>
/// <item>Among equal candidates, the most free capacity first, then host id (ordinal): load spreads.</item>
/// <item>Two ports of one anti-affinity group never share a host, counting the ports already there
/// and the ports placed earlier in the plan.</item>
/// <item>A port that cannot be placed is in <see cref="PlacementPlan.Unplaced"/> with its cause.</item>
/// </list>
/// Placement is greedy, one port at a time, as in Masakari and vSphere HA: within one priority
/// tier it does not search for an assignment that would fit more ports of that tier.
/// <para>
/// Cost: O(P log P + P log H) plus, for a port with an anti-affinity group, the hosts it skips
/// because they carry the group; when every host with room carries it the port is refused
/// without a scan. 10,000 ports over 1,000 hosts plan in milliseconds.
/// </para>
/// </remarks>
public static class FailoverPlanner
{
    /// <summary>Plans where each of <paramref name="ports"/> goes among <paramref name="hosts"/>.</summary>
    /// <exception cref="ArgumentException">A port or host is null or listed twice.</exception>
    public static PlacementPlan Plan(IReadOnlyList<PortToPlace> ports, IReadOnlyList<HostCandidate> hosts, PlannerPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(ports);
        ArgumentNullException.ThrowIfNull(hosts);
        ArgumentNullException.ThrowIfNull(policy);

        var order = InPlanningOrder(ports);
        var cluster = new ClusterState(hosts, policy);
        var placements = new List<Placement>(order.Length);
        var unplaced = new List<Unplaced>();
        foreach (var port in order)
        {
            var outcome = cluster.Place(port);
            if (outcome.Placement is { } placement) placements.Add(placement);
            else unplaced.Add(outcome.Unplaced!);
        }
        return new PlacementPlan(placements, unplaced);
    }

    /// <summary>Higher priority first, then port id (ordinal): unique keys, so a deterministic order.</summary>
    private static PortToPlace[] InPlanningOrder(IReadOnlyList<PortToPlace> ports)
    {
        var order = new PortToPlace[ports.Count];
        var seen = new HashSet<PortId>(ports.Count);
        for (var i = 0; i < ports.Count; i++)
        {
            var port = ports[i];
            if (port?.Spec is null) throw new ArgumentException($"Port #{i} is null.", nameof(ports));
            if (!seen.Add(port.Port)) throw new ArgumentException($"Port '{port.Port}' is listed twice.", nameof(ports));
            order[i] = port;
        }
        Array.Sort(order, static (a, b) =>
        {
            var byPriority = b.Spec.Priority.CompareTo(a.Spec.Priority);
            return byPriority != 0 ? byPriority : string.CompareOrdinal(a.Port.Value, b.Port.Value);
        });
        return order;
    }

    /// <summary>An empty group name is no group: it would otherwise tie unrelated ports together.</summary>
    private static string? GroupOf(PortSpec spec) => string.IsNullOrEmpty(spec.AntiAffinityGroup) ? null : spec.AntiAffinityGroup;

    private readonly record struct Outcome(Placement? Placement, Unplaced? Unplaced);

    /// <summary>A candidate host during planning: its free capacity and groups change as ports land on it.</summary>
    private sealed class Slot(HostCandidate host, int rank, int free)
    {
        public HostCandidate Host { get; } = host;
        /// <summary>Lower is tried first: 0 for a reserved host under PreferReserved, else 1.</summary>
        public int Rank { get; } = rank;
        public int Free { get; set; } = free;
        public HashSet<string>? Groups { get; private set; }

        public bool Carries(string group) => Groups?.Contains(group) == true;

        public bool AddGroup(string group) => (Groups ??= new HashSet<string>(StringComparer.Ordinal)).Add(group);
    }

    /// <summary>Order of preference: rank, then most free capacity, then host id.</summary>
    private sealed class Preference : IComparer<Slot>
    {
        public static readonly Preference Instance = new();

        public int Compare(Slot? x, Slot? y)
        {
            if (ReferenceEquals(x, y)) return 0;
            if (x is null) return -1;
            if (y is null) return 1;
            var byRank = x.Rank.CompareTo(y.Rank);
            if (byRank != 0) return byRank;
            var byFree = y.Free.CompareTo(x.Free);
            if (byFree != 0) return byFree;
            return string.CompareOrdinal(x.Host.Host.Value, y.Host.Host.Value); // host ids are unique
        }
    }

    /// <summary>The hosts as the plan so far leaves them.</summary>
    private sealed class ClusterState
    {
        private readonly ReservedHostPolicy _policy;
        private readonly Dictionary<HostId, HostCandidate> _all;
        /// <summary>Up hosts the policy admits, full or not.</summary>
        private readonly Dictionary<HostId, Slot> _eligible;
        /// <summary>Eligible hosts with free capacity, in order of preference.</summary>
        private readonly SortedSet<Slot> _open = new(Preference.Instance);
        /// <summary>For each group, how many hosts in <see cref="_open"/> carry it: refuses a port at once when all do.</summary>
        private readonly Dictionary<string, int> _openCarrying = new(StringComparer.Ordinal);
        private readonly int _upCount;
        private readonly int _reservedEligibleCount;

        public ClusterState(IReadOnlyList<HostCandidate> hosts, PlannerPolicy policy)
        {
            _policy = policy.Reserved;
            _all = new Dictionary<HostId, HostCandidate>(hosts.Count);
            _eligible = new Dictionary<HostId, Slot>(hosts.Count);
            for (var i = 0; i < hosts.Count; i++)
            {
                var host = hosts[i];
                if (host is null) throw new ArgumentException($"Host #{i} is null.", nameof(hosts));
                if (!_all.TryAdd(host.Host, host)) throw new ArgumentException($"Host '{host.Host}' is listed twice.", nameof(hosts));
                if (host.Status != HostStatus.Up) continue;
                _upCount++;
                if (_policy == ReservedHostPolicy.ReservedOnly && !host.Reserved) continue;

                var rank = _policy == ReservedHostPolicy.PreferReserved && host.Reserved ? 0 : 1;
                var slot = new Slot(host, rank, FreeOf(host));
                foreach (var here in host.PortsHere ?? [])
                {
                    if (here is not null && GroupOf(here) is { } group) slot.AddGroup(group);
                }
                _eligible.Add(host.Host, slot);
                if (host.Reserved) _reservedEligibleCount++;
                if (slot.Free > 0) Open(slot);
            }
        }

        /// <summary>A host reporting a negative capacity or load reports nonsense: it gets no port.</summary>
        private static int FreeOf(HostCandidate host) =>
            host.Capacity < 0 || host.Load < 0 ? 0 : Math.Max(0, host.Capacity - host.Load);

        private void Open(Slot slot)
        {
            _open.Add(slot);
            if (slot.Groups is null) return;
            foreach (var group in slot.Groups) _openCarrying[group] = _openCarrying.GetValueOrDefault(group) + 1;
        }

        public Outcome Place(PortToPlace port)
        {
            var group = GroupOf(port.Spec);
            Slot? fromSlot = null;
            if (port.From is { } from) _eligible.TryGetValue(from, out fromSlot);
            var fromOpen = fromSlot is { Free: > 0 };
            var openOthers = _open.Count - (fromOpen ? 1 : 0);

            Slot? chosen = null;
            var skipped = 0;
            if (openOthers > 0 && (group is null || !EveryOpenHostCarries(group, fromSlot, fromOpen)))
            {
                foreach (var slot in _open)
                {
                    if (ReferenceEquals(slot, fromSlot)) continue;
                    if (group is not null && slot.Carries(group)) { skipped++; continue; }
                    chosen = slot;
                    break;
                }
            }

            if (chosen is null) return new Outcome(null, Refuse(port, group, fromSlot, openOthers));
            var reason = WhyChosen(chosen, group, skipped);
            Take(chosen, group);
            return new Outcome(new Placement(port.Port, chosen.Host.Host, reason), null);
        }

        /// <summary>True when no open host other than the one the port leaves is free of the group.</summary>
        private bool EveryOpenHostCarries(string group, Slot? fromSlot, bool fromOpen)
        {
            var carrying = _openCarrying.GetValueOrDefault(group);
            // The host the port leaves is never a candidate: count it as if it carried the group.
            if (fromOpen && !fromSlot!.Carries(group)) carrying++;
            return carrying >= _open.Count;
        }

        private void Take(Slot slot, string? group)
        {
            // The free capacity is part of the sort key: take the slot out before changing it.
            _open.Remove(slot);
            slot.Free--;
            if (group is not null && slot.AddGroup(group)) _openCarrying[group] = _openCarrying.GetValueOrDefault(group) + 1;
            if (slot.Free > 0)
            {
                _open.Add(slot);
                return;
            }
            foreach (var carried in slot.Groups ?? []) _openCarrying[carried]--;
        }

        private string WhyChosen(Slot slot, string? group, int skipped)
        {
            var host = slot.Host;
            var figures = $"{slot.Free} of {Math.Max(0, host.Capacity)} slots free";
            var reason = _policy switch
            {
                ReservedHostPolicy.ReservedOnly => $"reserved host (reserved-only policy) with the most free capacity: {figures}",
                ReservedHostPolicy.PreferReserved when host.Reserved => $"reserved host with the most free capacity: {figures}",
                ReservedHostPolicy.PreferReserved when _reservedEligibleCount > 0 =>
                    $"no reserved host could take it; the Up host with the most free capacity: {figures}",
                _ => $"Up host with the most free capacity: {figures}",
            };
            return skipped == 0 ? reason : $"{reason}; passed over {Hosts(skipped)} with anti-affinity group '{group}'";
        }

        private Unplaced Refuse(PortToPlace port, string? group, Slot? fromSlot, int openOthers)
        {
            var fromIsUp = port.From is { } from && _all.TryGetValue(from, out var fromHost) && fromHost.Status == HostStatus.Up;
            var besides = fromIsUp ? $" other than {port.From}, which it leaves" : "";
            if (_upCount - (fromIsUp ? 1 : 0) == 0)
                return new Unplaced(port.Port, UnplacedCause.NoUpHost, $"no Up host{besides}");

            var eligibleOthers = _eligible.Count - (fromSlot is null ? 0 : 1);
            var pool = _policy == ReservedHostPolicy.ReservedOnly ? "reserved Up host" : "Up host";
            if (eligibleOthers == 0)
                return new Unplaced(port.Port, UnplacedCause.NoReservedHost, $"reserved-only policy and no reserved Up host{besides}");
            if (openOthers == 0)
                return new Unplaced(port.Port, UnplacedCause.NoCapacity, $"no {pool} with free capacity ({eligibleOthers} {Plural(pool, eligibleOthers)}, all full)");
            return new Unplaced(port.Port, UnplacedCause.AntiAffinity,
                $"anti-affinity group '{group}' on every {pool} with free capacity ({openOthers} {Plural(pool, openOthers)})");
        }

        private static string Hosts(int count) => count == 1 ? "1 host" : $"{count} hosts";

        private static string Plural(string noun, int count) => count == 1 ? noun : noun + "s";
    }
}
