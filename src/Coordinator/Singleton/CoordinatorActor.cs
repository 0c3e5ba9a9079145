using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using Akka.Persistence;
using Replug.Coordinator.Api;
using Replug.Coordinator.Deciding;
using Replug.Shared.Protocol;
using static Replug.Coordinator.Deciding.CoordinatorInputs;

namespace Replug.Coordinator.Singleton;

/// <summary>
/// The cluster's fail-over coordinator: one instance in the cluster (singleton on the
/// "coordinator" role), state event-sourced in SQL. A thin shell over
/// <see cref="CoordinatorDecider"/>: it turns messages into inputs, persists the decision's
/// events, then sends its messages, and ticks at the state's next deadline. Every decision is
/// persisted before it is acted on, and everything the decider reads is rebuilt from the
/// journal, so a new instance after a hand-over resumes exactly.
/// </summary>
public sealed class CoordinatorActor : ReceivePersistentActor, IWithTimers
{
    public const string PersistenceIdValue = "replug-coordinator";
    private const string TickTimer = "tick";
    private const string PolicyTimer = "policies";

    private readonly CoordinatorSettings _settings;
    private readonly CoordinatorState _state;
    private readonly CoordinatorDecider _decider;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Policies.PolicyHook? _hook;
    private readonly Observability.CoordinatorMetrics _metrics = Observability.CoordinatorMetrics.For(Context.System);
    private readonly RecentEvents _recent;
    // Wall time at start plus the monotonic clock since: leases are counted on a clock that a
    // stepped wall clock (NTP, an operator) cannot move forward, which would end them early.
    private readonly DateTimeOffset _clockOrigin = DateTimeOffset.UtcNow;
    private readonly System.Diagnostics.Stopwatch _sinceOrigin = System.Diagnostics.Stopwatch.StartNew();
    private DateTimeOffset Now => _clockOrigin + _sinceOrigin.Elapsed;
    private bool _recovered;
    private readonly Locking.JournalLocks _journalLock = Locking.JournalLocks.Get(Context.System);
    private bool _refusingLeases;
    private DateTimeOffset? _tickAt;
    // One snapshot in flight at a time: a burst of events must not queue a copy of the whole state per N events.
    private bool _snapshotInFlight;
    private long _lastSnapshotAt;
    // The journal is compacted behind the snapshot before the latest: if the latest cannot be read, that one and the events after it rebuild the state.
    private long _latestSnapshot;
    private long _expectedNext = 1;
    // The snapshot before the one in flight: where the count restarts from when that one fails.
    private long _previousSnapshotAt;
    private readonly SnapshotSchedule _snapshotSchedule;
    // Decided, not yet written: see Decide.
    private const int MaxBatchEvents = 1000;
    private readonly List<PendingDecision> _batch = [];
    private int _batchEvents;
    private bool _flushQueued;

