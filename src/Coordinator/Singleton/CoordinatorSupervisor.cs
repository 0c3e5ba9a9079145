using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using Replug.Shared.Hosting;

namespace Replug.Coordinator.Singleton;

/// <summary>The supervisor gave up: the coordinator did not recover in <see cref="Attempts"/> attempts.</summary>
public sealed record CoordinatorGaveUp(int Attempts, string Problem);

/// <summary>
/// What the singleton manager runs: the coordinator as its child. Every message goes to the
/// child. When the child stops (its recovery failed: Akka stops a persistent actor whose
/// snapshot or journal cannot be read) or fails, a new one starts after a backoff that doubles,
/// logged once per step with its cause; a snapshot that does not deserialize is skipped (full
/// replay). While no child has recovered, this actor answers <see cref="CoordinatorQueries.GetReadiness"/>
/// itself, with the problem. After <see cref="RecoverySettings.Attempts"/> failed recoveries in
/// a row it gives up: by default the process exits with
/// <see cref="ExitCodes.CoordinatorUnrecoverable"/>, so that the service manager sees it.
/// </summary>
public sealed class CoordinatorSupervisor : ReceiveActor, IWithTimers
{
    public const string ChildName = "state";
    /// <summary>Messages kept while no coordinator runs (between attempts); older ones beyond this are dropped.</summary>
    public const int BufferLimit = 1000;

    private sealed record StartCoordinator;

    private readonly CoordinatorSettings _settings;
    private readonly RecoverySettings _recovery;
    private readonly Action<ActorSystem, CoordinatorGaveUp> _giveUp;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Queue<(object Message, IActorRef Sender)> _buffer = new();
    private IActorRef? _child;
    private bool _recovered;
    private bool _gaveUp;
    private int _failedAttempts;
    private bool _waitingForLock;
    private int _dropped;
    private SnapshotSelectionCriteria _snapshots = SnapshotSelectionCriteria.Latest;
    private CoordinatorRecoveryFailed? _recoveryFailure;
    private Exception? _crash;
    private string _problem = "the coordinator is recovering its state";

