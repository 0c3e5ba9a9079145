using Akka.Actor;
using Akka.Event;
using Replug.Shared.Devices;
using static Replug.Agent.Devices.DeviceProtocol;

namespace Replug.Agent.Devices;

/// <summary>
/// One per device (the seed's uev_process and fault handler). Asks <see cref="DeviceLifecycle"/>
/// what to do, performs each step through <see cref="IDeviceBus"/> bounded in time and
/// retried with backoff, and keeps its ports informed: on a fault it waits for every port to
/// remap before it detaches. A planned detach (drain) releases the device on purpose: a net
/// device's link goes down, a PCI function is unbound and removed from the bus (so the card can be
/// pulled); the undrain that follows brings it back (a rescan for a removed PCI function, its
/// driver, its link up). A drain or undrain is answered with the device's status once applied.
/// </summary>
public sealed class DeviceSupervisor : UntypedActor
{
    private sealed record StepResult(long Generation, DeviceStep Step, BusResult Result);
    private sealed record RetryStep(long Generation);
    private sealed record RemapTimedOut(long RemapId, int Attempt);

    // The state changes a device keeps for its status; the host's history (HistoryKeeper) keeps more.
    internal const int HistoryCapacity = 32;

    private static readonly IReadOnlyDictionary<PortId, IActorRef> NoPorts = new Dictionary<PortId, IActorRef>();

    private readonly DeviceId _device;
    private readonly IDeviceBus _bus;
    private readonly ManagedDevice? _managed;
    private readonly StepPolicy _policy;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    // A host may see 10,000 devices that no port uses (a VM's taps, a container's veths): what only a
    // port member needs is made when a port first shows interest, and timers only when a step waits.
    private Dictionary<PortId, IActorRef>? _ports;
    private HashSet<PortId>? _awaitingRemap;
    private readonly BoundedHistory<DeviceStateChanged> _history = new(HistoryCapacity);
    private ICancelable? _retryTimer, _remapTimer;

    private DeviceState _state = DeviceState.Parsed;
    private bool _present;
    private bool _returnedWhileFaulted;
    // Taken out of service on purpose since it was last Active: its restore undoes what the planned detach did.
    private bool _drained;
    private DeviceStep _step = DeviceStep.None;
    private DeviceState _stepState;
    private long _stepGeneration;
    // A bus step the device's state moved past while it ran: its result, when it comes, changes nothing.
    private (long Generation, string Why)? _mootStep;
    private int _attempt;
    private long _remapId;
    private long _triggerTimestamp;

    public DeviceSupervisor(DeviceId device, IDeviceBus bus, ManagedDevice? managed, StepPolicy policy)
    {
        _device = device;
        _bus = bus;
        _managed = managed;
        _policy = policy;
    }

    /// <summary>
    /// Its mailbox holds nothing while the device is quiet (Akka's default keeps a 32-slot segment
    /// per actor, about 1 KiB): most devices hear a handful of messages in their life.
    /// </summary>
    public static Props Props(DeviceId device, IDeviceBus bus, ManagedDevice? managed, StepPolicy policy) =>
        new(CompactDeploy, typeof(DeviceSupervisor), device, bus, managed!, policy);

    // One for all supervisors (Props.WithMailbox would copy it per device).
    private static readonly Deploy CompactDeploy = Deploy.None.WithMailbox(CompactMailbox.Id);

    // An UntypedActor, not a ReceiveActor: a ReceiveActor builds its handler table per instance
    // (a delegate per message type, about 1 KiB per device).
    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case Signal s:
                Apply(s.What, s.Reason, s.Uevent?.ReceivedTimestamp ?? 0);
                break;
            case DrainDevice d:
                Apply(DeviceSignal.DrainRequested, $"drain: {d.Reason}", 0);
                Sender.Tell(Status());
                break;
            case UndrainDevice:
                Apply(DeviceSignal.UndrainRequested, "undrain", 0);
                Sender.Tell(Status());
                break;
            case AddInterest interest:
                OnAddInterest(interest);
                break;
            case RemapCompleted done:
                OnRemapCompleted(done);
                break;
            case RemapTimedOut timeout:
                OnRemapTimedOut(timeout);
                break;
            case StepResult result:
                OnStepResult(result);
                break;
            case RetryStep r:
                if (r.Generation == _stepGeneration) RunBusStep(_step);
                break;
            case GetDeviceStatus:
                Sender.Tell(Status());
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    protected override void PostStop()
    {
        _retryTimer?.Cancel();
        _remapTimer?.Cancel();
    }

