using System.Text;

namespace Replug.Coordinator.Tests.Simulation;

/// <summary>What one seed did: its size, the faults injected by kind, the violations with their short traces.</summary>
public sealed record SimulationResult(
    int Seed,
    string Profile,
    long Steps,
    long SimulatedMs,
    IReadOnlyDictionary<string, int> FaultsInjected,
    IReadOnlyList<Violation> Violations,
    IReadOnlyList<TraceLine> Trace,
    IReadOnlyList<IReadOnlyList<TraceLine>> ShortTraces,
    string Layout)
{
    public bool Passed => Violations.Count == 0;
    public int FaultCount => FaultsInjected.Values.Sum();

    /// <summary>How to run this seed again, with its whole trace.</summary>
    public string ReplayCommand =>
        $"dotnet run -c Release --project bench/Replug.Bench -- simulate --seed {Seed} --profile {Profile} --trace";

    /// <summary>The seed, each violation and the last trace lines about what it involves.</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        text.AppendLine($"seed {Seed} (profile {Profile}): {Violations.Count} violation(s) in {Steps} steps, {FaultCount} faults; {Layout}");
        for (var i = 0; i < Violations.Count; i++)
        {
            text.AppendLine($"  {Violations[i]}");
            if (i < ShortTraces.Count)
                foreach (var line in ShortTraces[i]) text.AppendLine($"      {line}");
        }
        text.AppendLine($"  replay: {ReplayCommand}");
        return text.ToString();
    }
}

/// <summary>
/// Runs one seed: the cluster comes up, faults are injected for the fault phase, then stop; the
/// ports must settle within the options' bound. Invariant 1 is checked after every step,
/// invariants 2 and 5 at the bound and again at the end.
/// </summary>
public static class SimulationRunner
{
    public const long MaxSteps = 1_000_000;

    public static SimulationResult Run(int seed, SimulationOptions? options = null, Action<SimWorld>? script = null)
    {
        options ??= new SimulationOptions();
        var world = new SimWorld(seed, options);
        var scheduler = world.Scheduler;
        var layout = $"{world.CoordinatorNodes.Count()} coordinator node(s), hosts "
            + string.Join(" ", world.HostNodes.Select(h => $"{h.Name}[{string.Join(",", h.Host!.Ports.Select(p => p.Spec.Port))}]"));
        world.Log($"seed {seed}, profile {options.Profile.Name}: {layout}");

        // Coordinator nodes first (the oldest hosts the singleton), then the hosts.
        foreach (var node in world.CoordinatorNodes) world.StartNode(node);
        foreach (var host in world.HostNodes)
        {
            var node = host;
            scheduler.After(50 + world.Random.Next(500), $"{node.Name} boots", () => world.StartNode(node));
        }
        void Tick()
        {
            world.MembershipTick();
            scheduler.After(options.MembershipTick, "membership", Tick);
        }
        scheduler.After(options.MembershipTick, "membership", Tick);

        var faultsFrom = (long)options.FaultsFrom.TotalMilliseconds;
        var quietAt = faultsFrom + (long)options.FaultPhase.TotalMilliseconds;
        var settleAt = quietAt + (long)options.SettleBound.TotalMilliseconds;
        var endAt = settleAt + 2000;
        scheduler.At(faultsFrom, "faults start", () => world.Network.Faulty = true);
        new FaultInjector(world).Schedule(faultsFrom, quietAt);
        script?.Invoke(world);
        scheduler.At(quietAt, "faults stop", world.StopFaults);
        scheduler.At(settleAt, "settle check", () => world.Invariants.CheckSettled($"{options.SettleBound.TotalSeconds:0.#} s after the faults stopped"));
        scheduler.At(endAt, "final check", () => world.Invariants.CheckSettled("at the end"));

        long steps = 0;
        while (scheduler.TryStep(endAt, out _))
        {
            world.Trace.Step = ++steps;
            world.Invariants.AfterStep();
            if (steps < MaxSteps) continue;
            world.Log($"VIOLATION liveness: {MaxSteps} steps before {endAt / 1000.0:0.#} s of simulated time (a timer that fires in a loop?)");
            break;
        }

        var violations = world.Invariants.Violations.ToList();
        if (steps >= MaxSteps) violations.Add(new Violation("liveness", steps, scheduler.Now, $"more than {MaxSteps} steps", []));
        return new SimulationResult(seed, options.Profile.Name, steps, scheduler.Now, world.Faults, violations,
            world.Trace.Lines, [.. violations.Select(v => world.Trace.ShortTrace(v))], layout);
    }
}
