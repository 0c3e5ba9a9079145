using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Replug.Agent.Devices;
using Replug.Shared.Devices;
using static Replug.Agent.Devices.DeviceProtocol;

namespace Replug.Agent.Ports;

/// <summary>
/// One logical port (the seed's fail-safe driver). Registers with the watcher for each of its
/// sub-devices, hears their health from their supervisors, asks <see cref="FailSafePort"/>
/// what to do, and carries it out through <see cref="IDataPath"/>. A supervisor's remap request
/// is acknowledged only after the switch is done, so a device is never detached while it
/// still carries the port's traffic.
/// <para>
/// Whenever it is idle and carries traffic over a data path that switches inline, the port
/// prepares the switch for the loss of its active device (<see cref="PreparedSwitch"/>): the
/// uevent source's thread carries it out the moment the kernel reports the loss, and the port
/// absorbs the outcome before anything else it handles. Every message that may change the port
/// withdraws the prepared switch first, so the source only ever fires what the port's current
/// state decides.
/// </para>
/// </summary>
public sealed class FailSafeGroup : ReceiveActor, IWithUnboundedStash
{
    private sealed record ActionDone(PortAction Action, DataPathResult Result, long TriggerTimestamp);

    private readonly FailSafePort _port;
    private readonly IDataPath _dataPath;
    private readonly IActorRef _watcher;
    private readonly TimeSpan _switchTimeout;
    private readonly Action? _stopped;
    private readonly PreparedSwitches? _prepared;
    private PreparedSwitch? _armed;
    private bool _busy;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Observability.AgentMetrics _metrics = Observability.AgentMetrics.For(Context.System);
    private readonly Queue<PortAction> _pending = new();
    // Answers owed once the pending actions are done: a remap's confirmation, an explicit switch's outcome.
    private readonly List<(IActorRef To, Func<object> Answer)> _acks = [];
    private string _reason = "";
    private long _triggerTimestamp;
    // While fenced the port still follows its devices' health, but puts nothing in the path.
    private bool _fenced;

    /// <param name="startFenced">
    /// In a cluster a port starts fenced and carries traffic only once the coordinator confirms
    /// it is this host's: a restarted agent must not revive a port that was failed over meanwhile.
    /// </param>
    /// <param name="stopped">
    /// Called once the stopped port has taken its traffic down: whoever lent it devices (the
    /// host's fail-over pool) may lend them again from then on, not before, or this port's last
    /// deactivation could hit the next port's traffic.
    /// </param>
    /// <param name="prepared">Where the port posts the switch it prepares for its active device's loss (null: it prepares none).</param>
    public FailSafeGroup(FailSafePort port, IDataPath dataPath, IActorRef watcher, TimeSpan switchTimeout, bool startFenced = false,
        Action? stopped = null, PreparedSwitches? prepared = null)
    {
        _prepared = prepared;
        _fenced = startFenced;
        _stopped = stopped;
        _port = port;
        _dataPath = dataPath;
        _watcher = watcher;
        _switchTimeout = switchTimeout;
        Idle();
    }

    public IStash Stash { get; set; } = null!;

    public static Props Props(FailSafePort port, IDataPath dataPath, IActorRef watcher, TimeSpan switchTimeout, bool startFenced = false,
        Action? stopped = null, PreparedSwitches? prepared = null) =>
        Akka.Actor.Props.Create(() => new FailSafeGroup(port, dataPath, watcher, switchTimeout, startFenced, stopped, prepared));

    /// <summary>A port that is stopped (detached from this host, or the agent leaving) takes its traffic down.</summary>
    protected override void PostStop()
    {
        try
        {
            // A switch the source fired meanwhile is the path's state: the device it put there is the one to take down.
            Withdraw();
            if (!_fenced && _port.Active is { } active)
                _dataPath.DeactivateAsync(_port.Port, active, new CancellationTokenSource(_switchTimeout).Token).Wait(_switchTimeout);
        }
        finally
        {
            _stopped?.Invoke();
        }
    }