    private IReadOnlyDictionary<PortId, IActorRef> Ports => _ports ?? NoPorts;

    private DeviceStatus Status() => new(_device, _state, _present, [.. Ports.Keys], _history.ToList());

    private void Apply(DeviceSignal signal, string reason, long triggerTimestamp)
    {
        switch (signal)
        {
            case DeviceSignal.Appeared:
                _present = true;
                if (_state is DeviceState.Faulted) _returnedWhileFaulted = true;
                break;
            case DeviceSignal.Removed:
                _present = false;
                _returnedWhileFaulted = false;
                break;
        }

        var transition = DeviceLifecycle.Next(_state, signal);
        if (transition.Next == _state && transition.Step == DeviceStep.None) return;
        if (triggerTimestamp != 0) _triggerTimestamp = triggerTimestamp;
        if (transition.Next != _state) ChangeState(transition.Next, reason);
        if (transition.Step != DeviceStep.None) StartStep(transition.Step);

        // A device re-inserted while its fault was still being handled returns once it is detached.
        if (_state == DeviceState.Detached && _returnedWhileFaulted && _present)
        {
            _returnedWhileFaulted = false;
            Apply(DeviceSignal.Appeared, "returned while faulted", 0);
        }
    }

    private void ChangeState(DeviceState next, string reason)
    {
        if (_step is DeviceStep.Probe or DeviceStep.Restore or DeviceStep.Detach && (next != _stepState))
        {
            // A probe of a device that is gone (or a restore of one that failed again) has nothing
            // left to do: no retries, and its outcome is not the device's.
            _mootStep = (_stepGeneration, $"{_device} became {next} ({reason})");
            _stepGeneration++;
            _step = DeviceStep.None;
            _retryTimer?.Cancel();
        }
        var change = new DeviceStateChanged(_device, _state, next, reason, DateTimeOffset.UtcNow);
        _state = next;
        if (next == DeviceState.Draining) _drained = true;
        if (next == DeviceState.Active) _drained = false;
        _history.Add(change);
        _log.Info("Device {Device}: {From} -> {To} ({Reason}){Ports}", _device, change.From, next, reason,
            Ports.Count == 0 ? "" : $" ports [{string.Join(", ", Ports.Keys)}]");
        Context.Parent.Tell(change);
    }

    private void StartStep(DeviceStep step)
    {
        _step = step;
        _stepState = _state;
        _attempt = 0;
        _stepGeneration++;
        switch (step)
        {
            case DeviceStep.Remap:
                StartRemap();
                break;
            case DeviceStep.Attach:
                foreach (var port in Ports.Values) port.Tell(new MemberHealthy(_device, _triggerTimestamp));
                Apply(DeviceSignal.AttachDone, "offered to its ports", 0);
                break;
            default:
                RunBusStep(step);
                break;
        }
    }

    private void StartRemap()
    {
        _remapId++;
        _awaitingRemap?.Clear();
        if (Ports.Count == 0)
        {
            Apply(DeviceSignal.RemapDone, "no port uses it", 0);
            return;
        }
        (_awaitingRemap ??= []).UnionWith(Ports.Keys);
        SendRemapRequests();
        StartRemapTimer(new RemapTimedOut(_remapId, 1), _policy.Timeout);
    }

    private void SendRemapRequests()
    {
        var reason = _history.Last?.Reason ?? _state.ToString();
        foreach (var port in _awaitingRemap ?? [])
            Ports[port].Tell(new MemberUnhealthy(_device, reason, _remapId, _triggerTimestamp));
    }

