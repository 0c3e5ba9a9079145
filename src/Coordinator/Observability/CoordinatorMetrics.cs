using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Akka.Actor;
using Akka.Cluster;
using Akka.DependencyInjection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Replug.Agent.Observability;
using Replug.Coordinator.Singleton;
using static Replug.Coordinator.Singleton.CoordinatorEvents;

namespace Replug.Coordinator.Observability;

/// <summary>
/// The coordinator's instruments (meter <see cref="MeterName"/>): fail-overs, command retries and
/// policies' actions counted as the coordinator actor applies their events (live, not while it
/// replays its journal), the journal's write latency measured around its persist calls, and the
/// cluster's members read from Akka.Cluster at each scrape. The decider stays pure: it never sees these.
/// </summary>
public sealed class CoordinatorMetrics
{
    /// <summary>The meter's name; "failovers.started" is exported as replug_coordinator_failovers_started.</summary>
    public const string MeterName = "replug.coordinator";

    private static readonly ConditionalWeakTable<ActorSystem, CoordinatorMetrics> BySystem = new();

    private readonly Totals _started = new();
    private readonly Totals _completed = new();
    private readonly Totals _failed = new("stage");
    private readonly Totals _retries = new();
    private readonly Totals _policyActions = new("policy", "kind", "mode");
    private readonly Totals _snapshots = new("outcome");
    private readonly Histogram<double> _failoverDuration;
    private readonly Histogram<double> _journalWrite;
    private readonly Histogram<int> _journalBatch;
    private volatile Cluster? _cluster;

    /// <param name="meters">The host's meter factory; null: an unscoped meter no exporter of a host listens to (actor tests).</param>
    public CoordinatorMetrics(IMeterFactory? meters)
    {
        Meter = meters?.Create(MeterName) ?? new Meter(MeterName);
        Meter.CreateObservableCounter("failovers.started", _started.Observe, "{failover}", "Fail-overs started (a port to move off a lost host or NIC)");
        Meter.CreateObservableCounter("failovers.completed", _completed.Observe, "{failover}", "Fail-overs whose port the target host attached");
        Meter.CreateObservableCounter("failovers.failed", _failed.Observe, "{failure}",
            "Fail-overs that could not go on: no host could take the port (stage=unplaced), or the target refused or was lost (stage=command); either may still complete later");
        _failoverDuration = Meter.CreateHistogram<double>("failover.duration", "s", "From a fail-over's start to its end, by outcome (completed, cancelled)");
        Meter.CreateObservableCounter("commands.retries", _retries.Observe, "{retry}", "Commands to agents sent again for want of an answer");
        Meter.CreateObservableCounter("policy.actions", _policyActions.Observe, "{action}",
            "Policies' verdicts, by policy, kind of action and mode (advise: recorded only; auto: carried out)");
        _journalWrite = Meter.CreateHistogram<double>("journal.write.latency", "s",
            "From the coordinator's persist call to the journal's confirmation of the batch");
        _journalBatch = Meter.CreateHistogram<int>("journal.write.events", "{event}",
            "Events per journal write: the decisions of a burst are written together");
        Meter.CreateObservableCounter("snapshots", _snapshots.Observe, "{snapshot}",
            "The coordinator's snapshots, by outcome: saved, failed (the store refused it), unreadable (it did not deserialize at a recovery, which then went without it)");
        Meter.CreateObservableGauge("cluster.members", ObserveMembers, "{member}",
            "The cluster's members as this node sees them, by status (and unreachable ones as status=unreachable)");
    }

    /// <summary>The meter the instruments belong to.</summary>
    public Meter Meter { get; }

    /// <summary>The metrics of <paramref name="system"/>'s host (from its services), or of the system alone when it has none.</summary>
    public static CoordinatorMetrics For(ActorSystem system) => BySystem.GetValue(system, s =>
        s.Settings.Setup.Get<DependencyResolverSetup>().HasValue
            ? DependencyResolver.For(s).Resolver.GetService<CoordinatorMetrics>() ?? new CoordinatorMetrics(null)
            : new CoordinatorMetrics(null));

    /// <summary>The cluster whose members "cluster.members" shows.</summary>
    public void ObserveCluster(Cluster cluster) => _cluster = cluster;

    /// <summary>One event the coordinator persisted and applied; <paramref name="state"/> is the state after it.</summary>
    public void Applied(ICoordinatorEvent applied, CoordinatorState state)
    {
        switch (applied)
        {
            case FailoverStarted:
                _started.Add();
                break;
            case FailoverCompleted c:
                _completed.Add();
                Ended(c.Id, c.At, "completed", state);
                break;
            case FailoverCancelled c:
                Ended(c.Id, c.At, "cancelled", state);
                break;
            case FailoverUnplaced:
                _failed.Add(1, "unplaced");
                break;
            case FailoverCommandFailed:
                _failed.Add(1, "command");
                break;
            case CommandRetried:
                _retries.Add();
                break;
            case PolicyDecided p:
                _policyActions.Add(1, p.Policy, KindOf(p.Action), p.Mode.ToString());
                break;
        }
    }

    /// <summary>A batch of events written: from the persist call to the journal's last confirmation.</summary>
    /// <summary>A snapshot saved, failed or found unreadable (<see cref="SnapshotOutcome"/>).</summary>
    public void Snapshot(string outcome) => _snapshots.Add(1, outcome);

    /// <summary>The snapshots counted under <paramref name="outcome"/> so far.</summary>
    public long Snapshots(string outcome) => _snapshots.Of(outcome);

    public void JournalWritten(TimeSpan took, int events)
    {
        _journalWrite.Record(took.TotalSeconds);
        _journalBatch.Record(events);
    }

    /// <summary>A policy action's kind as a label: its type's name ("MovePort", "UnplugNic", ...).</summary>
    public static string KindOf(Policies.PolicyAction action) => action.GetType().Name;

    private void Ended(FailoverId id, DateTimeOffset at, string outcome, CoordinatorState state)
    {
        if (state.Failovers.GetValueOrDefault(id) is { } failover)
            _failoverDuration.Record((at - failover.Started).TotalSeconds, new KeyValuePair<string, object?>("outcome", outcome));
    }

    private IEnumerable<Measurement<long>> ObserveMembers()
    {
        if (_cluster is not { } cluster) yield break;
        var state = cluster.State;
        var byStatus = state.Members.GroupBy(m => m.Status).ToDictionary(g => g.Key, g => g.Count());
        foreach (var status in Enum.GetValues<MemberStatus>())
            yield return new(byStatus.GetValueOrDefault(status), Status(status.ToString().ToLowerInvariant()));
        yield return new(state.Unreachable.Count, Status("unreachable"));

        static KeyValuePair<string, object?> Status(string status) => new("status", status);
    }
}

/// <summary>Registration of the coordinator's metrics in a host's services.</summary>
public static class CoordinatorObservability
{
    /// <summary>The Prometheus export, the health checks' service, and <see cref="CoordinatorMetrics"/> (made once the export listens).</summary>
    public static IServiceCollection AddCoordinatorObservability(this IServiceCollection services)
    {
        services.AddReplugMetrics();
        services.TryAddSingleton(sp =>
        {
            sp.GetRequiredService<PrometheusExport>();
            return new CoordinatorMetrics(sp.GetRequiredService<IMeterFactory>());
        });
        return services;
    }
}

/// <summary>The values of the "outcome" label of replug_coordinator_snapshots.</summary>
public static class SnapshotOutcome
{
    public const string Saved = "saved";
    public const string Failed = "failed";
    public const string Unreadable = "unreadable";
}