    public CoordinatorSupervisor(CoordinatorSettings settings, RecoverySettings recovery, Action<ActorSystem, CoordinatorGaveUp>? giveUp = null)
    {
        _settings = settings;
        _recovery = recovery;
        _giveUp = giveUp ?? ExitProcess;

        Receive<StartCoordinator>(_ => Start());
        Receive<CoordinatorRecoveryFailed>(f => { if (Sender.Equals(_child)) _recoveryFailure = f; });
        // The answer to the readiness question this actor asks each new child: it comes once recovered.
        Receive<CoordinatorQueries.Readiness>(r => OnChildReady(r));
        Receive<Terminated>(t => { if (t.ActorRef.Equals(_child)) OnChildStopped(); });
        Receive<CoordinatorQueries.GetReadiness>(q =>
        {
            if (_recovered && _child is not null) _child.Forward(q);
            else Sender.Tell(new CoordinatorQueries.Readiness(false, 0, 0, _problem));
        });
        ReceiveAny(Deliver);
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(CoordinatorSettings settings, RecoverySettings recovery, Action<ActorSystem, CoordinatorGaveUp>? giveUp = null) =>
        Akka.Actor.Props.Create(() => new CoordinatorSupervisor(settings, recovery, giveUp));

    /// <summary>The production give-up: a coordinated shutdown whose reason carries the exit code (the node leaves the cluster first).</summary>
    public static void ExitProcess(ActorSystem system, CoordinatorGaveUp why) =>
        CoordinatedShutdown.Get(system).Run(new ExitCodeReason(ExitCodes.CoordinatorUnrecoverable,
            $"the coordinator did not recover in {why.Attempts} attempt(s): {why.Problem}"));

    // The child's exceptions stop it (a persistent actor restarted in place would replay with the
    // same fault at once); this actor then restarts it with backoff. Logged here, once, with the cause.
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(e =>
    {
        _crash = e;
        return Directive.Stop;
    }, loggingEnabled: false);

    protected override void PreStart() => Start();

    private void Start()
    {
        // A coordinator starts (and is started again after a failure) only while this node's hold on
        // the journal lock is confirmed: one that lost it waits for the singleton manager to stop this
        // actor (the lease's loss) or for the hold to be confirmed again.
        var journalLock = Locking.JournalLocks.Get(Context.System);
        if (!journalLock.HeldNow)
        {
            if (!_waitingForLock) _log.Warning("The coordinator does not start: this node's hold on the journal lock is not confirmed");
            _waitingForLock = true;
            _problem = "this node's hold on the coordinator's journal lock is not confirmed";
            Timers.StartSingleTimer("start", new StartCoordinator(), journalLock.Settings.CheckInterval);
            return;
        }
        _waitingForLock = false;
        _recoveryFailure = null;
        _crash = null;
        _child = Context.Watch(Context.ActorOf(CoordinatorActor.Props(_settings, _snapshots), ChildName));
        // Stashed by the child until it has recovered and started its epoch; answered then.
        _child.Tell(new CoordinatorQueries.GetReadiness(), Self);
        if (_dropped > 0) _log.Warning("{0} message(s) to the coordinator were dropped while it was down", _dropped);
        _dropped = 0;
        while (_buffer.TryDequeue(out var kept)) _child.Tell(kept.Message, kept.Sender);
    }

    private void Deliver(object message)
    {
        if (_child is not null)
        {
            _child.Forward(message);
            return;
        }
        if (_gaveUp) return;
        if (_buffer.Count >= BufferLimit)
        {
            _buffer.Dequeue();
            _dropped++;
        }
        _buffer.Enqueue((message, Sender));
    }

    private void OnChildReady(CoordinatorQueries.Readiness readiness)
    {
        if (!readiness.Recovered || _child is null || !Sender.Equals(_child)) return;
        if (_failedAttempts > 0)
            _log.Info("Coordinator recovered after {0} failed attempt(s){1}", _failedAttempts,
                CoordinatorRecoveryPolicy.IsFullReplay(_snapshots) ? ", by full replay of the journal" : "");
        _recovered = true;
        _failedAttempts = 0;
        _problem = "the coordinator is recovering its state";
        // The next restart (after a later failure) tries the newest snapshot again: a new one is written by then.
        _snapshots = SnapshotSelectionCriteria.Latest;
    }

    private void OnChildStopped()
    {
        var wasRecovered = _recovered;
        _child = null;
        _recovered = false;
        if (wasRecovered)
        {
            // It ran, then failed: a fault of its own, not of its recovery. Start again, counting from 1.
            _failedAttempts = 0;
        }
        _failedAttempts++;
        switch (CoordinatorRecoveryPolicy.Next(_recovery, _failedAttempts, _snapshots, _recoveryFailure, _crash))
        {
            case RecoveryDecision.Retry retry:
                _problem = $"{retry.Problem}; attempt {retry.Attempt} of {_recovery.Attempts} in {retry.Delay.TotalSeconds:0.###} s";
                _log.Warning("Coordinator {0} (attempt {1} of {2}): {3}; next attempt in {4:0.###} s{5}",
                    wasRecovered ? "failed" : "recovery failed", _failedAttempts, _recovery.Attempts, retry.Problem, retry.Delay.TotalSeconds,
                    retry.SkipsSnapshots ? ", skipping snapshots (full replay of the journal)" : "");
                _snapshots = retry.Snapshots;
                if (retry.SkipsSnapshots) Observability.CoordinatorMetrics.For(Context.System).Snapshot(Observability.SnapshotOutcome.Unreadable);
                Timers.StartSingleTimer("start", new StartCoordinator(), retry.Delay);
                break;
            case RecoveryDecision.GiveUp giveUp:
                _gaveUp = true;
                _buffer.Clear();
                _problem = $"{giveUp.Problem}; gave up after {giveUp.Attempts} attempt(s)";
                _log.Error("Coordinator did not recover in {0} attempt(s): {1}. Giving up: this node stops (exit code {2})",
                    giveUp.Attempts, giveUp.Problem, ExitCodes.CoordinatorUnrecoverable);
                _giveUp(Context.System, new CoordinatorGaveUp(giveUp.Attempts, giveUp.Problem));
                break;
        }
    }
}