    private void OnRemapCompleted(RemapCompleted done)
    {
        if (done.RemapId != _remapId || _awaitingRemap is null || !_awaitingRemap.Remove(done.Port) || _awaitingRemap.Count > 0) return;
        _remapTimer?.Cancel();
        Apply(DeviceSignal.RemapDone, "ports remapped", 0);
    }

    private void OnRemapTimedOut(RemapTimedOut timeout)
    {
        if (timeout.RemapId != _remapId || _awaitingRemap is not { Count: > 0 }) return;
        if (timeout.Attempt <= _policy.Retries)
        {
            _log.Warning("Device {Device}: ports [{Ports}] have not remapped within {Timeout}; asking again (attempt {Attempt})",
                _device, string.Join(", ", _awaitingRemap), _policy.Timeout, timeout.Attempt + 1);
            SendRemapRequests();
            StartRemapTimer(new RemapTimedOut(_remapId, timeout.Attempt + 1), _policy.Timeout + _policy.BackoffFor(timeout.Attempt));
            return;
        }
        // Detaching is still right: the device is gone or failing whatever the port does.
        _log.Error("Device {Device}: ports [{Ports}] never confirmed the remap; detaching anyway", _device, string.Join(", ", _awaitingRemap));
        _awaitingRemap.Clear();
        Apply(DeviceSignal.RemapDone, "remap unconfirmed", 0);
    }

    private void RunBusStep(DeviceStep step)
    {
        var generation = _stepGeneration;
        var drained = _drained;
        Func<BusResult> work = step switch
        {
            DeviceStep.Probe => () => Prepare(restoring: false, drained: false),
            DeviceStep.Restore => () => Prepare(restoring: true, drained),
            DeviceStep.Detach => Detach(_state == DeviceState.Draining),
            _ => () => BusResult.Ok,
        };
        var timeout = _policy.Timeout;
        // Bounded: a sysfs write can block in a driver's probe; the actor must not.
        Task.Run(work).WaitAsync(timeout).ContinueWith(t => new StepResult(generation, step,
                t.IsCompletedSuccessfully ? t.Result
                : t.Exception?.InnerException is TimeoutException ? BusResult.Fail($"timed out after {timeout.TotalMilliseconds:0} ms")
                : BusResult.Fail(t.Exception?.InnerException?.Message ?? "cancelled")),
            TaskScheduler.Default).PipeTo(Self);
    }

    private void OnStepResult(StepResult result)
    {
        if (result.Generation != _stepGeneration)
        {
            // Superseded by a newer step (silently), or made moot by a state change (said once).
            if (_mootStep is { } moot && moot.Generation == result.Generation)
            {
                _mootStep = null;
                _log.Info("Device {0}: {1} finished after {2}: moot ({3})", _device, result.Step.ToString().ToLowerInvariant(), moot.Why, result.Result);
            }
            return;
        }
        if (result.Result.Succeeded)
        {
            _step = DeviceStep.None;
            Apply(result.Step switch
            {
                DeviceStep.Probe => DeviceSignal.ProbeSucceeded,
                DeviceStep.Restore => DeviceSignal.RestoreSucceeded,
                _ => DeviceSignal.DetachDone,
            }, DoneReason(result.Step), 0);
            return;
        }

        _attempt++;
        if (_attempt <= _policy.Retries)
        {
            var delay = _policy.BackoffFor(_attempt);
            _log.Warning("Device {0}: {1} failed ({2}); retry {3}/{4} in {5} ms", _device, result.Step,
                result.Result.Error, _attempt, _policy.Retries, delay.TotalMilliseconds);
            _retryTimer?.Cancel();
            _retryTimer = Context.System.Scheduler.ScheduleTellOnceCancelable(delay, Self, new RetryStep(_stepGeneration), Self);
            return;
        }

        _step = DeviceStep.None;
        _log.Error("Device {Device}: {Step} failed after {Retries} retries: {Error}", _device, result.Step, _policy.Retries, result.Result.Error);
        Apply(result.Step switch
        {
            DeviceStep.Probe => DeviceSignal.ProbeFailed,
            DeviceStep.Restore => DeviceSignal.RestoreFailed,
            // A detach that cannot complete leaves nothing to wait for: the device is out of service.
            _ => DeviceSignal.DetachDone,
        }, $"{result.Step.ToString().ToLowerInvariant()} failed: {result.Result.Error}", 0);
    }