    protected override void PreStart()
    {
        _log.Info("Port {Port}: devices [{Devices}] (preferred {Preferred}), {Mode}, data path {DataPath}", _port.Port,
            string.Join(", ", _port.Members), _port.Preferred, _port.Revertive ? "revertive" : "non-revertive", _dataPath.Kind);
        foreach (var member in _port.Members) _watcher.Tell(new RegisterPortMember(_port.Port, member, Self));
        if (_fenced) TakeOverFenced();
    }

    /// <summary>
    /// A port that starts fenced puts nothing in the path, but the kernel may still hold what a
    /// previous process of this agent put there (it was killed: nothing took it out). Every member
    /// is released, so the path is what this process believes it is, and nothing forwards before
    /// the coordinator confirms the port is this host's.
    /// </summary>
    private void TakeOverFenced()
    {
        foreach (var member in _port.Members)
        {
            var released = _dataPath.DeactivateAsync(_port.Port, member, new CancellationTokenSource(_switchTimeout).Token);
            if (!released.Wait(_switchTimeout) || !released.Result.Succeeded)
                _log.Warning("Port {0}: could not take {1} out of the path at start: {2}", _port.Port, member,
                    released.IsCompletedSuccessfully ? released.Result.Error : "timed out");
        }
    }

    private void Idle()
    {
        Receive<MemberHealthy>(m => Changing(() => Run(_port.OnHealthy(m.Device), $"{m.Device} is healthy", m.TriggerTimestamp, null)));
        Receive<MemberUnhealthy>(m => Changing(() =>
        {
            var done = new RemapCompleted(m.Device, _port.Port, m.RemapId);
            Run(_port.OnUnhealthy(m.Device, m.Reason), $"{m.Device}: {m.Reason}", m.TriggerTimestamp, (Sender, () => done));
        }));
        Receive<PortProtocol.SwitchTo>(m => Changing(() => OnSwitchTo(m)));
        Receive<PortProtocol.GetPortStatus>(_ => Sender.Tell(Status()));
        Receive<PortProtocol.Fence>(m => Changing(() => OnFence(m)));
        Receive<PortProtocol.Unfence>(m => Changing(() => OnUnfence(m)));
        Receive<PreparedSwitchFired>(m => Changing(() =>
        {
            // Withdraw (in Changing) absorbed it when it was this port's armed switch; one from before is absorbed here.
            Absorb(m.Switch);
            Continue();
        }));
    }

    /// <summary>
    /// Handles a message that may change the port: the prepared switch is withdrawn first (or,
    /// fired already, absorbed), and prepared again from the new state once the port is idle.
    /// </summary>
    private void Changing(Action handle)
    {
        if (Withdraw())
        {
            // What the fired switch left to do (a failure's next standby, the escalation) goes before this message.
            Continue();
            if (_busy)
            {
                Stash.Stash();
                return;
            }
        }
        handle();
        Prepare();
    }

    /// <summary>Posts the switch this port would make should its active device be lost now.</summary>
    private void Prepare()
    {
        if (_prepared is null || _armed is not null || _busy || _fenced || !_dataPath.SwitchesInline) return;
        if (_port.Active is not { } active || _port.StandbyIfActiveLost is not { } standby) return;
        _armed = new PreparedSwitch(_port.Port, active, standby, _dataPath, Self, _switchTimeout);
        _prepared.Add(_armed);
    }

    /// <summary>
    /// Takes the prepared switch back; one the source fired is waited for and absorbed, so the
    /// port's state is the path's. True when a fired switch was absorbed.
    /// </summary>
    private bool Withdraw()
    {
        if (_armed is not { } armed) return false;
        _armed = null;
        if (armed.TryWithdraw())
        {
            _prepared!.Remove(armed);
            return false;
        }
        // The source claimed it: a few syscalls, bounded by the switch timeout, which the source's own wait enforces.
        if (armed.WaitDone()) return Absorb(armed);
        _log.Error("Port {Port}: the prepared switch {Switch} has not finished; its outcome is taken when it reports", _port.Port, armed);
        return false;
    }

