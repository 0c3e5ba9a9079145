using Replug.Coordinator.Policies;
using Replug.Coordinator.Singleton;

namespace Replug.Coordinator.Tests.Simulation;

/// <summary>
/// The shape of one run. The cluster's own size (hosts, ports, coordinator nodes) is drawn from
/// the seed within these ranges; the timings default to the production ones (ClusterNodeOptions,
/// CoordinatorSettings.Default) so the bound below is the one a real cluster would have.
/// </summary>
public sealed record SimulationOptions
{
    public FaultProfile Profile { get; init; } = FaultProfile.Default;
    public (int Min, int Max) Hosts { get; init; } = (4, 6);
    public (int Min, int Max) Ports { get; init; } = (6, 12);
    public (int Min, int Max) CoordinatorNodes { get; init; } = (1, 3);
    /// <summary>How many fail-over devices each host keeps for ports that come from other hosts.</summary>
    public int FailoverDevicesPerHost { get; init; } = 2;

    /// <summary>Faults are injected from <see cref="FaultsFrom"/> for this long; then the world heals.</summary>
    public TimeSpan FaultPhase { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan FaultsFrom { get; init; } = TimeSpan.FromSeconds(3);
    /// <summary>The mean time between two injected faults.</summary>
    public TimeSpan MeanTimeBetweenFaults { get; init; } = TimeSpan.FromSeconds(2);

    public double DropProbability { get; init; } = 0.02;
    public double DuplicateProbability { get; init; } = 0.02;
    public double LongDelayProbability { get; init; } = 0.03;
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromMilliseconds(10);
    public TimeSpan MaxLongDelay { get; init; } = TimeSpan.FromMilliseconds(1500);

    // The cluster: ClusterNodeOptions' production values, read from there.
    private static readonly Replug.Shared.Hosting.ClusterNodeOptions Production = new();
    public TimeSpan Lease { get; init; } = Production.Lease;
    public TimeSpan Detection { get; init; } = Production.AcceptableHeartbeatPause;
    public TimeSpan StableAfter { get; init; } = Production.StableAfter;
    public TimeSpan MembershipTick { get; init; } = TimeSpan.FromMilliseconds(100);
    public TimeSpan JoinDelay { get; init; } = TimeSpan.FromMilliseconds(800);
    public TimeSpan HandoverGap { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan RegisterRetry { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>How often an agent reports every port's state again (HostAgentSettings.ReportInterval).</summary>
    public TimeSpan ReportInterval { get; init; } = Replug.Agent.Cluster.HostAgentSettings.DefaultReportInterval;

    public CoordinatorSettings Coordinator { get; init; } = CoordinatorSettings.Default with
    {
        Lease = Production.Lease, LeaseMargin = Production.LeaseMargin, Detection = Production.AcceptableHeartbeatPause,
    };

    /// <summary>
    /// Policies at their most eager, on the simulation's time scale (a round every 2 s, NICs retired
    /// after 4 s idle), and with no spare NIC kept: a port's only standby may be unplugged, so every
    /// fault of an active NIC must be met by plugging it back.
    /// </summary>
    public static readonly PolicySettings EagerPolicies = new(
        new LoadBalancingSettings(PolicyMode.Auto, Level: 5, Cooldown: TimeSpan.FromSeconds(20)),
        new PowerSavingSettings(PolicyMode.Auto, Level: 5, LowFor: TimeSpan.FromSeconds(8), HighFor: TimeSpan.FromSeconds(4),
            Reserve: new Reserve(SpareNicsPerPort: 0, SpareHosts: 1)),
        Interval: TimeSpan.FromSeconds(2));

    /// <summary>Keep every trace line (needed for a violation's short trace and for replay comparison).</summary>
    public bool RecordTrace { get; init; } = true;

    /// <summary>Replaces the decider (tests of the harness itself); null: the real <see cref="Replug.Coordinator.Deciding.CoordinatorDecider"/>.</summary>
    public Func<CoordinatorSettings, Func<Guid>, SimDecide>? Decider { get; init; }

    /// <summary>
    /// How long after the faults stop every port must be settled: a restarted process joins and
    /// registers, a host lost at the last moment is detected, downed (stable-after) and its lease
    /// and margin run out, the singleton is handed over, a NIC removal's migration window closes,
    /// and one command runs through all its retries before the port is placed elsewhere.
    /// </summary>
    public TimeSpan SettleBound
    {
        get
        {
            var c = Coordinator;
            return JoinDelay + RegisterRetry + Detection + StableAfter + HandoverGap + c.FailOverAfter + c.MigrationWindow
                + Retries() + MaxLongDelay + TimeSpan.FromSeconds(5);
        }
    }

    private TimeSpan Retries()
    {
        var state = new CoordinatorState(Coordinator);
        var retries = TimeSpan.Zero;
        for (var attempt = 1; attempt <= Coordinator.CommandAttempts; attempt++) retries += state.RetryDelay(attempt);
        return retries;
    }

    public string DescribeBound()
    {
        var c = Coordinator;
        return $"settle bound {SettleBound.TotalSeconds:0.#} s = join {JoinDelay.TotalSeconds:0.#} + register retry {RegisterRetry.TotalSeconds:0.#}"
            + $" + detection {Detection.TotalSeconds:0.#} + stable-after {StableAfter.TotalSeconds:0.#} + hand-over {HandoverGap.TotalSeconds:0.#}"
            + $" + fail-over wait (detection+lease+margin) {c.FailOverAfter.TotalSeconds:0.#} + migration window {c.MigrationWindow.TotalSeconds:0.#}"
            + $" + one command's {c.CommandAttempts} attempts {Retries().TotalSeconds:0.#} + longest message delay {MaxLongDelay.TotalSeconds:0.#} + 5 s slack";
    }
}

/// <summary>The decider as the simulation calls it.</summary>
public delegate Replug.Coordinator.Deciding.Decision SimDecide(CoordinatorState state, Replug.Coordinator.Deciding.ICoordinatorInput input, DateTimeOffset now);
