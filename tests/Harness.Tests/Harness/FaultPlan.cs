namespace Replug.Harness;

public enum FaultKind
{
    KillAgent,
    PauseAgent,
    RemoveNic,
    IsolateHost,
    CutAgents,
    KillCoordinator,
    MigrateNic,
    RestartEverything,
}

/// <summary>
/// One planned fault: what, on what, when (ms after the run's start) and for how long (0: no end,
/// e.g. a migration). <see cref="Flag"/>: an announced migration; a restart of everything by kill -9.
/// </summary>
public sealed record PlannedFault(int AtMs, FaultKind Kind, string Target, string? Other, int ForMs, bool Flag)
{
    public int EndMs => AtMs + ForMs;

    /// <summary>What it occupies while it lasts: its hosts, NIC or coordinator (a NIC's removal leaves its host free for other faults).</summary>
    public IReadOnlyList<string> Targets => Kind switch
    {
        FaultKind.CutAgents or FaultKind.MigrateNic => [Target, Other!],
        _ => [Target],
    };

    public override string ToString() => Kind switch
    {
        FaultKind.KillAgent => $"kill -9 agent {Target}, down {ForMs / 1000.0:0.0} s",
        FaultKind.PauseAgent => $"SIGSTOP agent {Target} for {ForMs / 1000.0:0.0} s",
        FaultKind.RemoveNic => $"remove NIC {Target} from {Other} for {ForMs / 1000.0:0.0} s",
        FaultKind.IsolateHost => $"cut {Target} off the management network for {ForMs / 1000.0:0.0} s",
        FaultKind.CutAgents => $"drop traffic {Target} <-> {Other} for {ForMs / 1000.0:0.0} s",
        FaultKind.KillCoordinator => $"kill -9 coordinator {Target}, down {ForMs / 1000.0:0.0} s",
        FaultKind.MigrateNic => $"migrate NIC {Target} to {Other} ({(Flag ? "announced" : "not announced")})",
        FaultKind.RestartEverything => $"restart every process ({(Flag ? "kill -9" : "SIGTERM")})",
        _ => Kind.ToString(),
    };
}

/// <summary>
/// A seeded schedule of faults: the same seed, topology and length give the same faults at the same
/// times on the same targets (what the cluster does in between is real time, not replayed). The plan
/// keeps itself consistent: one fault per host, NIC or coordinator at a time (with a pause after it
/// heals), at most <see cref="MaxConcurrent"/> faults at once, never both coordinators down, a
/// NIC removed only where it is (migrations move it), and a restart of everything only alone.
/// </summary>
public sealed record FaultPlan(int Seed, TimeSpan Length, IReadOnlyList<PlannedFault> Faults)
{
    public const int MaxConcurrent = 2;
    private const int Quiet = 3000; // after a fault heals, its target rests this long

    private static readonly (FaultKind Kind, double Weight)[] Mix =
    [
        (FaultKind.KillAgent, 3), (FaultKind.PauseAgent, 2), (FaultKind.RemoveNic, 3), (FaultKind.IsolateHost, 2),
        (FaultKind.CutAgents, 2), (FaultKind.KillCoordinator, 1), (FaultKind.MigrateNic, 2), (FaultKind.RestartEverything, 0.3),
    ];

    /// <summary>When every fault has ended.</summary>
    public int EndMs => Faults.Select(f => f.EndMs).DefaultIfEmpty(0).Max();