    /// <summary>
    /// Takes a fired switch's outcome into the port, once: the port decides the loss of the
    /// device as it prepared (the same state, so the same switch), and the data path's answer is
    /// handled as the port's own (a failure picks the next standby or escalates).
    /// </summary>
    private bool Absorb(PreparedSwitch fired)
    {
        if (!fired.TryAbsorb()) return false;
        var reason = $"{fired.Active}: {fired.Cause}";
        _reason = reason;
        _triggerTimestamp = fired.TriggerTimestamp;
        var actions = _port.OnUnhealthy(fired.Active, fired.Cause);
        var carried = new PortAction.Switch(fired.Active, fired.Standby);
        if (actions is [PortAction.Switch first, ..] && first == carried)
        {
            HandleResult(first, fired.Result, fired.CompletedTimestamp, prepared: true);
            foreach (var next in actions.Skip(1)) _pending.Enqueue(next);
            return true;
        }
        // Cannot happen while a port withdraws before every change; should it, the path carries the standby, and the port's decision starts from there.
        _log.Error("Port {Port}: prepared switch {Switch} no longer matches the port's decision [{Actions}]; correcting the path", _port.Port,
            fired, string.Join(", ", actions));
        foreach (var action in actions)
            _pending.Enqueue(action is PortAction.Switch s ? s with { From = fired.Standby }
                : action is PortAction.Deactivate ? new PortAction.Deactivate(fired.Standby) : action);
        return true;
    }

    /// <summary>An explicit switch, answered once the data path has it (or at once, refused, when the device is not a healthy member).</summary>
    private void OnSwitchTo(PortProtocol.SwitchTo request)
    {
        if (_port.WhyNotSwitchTo(request.Device) is { } why)
        {
            _log.Warning("Port {Port}: not switching to {Device} ({Reason}): {Why}", _port.Port, request.Device, request.Reason, why);
            Sender.Tell(new PortProtocol.SwitchToDone(_port.Port, request.Device, why));
            return;
        }
        var device = request.Device;
        Run(_port.SwitchTo(device), request.Reason, 0, (Sender, () => new PortProtocol.SwitchToDone(_port.Port, device,
            _port.Active == device ? null : $"the data path did not take {device}: port {_port.Port} is on {_port.Active?.ToString() ?? "no device"}")));
    }

    private void OnFence(PortProtocol.Fence fence)
    {
        Sender.Tell(new PortProtocol.FenceAck(_port.Port, true));
        if (_fenced) return;
        _fenced = true;
        _log.Warning("Port {Port}: fenced ({Reason}); traffic taken down", _port.Port, fence.Reason);
        _metrics.PortFenced();
        Publish(new PortFenced(_port.Port, true, fence.Reason, DateTimeOffset.UtcNow));
        // Synchronous on purpose when the data path allows it: a fence must not wait behind the mailbox.
        if (_port.Active is { } active) Run([new PortAction.Deactivate(active)], fence.Reason, 0, null, force: true);
    }

    private void OnUnfence(PortProtocol.Unfence unfence)
    {
        Sender.Tell(new PortProtocol.FenceAck(_port.Port, false));
        if (!_fenced) return;
        _fenced = false;
        _log.Info("Port {Port}: unfenced ({Reason})", _port.Port, unfence.Reason);
        Publish(new PortFenced(_port.Port, false, unfence.Reason, DateTimeOffset.UtcNow));
        if (_port.Active is { } active) Run([new PortAction.Switch(null, active)], unfence.Reason, 0, null);
    }

    private void Busy()
    {
        Receive<ActionDone>(done =>
        {
            OnActionDone(done);
            Prepare();
        });
        Receive<PortProtocol.GetPortStatus>(_ => Sender.Tell(Status()));
        ReceiveAny(_ => Stash.Stash());
    }

    private PortStatus Status() => new(_port.Port, _port.Active, _port.Members,
        [.. _port.Members.Where(_port.IsHealthy)], _port.Revertive, _port.Escalated, _dataPath.Kind, _fenced);

    private void Run(IReadOnlyList<PortAction> actions, string reason, long triggerTimestamp, (IActorRef, Func<object>)? ack, bool force = false)
    {
        if (ack is { } a) _acks.Add(a);
        _reason = reason;
        _triggerTimestamp = triggerTimestamp;
        // Fenced: decisions are kept (the port knows its active device) but nothing enters the path.
        foreach (var action in actions)
            if (force || !_fenced || action is PortAction.Escalate or PortAction.Recover) _pending.Enqueue(action);
        Continue();
    }