    // One string per step, not one per device: every device's history holds its "probe done".
    private static string DoneReason(DeviceStep step) => step switch
    {
        DeviceStep.Probe => "probe done",
        DeviceStep.Restore => "restore done",
        DeviceStep.Detach => "detach done",
        _ => $"{step.ToString().ToLowerInvariant()} done",
    };

    // A stale timeout is harmless (its remap id is checked); a newer one replaces the older.
    private void StartRemapTimer(RemapTimedOut timeout, TimeSpan delay)
    {
        _remapTimer?.Cancel();
        _remapTimer = Context.System.Scheduler.ScheduleTellOnceCancelable(delay, Self, timeout, Self);
    }

    private void OnAddInterest(AddInterest interest)
    {
        (_ports ??= [])[interest.Port] = interest.Group;
        if (DeviceLifecycle.IsHealthy(_state)) interest.Group.Tell(new MemberHealthy(_device));
    }

    /// <summary>
    /// Probe and restore: the device must be in sysfs; a managed one gets its driver and
    /// configuration. A restore also undoes a planned detach: a removed PCI function is looked for
    /// with a bus rescan, and the link of a drained net device comes up again, managed or not.
    /// </summary>
    private BusResult Prepare(bool restoring, bool drained)
    {
        switch (_device.Subsystem)
        {
            case Subsystems.Net:
                if (_bus.FindNet(_device.Name) is null) return BusResult.Fail($"{_device} is not in sysfs");
                if (_managed is not null) return _bus.ConfigureNet(_device.Name, new NetConfig(_managed.Mtu, _managed.BringUp));
                return drained ? _bus.ConfigureNet(_device.Name, new NetConfig(null, Up: true)) : BusResult.Ok;
            case Subsystems.Pci:
                var pci = _bus.FindPci(_device.Name);
                if (pci is null && restoring)
                {
                    // Removed from the bus (a planned detach, or by hand): only a rescan brings it back.
                    if (_bus.Rescan() is { Succeeded: false } rescan) return rescan;
                    pci = _bus.FindPci(_device.Name);
                }
                if (pci is null) return BusResult.Fail($"{_device} is not in sysfs{(restoring ? " (after a PCI rescan)" : "")}");
                if (_managed?.Driver is not { } driver || pci.Driver == driver) return BusResult.Ok;
                // drivers_probe leaves a device that has a driver alone: release it from the wrong one first.
                if (pci.Driver is not null && _bus.Unbind(_device.Name) is { Succeeded: false } unbound) return unbound;
                return _bus.BindDriver(_device.Name, driver);
            default:
                return BusResult.Ok; // tracked only
        }
    }

    /// <summary>
    /// Releases the device once its ports have remapped. A planned detach (drain) does so whether the
    /// device is managed or not, since the operator asked for it out of service: a net device's link
    /// goes down; a PCI function is unbound from its driver and removed from the bus, so the card
    /// can be pulled (DPDK's detach, then the hot-unplug). A fault leaves a net link to the kernel
    /// and only releases a managed PCI function that is still there (failing) from its driver.
    /// </summary>
    private Func<BusResult> Detach(bool planned) => () => (_device.Subsystem, planned) switch
    {
        (Subsystems.Net, true) when _bus.FindNet(_device.Name) is not null => _bus.ConfigureNet(_device.Name, new NetConfig(null, Up: false)),
        (Subsystems.Pci, true) when _bus.FindPci(_device.Name) is not null =>
            _bus.Unbind(_device.Name) is { Succeeded: false } unbound ? unbound : _bus.Remove(_device.Name),
        (Subsystems.Pci, false) when _managed is not null && _bus.FindPci(_device.Name) is not null => _bus.Unbind(_device.Name),
        _ => BusResult.Ok,
    };
}