    public static FaultPlan Create(int seed, TimeSpan length, IReadOnlyList<HostSpec> hosts, IReadOnlyList<string> coordinators)
    {
        var random = new Random(seed);
        var faults = new List<PlannedFault>();
        var busyUntil = new Dictionary<string, int>(StringComparer.Ordinal);
        var nicHost = hosts.SelectMany(h => h.Ports.SelectMany(p => new[] { p.Primary, p.Standby }).Concat(h.FailoverDevices).Select(n => (n, h.Name)))
            .ToDictionary(x => x.n, x => x.Name, StringComparer.Ordinal);
        var hostNames = hosts.Select(h => h.Name).ToList();
        var total = (int)length.TotalMilliseconds;
        var t = 2000 + random.Next(3000);

        bool Free(string target) => !busyUntil.TryGetValue(target, out var until) || until <= t;
        int Active() => faults.Count(f => f.AtMs <= t && f.EndMs + Quiet > t);
        void Occupy(int end, params string[] targets) { foreach (var x in targets) busyUntil[x] = end + Quiet; }
        int Between(int minMs, int maxMs) => minMs + random.Next(maxMs - minMs + 1);
        T Pick<T>(IReadOnlyList<T> items) => items[random.Next(items.Count)];

        while (t < total)
        {
            var everythingBusy = busyUntil.TryGetValue("*", out var restartUntil) && restartUntil > t;
            if (!everythingBusy && Active() < MaxConcurrent)
            {
                var freeHosts = hostNames.Where(Free).ToList();
                var freeCoordinators = coordinators.Where(Free).ToList();
                var freeNics = nicHost.Keys.Where(Free).Where(n => Free(nicHost[n])).OrderBy(n => n, StringComparer.Ordinal).ToList();
                var coordinatorDown = coordinators.Count - freeCoordinators.Count;
                var feasible = Mix.Where(m => m.Kind switch
                {
                    FaultKind.KillAgent or FaultKind.PauseAgent or FaultKind.IsolateHost => freeHosts.Count > 0,
                    FaultKind.CutAgents => freeHosts.Count >= 2,
                    FaultKind.RemoveNic => freeNics.Count > 0,
                    FaultKind.MigrateNic => freeNics.Count > 0 && freeHosts.Count > 0,
                    FaultKind.KillCoordinator => freeCoordinators.Count > 0 && coordinatorDown == 0 && coordinators.Count > 1,
                    FaultKind.RestartEverything => Active() == 0,
                    _ => false,
                }).ToList();
                if (feasible.Count > 0)
                {
                    var roll = random.NextDouble() * feasible.Sum(m => m.Weight);
                    var kind = feasible.First(m => (roll -= m.Weight) < 0 || m == feasible[^1]).Kind;
                    PlannedFault fault;
                    switch (kind)
                    {
                        case FaultKind.KillAgent:
                            fault = new(t, kind, Pick(freeHosts), null, Between(500, 15000), false);
                            Occupy(fault.EndMs, fault.Target);
                            break;
                        case FaultKind.PauseAgent:
                            fault = new(t, kind, Pick(freeHosts), null, Between(1000, 12000), false);
                            Occupy(fault.EndMs, fault.Target);
                            break;
                        case FaultKind.IsolateHost:
                            fault = new(t, kind, Pick(freeHosts), null, Between(1000, 15000), false);
                            Occupy(fault.EndMs, fault.Target);
                            break;
                        case FaultKind.CutAgents:
                        {
                            var a = Pick(freeHosts);
                            var b = Pick(freeHosts.Where(h => h != a).ToList());
                            fault = new(t, kind, a, b, Between(1000, 15000), false);
                            Occupy(fault.EndMs, a, b);
                            break;
                        }
                        case FaultKind.RemoveNic:
                        {
                            var nic = Pick(freeNics);
                            fault = new(t, kind, nic, nicHost[nic], Between(1000, 10000), false);
                            Occupy(fault.EndMs, nic);
                            break;
                        }
                        case FaultKind.MigrateNic:
                        {
                            var nic = Pick(freeNics);
                            var targets = freeHosts.Where(h => h != nicHost[nic]).ToList();
                            if (targets.Count == 0) { t += 1000; continue; }
                            var to = Pick(targets);
                            fault = new(t, kind, nic, to, 0, random.Next(2) == 0);
                            Occupy(t + 5000, nic, nicHost[nic], to);
                            nicHost[nic] = to;
                            break;
                        }
                        case FaultKind.KillCoordinator:
                            fault = new(t, kind, Pick(freeCoordinators), null, Between(1000, 10000), false);
                            Occupy(fault.EndMs, fault.Target);
                            break;
                        default:
                            fault = new(t, kind, "*", null, 0, random.Next(2) == 0);
                            // Everything restarts: nothing else until the cluster is back (about 30 s).
                            Occupy(t + 30000, ["*", .. hostNames, .. coordinators, .. nicHost.Keys]);
                            break;
                    }
                    faults.Add(fault);
                }
            }
            t += Math.Clamp((int)(-Math.Log(1 - random.NextDouble()) * 5000), 1000, 12000);
        }
        return new FaultPlan(seed, length, faults);
    }

    public string Describe() => string.Join('\n', Faults.Select(f => $"  {f.AtMs / 1000.0,7:0.0} s  {f}"));
}