    /// <summary>Carries out pending actions in order; a data path call that completes at once is handled inline (no mailbox hop on the fail-over path).</summary>
    private void Continue()
    {
        while (_pending.TryDequeue(out var action))
        {
            var call = Execute(action);
            if (call is null) continue;
            if (call.IsCompleted)
            {
                HandleResult(action, Outcome(call), Stopwatch.GetTimestamp());
                continue;
            }
            var trigger = _triggerTimestamp;
            call.ContinueWith(t => new ActionDone(action, Outcome(t), trigger), TaskScheduler.Default).PipeTo(Self);
            _busy = true;
            Become(Busy);
            return;
        }

        foreach (var (to, answer) in _acks) to.Tell(answer());
        _acks.Clear();
        _busy = false;
        Become(Idle);
        Stash.UnstashAll();
    }

    private void OnActionDone(ActionDone done)
    {
        _triggerTimestamp = done.TriggerTimestamp;
        HandleResult(done.Action, done.Result, Stopwatch.GetTimestamp());
        Continue();
    }

    private Task<DataPathResult>? Execute(PortAction action)
    {
        switch (action)
        {
            case PortAction.Switch s:
                var cts = new CancellationTokenSource(_switchTimeout);
                return _dataPath.SwitchAsync(_port.Port, s.From, s.To, cts.Token);
            case PortAction.Deactivate d:
                return _dataPath.DeactivateAsync(_port.Port, d.Device, new CancellationTokenSource(_switchTimeout).Token);
            case PortAction.Escalate e:
                _log.Error("Port {Port}: escalating to the coordinator: {Reason}", _port.Port, e.Reason);
                Publish(new PortEscalated(_port.Port, e.Reason, DateTimeOffset.UtcNow));
                return null;
            case PortAction.Recover r:
                _log.Info("Port {Port}: recovered on {Device}", _port.Port, r.Active);
                Publish(new PortRecovered(_port.Port, r.Active, DateTimeOffset.UtcNow));
                return null;
            default:
                return null;
        }
    }

    /// <param name="completed">Stopwatch ticks when the data path answered.</param>
    /// <param name="prepared">The switch was prepared by the port and carried out by the uevent source's thread.</param>
    private void HandleResult(PortAction action, DataPathResult result, long completed, bool prepared = false)
    {
        var how = prepared ? ", prepared" : "";
        switch (action)
        {
            case PortAction.Switch s when result.Succeeded:
                var ev = new PortSwitched(_port.Port, s.From, s.To, _reason, _triggerTimestamp, completed, DateTimeOffset.UtcNow, prepared);
                _log.Info("Port {Port}: switched {From} -> {Device} ({Reason}{How}){Reaction}", _port.Port, s.From?.ToString() ?? "none", s.To, _reason,
                    how, ev.Reaction is { } r ? $" in {r.TotalMicroseconds:0} us" : "");
                _metrics.Switched(ev.Reaction, prepared);
                Publish(ev);
                break;
            case PortAction.Switch s:
                _log.Error("Port {Port}: switch {From} -> {Device} failed{How}: {Error}", _port.Port, s.From?.ToString() ?? "none", s.To, how, result.Error);
                Publish(new PortSwitchFailed(_port.Port, s.From, s.To, result.Error ?? "", DateTimeOffset.UtcNow));
                foreach (var next in _port.OnSwitchFailed(s.To, result.Error ?? "")) _pending.Enqueue(next);
                break;
            case PortAction.Deactivate d when !result.Succeeded:
                _log.Warning("Port {Port}: could not take {Device} out of the path: {Error}", _port.Port, d.Device, result.Error);
                break;
        }
    }

    private void Publish(IAgentEvent ev) => Context.System.EventStream.Publish(ev);

    private static DataPathResult Outcome(Task<DataPathResult> task) =>
        task.IsCompletedSuccessfully ? task.Result
        : task.IsCanceled ? DataPathResult.Fail("timed out")
        : DataPathResult.Fail(task.Exception?.InnerException?.Message ?? "failed");
}