    public CoordinatorActor(CoordinatorSettings settings)
    {
        _settings = settings;
        _state = new CoordinatorState(settings);
        _recent = new RecentEvents(settings.RecentEventsKept);
        _decider = new CoordinatorDecider(settings, Guid.NewGuid);
        _snapshotSchedule = new SnapshotSchedule(settings.SnapshotEvery);
        _hook = settings.PolicyHook is { Length: > 0 } hook ? new Policies.PolicyHook(hook, _log) : null;

        Recover<SnapshotOffer>(offer =>
        {
            if (offer.Snapshot is CoordinatorSnapshot snapshot) _state.Restore(snapshot);
            _latestSnapshot = offer.Metadata.SequenceNr;
            _expectedNext = offer.Metadata.SequenceNr + 1;
        });
        Recover<ICoordinatorEvent>(e =>
        {
            // Never a state built on a hole: events deleted behind a snapshot need that snapshot.
            if (LastSequenceNr != _expectedNext) throw new JournalGapException(_expectedNext, LastSequenceNr);
            _expectedNext = LastSequenceNr + 1;
            _state.Apply(e);
            Remember(e);
        });
        Recover<RecoveryCompleted>(_ =>
        {
            // Counted from the snapshot recovered from, not from here: the events replayed count towards the
            // next snapshot, so restarts do not let the replay grow past the schedule's bound.
            _lastSnapshotAt = _latestSnapshot;
            Decide(new Recovered(Cluster.Get(Context.System).SelfAddress.ToString()), () =>
            {
                _recovered = true;
                StartPolicyTimer();
                // The whole membership first (hosts removed while no instance listened are gone), then changes.
                Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot,
                    typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));
            });
        });

        Command<IHostMessage>(m =>
        {
            if (m is HostProtocol.RenewLease renew && !MayGrantLeases(renew)) return;
            Decide(new FromHost(m));
        });
        Command<IOperatorMessage>(m => Decide(new FromOperator(m)));
        Command<ICoordinatorRequest>(r =>
        {
            var before = _state.Policies.EffectiveInterval;
            Decide(new FromApi(r), () =>
            {
                if (_state.Policies.EffectiveInterval != before) StartPolicyTimer();
            });
        });
        Command<PolicyTick>(_ => Decide(PolicyTick.Instance));
        Command<FlushBatch>(_ =>
        {
            _flushQueued = false;
            Flush();
        });
        Command<CoordinatorRequests.GetPolicies>(_ => Answer(() => CoordinatorDecider.PoliciesView(_state)));
        Command<CoordinatorRequests.GetDecisions>(g => Answer(() => new CoordinatorRequests.DecisionsView(
            [.. _state.Decisions.Reverse().Take(Math.Clamp(g.Max, 1, CoordinatorState.DecisionsKept)).Select(d => CoordinatorDecider.View(_state, d))])));
        Command<CoordinatorRequests.GetOperations>(_ => Answer(() => new CoordinatorRequests.OperationsView(
            [.. _state.Operations.Values.OrderByDescending(o => o.Started)])));
        Command<ClusterEvent.CurrentClusterState>(s => Decide(new Membership(
            // The members keep-majority counts (and the agents' leases): Up and Leaving.
            [.. s.Members.Where(m => m.Status is MemberStatus.Up or MemberStatus.Leaving).Select(m => m.Address.ToString())],
            [.. s.Unreachable.Select(m => m.Address.ToString())],
            [.. s.Members.Where(m => m.Status is MemberStatus.Joining or MemberStatus.WeaklyUp).Select(m => m.Address.ToString())])));
        Command<ClusterEvent.MemberUp>(m => Decide(new MemberUp(m.Member.Address.ToString(), m.Member.UniqueAddress.Uid)));
        Command<ClusterEvent.UnreachableMember>(m => Decide(new MemberUnreachable(m.Member.Address.ToString())));
        Command<ClusterEvent.ReachableMember>(m => Decide(new MemberReachable(m.Member.Address.ToString())));
        Command<ClusterEvent.MemberRemoved>(m => Decide(new MemberGone(m.Member.Address.ToString(), "removed from the cluster",
            Left: m.PreviousStatus is MemberStatus.Exiting or MemberStatus.Leaving, Uid: m.Member.UniqueAddress.Uid)));
        // A leaving agent takes its ports down before it leaves (its coordinated shutdown): they may move at once.
        Command<ClusterEvent.MemberExited>(m => Decide(new MemberGone(m.Member.Address.ToString(), "left the cluster", Left: true, Uid: m.Member.UniqueAddress.Uid)));
        Command<ClusterEvent.MemberDowned>(m => Decide(new MemberGone(m.Member.Address.ToString(), "downed", Uid: m.Member.UniqueAddress.Uid)));
        Command<ClusterEvent.IMemberEvent>(_ => { });
        Command<Tick>(_ =>
        {
            _tickAt = null;
            Decide(Tick.Instance);
        });
        Command<CoordinatorQueries.GetHosts>(_ => Answer(() => new CoordinatorQueries.HostsView(CoordinatorViews.Hosts(_state))));
        Command<CoordinatorQueries.GetPorts>(_ => Answer(() => new CoordinatorQueries.PortsView(CoordinatorViews.Ports(_state))));
        Command<CoordinatorQueries.GetFailovers>(_ => Answer(() => new CoordinatorQueries.FailoversView([.. _state.Failovers.Values.OrderByDescending(f => f.Started)])));
        Command<CoordinatorQueries.GetNics>(_ => Answer(() => new CoordinatorQueries.NicsView([.. _state.Nics.Locations])));
        Command<CoordinatorQueries.GetRecentEvents>(g => Answer(() => new CoordinatorQueries.EventsView(
            [.. _recent.Newest(g.Max).Select(EventDescriptions.Describe)])));
        Command<EventFeed.GetEventsAfter>(g => Answer(() => _recent.After(g.After, g.Max, LastSequenceNr)));
        Command<CoordinatorQueries.GetReadiness>(_ => Answer(() => new CoordinatorQueries.Readiness(_recovered, _state.Epoch, _state.Hosts.Count)));
        Command<SaveSnapshotSuccess>(s =>
        {
            _snapshotInFlight = false;
            _metrics.Snapshot(Observability.SnapshotOutcome.Saved);
            // Keep this snapshot and the one before it, and the events after that one: a bounded journal
            // that still recovers when the newest snapshot cannot be read.
            var previous = _latestSnapshot;
            _latestSnapshot = s.Metadata.SequenceNr;
            if (previous > 0)
            {
                DeleteMessages(previous);
                DeleteSnapshots(new SnapshotSelectionCriteria(previous - 1));
            }
            // Events written while this one was in flight may make the next due already. Taken now when the
            // state equals the journal (nothing decided waits for a write), or else at the end of that write:
            // the recovery bound holds once a burst ends, not only at the next write.
            if (_batch.Count == 0) MaybeSnapshot();
        });
        Command<DeleteMessagesSuccess>(_ => { });
        Command<DeleteMessagesFailure>(f => _log.Warning("Coordinator journal compaction up to event {0} failed (the events stay; next snapshot retries): {1}",
            f.ToSequenceNr, f.Cause.Message));
        Command<SaveSnapshotFailure>(f =>
        {
            _snapshotInFlight = false;
            // Due again at the next write: the events since the last snapshot saved are still to be covered.
            _lastSnapshotAt = _previousSnapshotAt;
            _metrics.Snapshot(Observability.SnapshotOutcome.Failed);
            _log.Warning("Coordinator snapshot failed: {0}", f.Cause.Message);
        });
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(f => _log.Warning("Deleting old coordinator snapshots failed: {0}", f.Cause.Message));
    }

    public override string PersistenceId => PersistenceIdValue;

    /// <summary>
    /// A lease promises that no coordinator moves the host's ports until it runs out: only the
    /// journal lock's holder can promise that (another holder would not know of the grant). When
    /// this process's hold is no longer confirmed (its database session is late or gone), the
    /// agents' leases run out instead, and the singleton is stopped by the lease's loss.
    /// </summary>
    private bool MayGrantLeases(HostProtocol.RenewLease renew)
    {
        var held = _journalLock.HeldNow;
        if (held == !_refusingLeases) return held;
        _refusingLeases = !held;
        if (held) _log.Info("Journal lock confirmed again: leases are granted");
        else _log.Warning("Journal lock not confirmed: no lease granted (first refused: host {0})", renew.Host);
        return held;
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(CoordinatorSettings settings) => Akka.Actor.Props.Create(() => new CoordinatorActor(settings));

    // ---- recovery hooks for CoordinatorSupervisor (journal faults) ----------------------------
    // Kept in this one block: which snapshots recovery reads, and the failure told to the parent.

    /// <summary>Reads snapshots per <paramref name="snapshots"/>: <see cref="SnapshotSelectionCriteria.None"/> replays the whole journal.</summary>
    public CoordinatorActor(CoordinatorSettings settings, SnapshotSelectionCriteria snapshots) : this(settings) => _snapshots = snapshots;

    private readonly SnapshotSelectionCriteria _snapshots = SnapshotSelectionCriteria.Latest;

    public override Akka.Persistence.Recovery Recovery => new(_snapshots);

    public static Props Props(CoordinatorSettings settings, SnapshotSelectionCriteria snapshots) =>
        Akka.Actor.Props.Create(() => new CoordinatorActor(settings, snapshots));

    /// <summary>Akka stops this actor after this call; the supervisor logs the cause once and decides what comes next.</summary>
    protected override void OnRecoveryFailure(Exception reason, object? message = null) =>
        Context.Parent.Tell(new CoordinatorRecoveryFailed(reason, message, LastSequenceNr));

    // ---- end of recovery hooks ---------------------------------------------------------------

    protected override void PostStop()
    {
        Cluster.Get(Context.System).Unsubscribe(Self);
        base.PostStop();
    }

    /// <summary>
    /// A rejected write (the journal refused the event) leaves the state ahead of the journal:
    /// restart, so the state is rebuilt from what was really persisted.
    /// </summary>
    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        base.OnPersistRejected(cause, @event, sequenceNr);
        throw new InvalidOperationException($"The journal rejected {@event.GetType().Name} #{sequenceNr}: rebuilding the coordinator's state from the journal", cause);
    }

    /// <summary>
    /// Decide, persist, then act: the messages leave only once the events are in the journal. Decisions
    /// are persisted in batches: each is decided at once (the state moves on), its events join the
    /// batch, and a <see cref="FlushBatch"/> sent to itself writes the batch in one journal write after
    /// every message already in the mailbox has been decided too (or at once at <see cref="MaxBatchEvents"/>).
    /// While that write runs Akka holds back every message, so the next batch forms meanwhile: a burst of
    /// reports costs a few writes, not one per report. Nothing a decision sends, and no answer to a query
    /// asked after it, leaves before the batch is in the journal.
    /// </summary>
    private void Decide(ICoordinatorInput input, Action? then = null)
    {
        var decision = _decider.Decide(_state, input, Now);
        var pending = new PendingDecision(decision, Sender, AddressesOf(decision), then);
        if (decision.Events.Count == 0 && _batch.Count == 0)
        {
            Act(pending);
            ScheduleTick();
            return;
        }
        _batch.Add(pending);
        _batchEvents += decision.Events.Count;
        if (_batchEvents >= MaxBatchEvents) Flush();
        else if (!_flushQueued)
        {
            _flushQueued = true;
            Self.Tell(FlushBatch.Instance);
        }
    }

    /// <summary>A query's answer: now, or once the batch decided before it is in the journal, made from the state then (all of it written).</summary>
    private void Answer(Func<object> reply)
    {
        if (_batch.Count == 0) Sender.Tell(reply());
        else _batch.Add(new PendingDecision(Decision.None, Sender, NoAddresses, null, reply));
    }

    private void Flush()
    {
        if (_batch.Count == 0) return;
        var batch = _batch.ToArray();
        var events = batch.SelectMany(p => p.Decision.Events).ToArray();
        _batch.Clear();
        _batchEvents = 0;
        if (events.Length == 0)
        {
            ActAll(batch);
            return;
        }
        // Only the journal lock's holder writes. An instance whose hold is no longer confirmed (its
        // process was paused, its database session is late or gone) may have a successor already:
        // it stops here, before the write, and nothing of the batch is sent. (The journal's unique
        // sequence numbers refuse its write anyway once the successor has written: README, "One
        // coordinator acts".)
        if (!_journalLock.HeldNow) throw new Locking.JournalLockNotHeldException(events.Length);
        var left = events.Length;
        var writing = System.Diagnostics.Stopwatch.GetTimestamp();
        // Already applied by the decider; persisted here. A failed write stops this instance, and the
        // next one rebuilds the state from the journal: nothing of the batch was sent.
        PersistAll(events, persisted =>
        {
            Remember(persisted);
            _metrics.Applied(persisted, _state);
            if (--left > 0) return;
            _metrics.JournalWritten(System.Diagnostics.Stopwatch.GetElapsedTime(writing), events.Length);
            MaybeSnapshot();
            ActAll(batch);
        });
    }

    private void ActAll(IEnumerable<PendingDecision> batch)
    {
        foreach (var pending in batch) Act(pending);
        ScheduleTick();
    }

    /// <summary>Where each host a decision writes to is now: its messages go to the incarnation the decision was made for.</summary>
    private IReadOnlyDictionary<Shared.Devices.HostId, string> AddressesOf(Decision decision)
    {
        Dictionary<Shared.Devices.HostId, string>? addresses = null;
        foreach (var message in decision.Messages)
            if (message is Outbound.ToHost { Host: var host } && _state.Hosts.GetValueOrDefault(host) is { } record)
                (addresses ??= [])[host] = record.Address;
        return addresses ?? NoAddresses;
    }

    // Most decisions write to no host (a report recorded, a query answered): no dictionary for them.
    private static readonly IReadOnlyDictionary<Shared.Devices.HostId, string> NoAddresses = new Dictionary<Shared.Devices.HostId, string>();

    private void Act(PendingDecision pending)
    {
        var (decision, sender, addresses, then, answer) = pending;
        if (answer is not null) sender.Tell(answer(), Self);
        foreach (var line in decision.Log)
        {
            switch (line.Level)
            {
                case DecisionLogLevel.Error: _log.Error(line.Template, [.. line.Fields]); break;
                case DecisionLogLevel.Warning: _log.Warning(line.Template, [.. line.Fields]); break;
                default: _log.Info(line.Template, [.. line.Fields]); break;
            }
        }
        foreach (var message in decision.Messages)
        {
            switch (message)
            {
                case Outbound.ToHost { Host: var host, Message: var m } when addresses.TryGetValue(host, out var address):
                    Context.ActorSelection(ActorNames.HostAgentAt(address)).Tell(m, Self);
                    break;
                case Outbound.Reply { Message: var m }:
                    sender.Tell(m, Self);
                    break;
                case Outbound.Recommend r:
                    _hook?.Run(r.Decision, r.Mode);
                    break;
            }
        }
        then?.Invoke();
    }

    /// <summary>A decided input waiting for its batch's write: what it sends, to whom, and what follows; or a query's answer (<see cref="Answer"/>).</summary>
    private sealed record PendingDecision(Decision Decision, IActorRef Sender, IReadOnlyDictionary<Shared.Devices.HostId, string> Addresses, Action? Then, Func<object>? Answer = null);

    /// <summary>Sent to itself: write the batch decided so far.</summary>
    private sealed class FlushBatch
    {
        public static readonly FlushBatch Instance = new();
    }

    /// <summary>The policies run on their own timer, at their interval (a change through the API restarts it).</summary>
    private void StartPolicyTimer()
    {
        var every = _state.Policies.EffectiveInterval;
        Timers.StartPeriodicTimer(PolicyTimer, PolicyTick.Instance, every, every);
    }

    private void ScheduleTick()
    {
        if (_state.NextDeadline is not { } deadline)
        {
            Timers.Cancel(TickTimer);
            _tickAt = null;
            return;
        }
        if (_tickAt == deadline) return;
        _tickAt = deadline;
        var delay = deadline - Now;
        Timers.StartSingleTimer(TickTimer, Tick.Instance, delay > TimeSpan.Zero ? delay + TimeSpan.FromMilliseconds(1) : TimeSpan.Zero);
    }

    private void Remember(ICoordinatorEvent e)
    {
        // Recovery and persist callbacks both run with LastSequenceNr at this event's journal entry.
        _recent.Remember(LastSequenceNr, e);
    }

    /// <summary>
    /// A snapshot when <see cref="SnapshotSchedule"/> says one is due, taken at the end of a journal write,
    /// so that it equals the journal up to its sequence number. The state is copied here (on the actor);
    /// the snapshot store serializes and writes the copy on its own.
    /// </summary>
    private void MaybeSnapshot()
    {
        if (_snapshotInFlight || !_snapshotSchedule.IsDue(LastSequenceNr - _lastSnapshotAt, _state.SnapshotRecords)) return;
        _snapshotInFlight = true;
        _previousSnapshotAt = _lastSnapshotAt;
        _lastSnapshotAt = LastSequenceNr;
        SaveSnapshot(_state.ToSnapshot());
    }
}
