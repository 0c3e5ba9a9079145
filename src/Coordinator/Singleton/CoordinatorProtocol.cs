using Replug.Shared.Devices;

namespace Replug.Coordinator.Singleton;

/// <summary>
/// Marker for the queries the HTTP API asks the singleton and their answers. They cross the
/// network (the API runs on every coordinator node, the singleton on one), so they are bound to
/// <see cref="CoordinatorEventSerializer"/> like the events.
/// </summary>
public interface ICoordinatorQuery;

public static class CoordinatorQueries
{
    public sealed record GetHosts : ICoordinatorQuery;
    public sealed record GetPorts : ICoordinatorQuery;
    public sealed record GetFailovers : ICoordinatorQuery;
    public sealed record GetNics : ICoordinatorQuery;
    public sealed record GetRecentEvents(int Max) : ICoordinatorQuery;
    public sealed record GetReadiness : ICoordinatorQuery;

    public sealed record HostsView(IReadOnlyList<HostView> Hosts) : ICoordinatorQuery;
    public sealed record PortsView(IReadOnlyList<PortView> Ports) : ICoordinatorQuery;
    public sealed record FailoversView(IReadOnlyList<FailoverRecord> Failovers) : ICoordinatorQuery;
    public sealed record NicsView(IReadOnlyList<Tracking.NicLocation> Nics) : ICoordinatorQuery;
    /// <summary>One recent event as an operator reads it.</summary>
    public sealed record EventRecord(string Type, DateTimeOffset At, string Summary);
    public sealed record EventsView(IReadOnlyList<EventRecord> Events) : ICoordinatorQuery;
    /// <summary>
    /// Whether the coordinator has recovered its state; when not, <paramref name="Problem"/> says
    /// why (recovering, or the journal fault that stops it). v2 added Problem.
    /// </summary>
    public sealed record Readiness(bool Recovered, long Epoch, int Hosts, string? Problem = null) : ICoordinatorQuery;
}

public sealed record CoordinatorSettings(
    TimeSpan MigrationWindow,
    TimeSpan Lease,
    TimeSpan LeaseMargin,
    TimeSpan CommandRetryInterval,
    int CommandAttempts,
    int SnapshotEvery,
    int RecentEventsKept = 1000,
    Planning.ReservedHostPolicy ReservedHosts = Planning.ReservedHostPolicy.PreferReserved,
    TimeSpan? Detection = null,
    Policies.PolicySettings? Policies = null,
    string? PolicyHook = null)
{
    /// <summary>The failure detector's acceptable heartbeat pause when none is given (ClusterNodeOptions' default).</summary>
    public static readonly TimeSpan DefaultDetection = new Shared.Hosting.ClusterNodeOptions().AcceptableHeartbeatPause;

    public static readonly CoordinatorSettings Default = new(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(2),
        TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(500), 6, 100);

    /// <summary>
    /// How long a host must stay unreachable (counted while this coordinator sees a majority) before
    /// its ports may move: its own lease has then surely run out. The host may notice the cut up to
    /// one failure-detection pause after the coordinator does — the cluster can learn of it from
    /// another member's older observation — so the wait is detection + lease + margin.
    /// </summary>
    public TimeSpan FailOverAfter => (Detection ?? DefaultDetection) + Lease + LeaseMargin;
}

