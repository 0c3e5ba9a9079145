using Akka.Actor;
using Akka.Event;
using Replug.Agent.Observability;
using Replug.Shared.Devices;
using Replug.Shared.Uevents;
using static Replug.Agent.Devices.DeviceProtocol;

namespace Replug.Agent.Devices;

/// <param name="HeapTrimMinChange">Devices that must come or go before the watcher collects and returns memory (see <see cref="HeapTrimPolicy"/>).</param>
/// <param name="HeapTrimQuiet">How long the count must stay still first (null: 10 s).</param>
public sealed record WatcherOptions(
    IReadOnlySet<string> Subsystems,
    IReadOnlyDictionary<DeviceId, ManagedDevice> Managed,
    StepPolicy Steps,
    int HeapTrimMinChange = 1000,
    TimeSpan? HeapTrimQuiet = null)
{
    public static WatcherOptions Default => new(new HashSet<string> { Shared.Devices.Subsystems.Net, Shared.Devices.Subsystems.Pci },
        new Dictionary<DeviceId, ManagedDevice>(), StepPolicy.Default);
}

/// <summary>
/// The seed's uevent monitor, made safe: filters subsystems, drops duplicate and stale events by
/// SEQNUM, routes each to its device's <see cref="DeviceSupervisor"/> (created on first sight),
/// publishes device events to subscribers, and on start and after an overflow rescans sysfs and
/// synthesises the difference, so no change is silently lost.
/// </summary>
public sealed class DeviceWatcher : ReceiveActor, IWithTimers
{
    private sealed record ScanCompleted(long Generation, DeviceInventory? Inventory, string Reason, string? Error);
    private sealed record Presence(string DevPath, int? IfIndex, string? PciSlot);
    private sealed record CheckHeapTrim;

    private readonly IDeviceBus _bus;
    private readonly WatcherOptions _options;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<DeviceId, IActorRef> _supervisors = [];
    private readonly Dictionary<DeviceId, Presence> _present = [];
    private readonly Dictionary<DeviceId, Dictionary<PortId, IActorRef>> _portMembers = [];
    private readonly Dictionary<IActorRef, List<DeviceEventFilter>> _subscribers = [];
    private readonly HashSet<DeviceId> _touchedDuringScan = [];
    // Drained on purpose: their supervisors stay while they are gone (a removed PCI function), for the undrain.
    private readonly HashSet<DeviceId> _drained = [];
    private readonly AgentMetrics _metrics = AgentMetrics.For(Context.System);
    private readonly DeviceStateCensus _census = new();
    private readonly HeapTrimPolicy _heapTrim;
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private bool _heapTrimCheckScheduled;

    private ulong _lastSeqNum;
    private long _received, _filtered, _duplicates, _rejected, _overflows, _resyncs, _synthesised;
    private long _scanGeneration;
    private bool _scanning, _scanAgain;
    private string _pendingScanReason = "";

    public DeviceWatcher(IDeviceBus bus, WatcherOptions options)
    {
        _bus = bus;
        _options = options;
        _heapTrim = new HeapTrimPolicy(options.HeapTrimMinChange, options.HeapTrimQuiet ?? TimeSpan.FromSeconds(10));
        _metrics.ObserveDevices(_census);
        CompactMailbox.Install(Context.System);

        Receive<Uevent>(OnUevent);
        Receive<UeventRejected>(r =>
        {
            _rejected++;
            _log.Warning("Rejected a uevent: {0} ({1})", r.Reason, r.Detail);
        });
        Receive<SourceOverflowed>(_ =>
        {
            _overflows++;
            _log.Warning("The kernel dropped uevents (receive buffer overflow); rescanning sysfs");
            StartScan("overflow");
        });
        Receive<SourceCompleted>(c =>
        {
            if (c.Error is null) _log.Info("The uevent source has no more events");
            else _log.Error(c.Error, "The uevent source failed");
        });
        Receive<Resync>(r => StartScan(r.Reason));
        Receive<ScanCompleted>(OnScanCompleted);
        Receive<Subscribe>(OnSubscribe);
        Receive<Unsubscribe>(u => RemoveSubscriber(u.Subscriber));
        Receive<Terminated>(t => RemoveSubscriber(t.ActorRef));
        Receive<RegisterPortMember>(OnRegisterPortMember);
        Receive<DeviceStateChanged>(OnDeviceStateChanged);
        Receive<DrainDevice>(d =>
        {
            if (ForwardToSupervisor(d.Device, d)) _drained.Add(d.Device);
        });
        Receive<UndrainDevice>(d =>
        {
            if (ForwardToSupervisor(d.Device, d)) _drained.Remove(d.Device);
        });
        Receive<GetDevices>(_ => ListDevices());
        Receive<GetWatcherStats>(_ => Sender.Tell(Stats()));
        Receive<CheckHeapTrim>(_ => OnCheckHeapTrim());
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IDeviceBus bus, WatcherOptions options) =>
        Akka.Actor.Props.Create(() => new DeviceWatcher(bus, options));

    protected override void PreStart() => StartScan("start");

    private WatcherStats Stats() => new(_received, _filtered, _duplicates, _rejected, _overflows, _resyncs, _synthesised,
        _lastSeqNum, _supervisors.Count, _subscribers.Count);

    private void OnUevent(Uevent uevent)
    {
        _received++;
        if (uevent.Origin == UeventOrigin.Kernel)
        {
            // SEQNUM is this kernel's one global counter: a number not above the last one is a
            // duplicate or arrived out of order. Gaps are normal (other namespaces). A replay's
            // numbers are another machine's, or another boot's: its events are taken as they come.
            if (uevent.SeqNum <= _lastSeqNum)
            {
                _duplicates++;
                return;
            }
            _lastSeqNum = uevent.SeqNum;
        }
        if (!_options.Subsystems.Contains(uevent.Subsystem))
        {
            _filtered++;
            return;
        }

        if (uevent.Action == UeventAction.Move && uevent.DevPathOld is { } oldPath)
        {
            // A rename is the old name leaving and the new one arriving: ports name their devices.
            var old = new DeviceId(uevent.Subsystem, DevPaths.DeviceName(uevent.Subsystem, oldPath));
            Handle(old, uevent, DeviceSignal.Removed, $"renamed to {uevent.Device.Name}");
            Handle(uevent.Device, uevent, DeviceSignal.Appeared, $"renamed from {old.Name}");
            return;
        }

        var signal = DeviceSignals.From(uevent);
        Handle(uevent.Device, uevent, signal, signal is null ? "" : Describe(uevent));
    }

    private void Handle(DeviceId device, Uevent uevent, DeviceSignal? signal, string reason)
    {
        if (_scanning) _touchedDuringScan.Add(device);
        switch (signal)
        {
            case DeviceSignal.Appeared:
                _present[device] = new Presence(uevent.DevPath, uevent.IfIndex, device.Subsystem == Subsystems.Net ? DevPaths.PciSlotOf(uevent.DevPathSpan) : null);
                break;
            case DeviceSignal.Removed:
                _present.Remove(device);
                break;
        }

        Publish(new DeviceEvent(device, uevent, DateTimeOffset.UtcNow));
        if (signal is not { } s) return;

        var supervisor = _supervisors.GetValueOrDefault(device);
        // A removal of a device nobody manages or watches needs no supervisor of its own.
        if (supervisor is null && s == DeviceSignal.Removed && !IsOfInterest(device)) return;
        supervisor ??= SupervisorFor(device);
        supervisor.Tell(new Signal(s, reason, uevent));

        // A PCI function that fails or recovers takes its net interfaces with it: they learn it
        // before their own removal (AER reports BEGIN_RECOVERY first).
        if (device.Subsystem == Subsystems.Pci && s is DeviceSignal.Failing or DeviceSignal.Recovered)
        {
            foreach (var (net, presence) in _present)
                if (presence.PciSlot == device.Name && _supervisors.TryGetValue(net, out var child))
                    child.Tell(new Signal(s, $"{device}: {reason}", uevent));
        }
    }

    private static string Describe(Uevent uevent)
    {
        var what = uevent.Origin == UeventOrigin.Resync ? "rescan found it " + (uevent.Action == UeventAction.Add ? "present" : "gone")
            : $"uevent {uevent.Action.ToKernelString()} seq {uevent.SeqNum}";
        if (uevent.TryGetValue("ERROR_EVENT", out var err)) what += $" ERROR_EVENT={err}";
        return what;
    }

    private bool IsOfInterest(DeviceId device) =>
        _options.Managed.ContainsKey(device) || _portMembers.ContainsKey(device) || _drained.Contains(device);

    private IActorRef SupervisorFor(DeviceId device)
    {
        if (_supervisors.TryGetValue(device, out var existing)) return existing;
        var managed = _options.Managed.GetValueOrDefault(device) ?? (_portMembers.ContainsKey(device) ? ManagedDevice.PortMember : null);
        var child = Context.ActorOf(DeviceSupervisor.Props(device, _bus, managed, _options.Steps),
            "dev-" + Uri.EscapeDataString($"{device.Subsystem}-{device.Name}"));
        _supervisors[device] = child;
        _census.Set(device, DeviceState.Parsed);
        DeviceCountChanged();
        if (_portMembers.TryGetValue(device, out var ports))
            foreach (var (port, group) in ports) child.Tell(new AddInterest(port, group));
        return child;
    }

    private void OnRegisterPortMember(RegisterPortMember register)
    {
        if (!_portMembers.TryGetValue(register.Member, out var ports)) _portMembers[register.Member] = ports = [];
        ports[register.Port] = register.Group;
        // The port must hear of a member even before the member's first event.
        var supervisor = SupervisorFor(register.Member);
        supervisor.Tell(new AddInterest(register.Port, register.Group));
    }

    private void OnDeviceStateChanged(DeviceStateChanged change)
    {
        if (_supervisors.ContainsKey(change.Device)) _census.Set(change.Device, change.To);
        Publish(change);
        Context.System.EventStream.Publish(change);
        // Transient devices (a VM's taps, a container's veths) come and go all day: a supervisor
        // of a device nobody manages is stopped once the device is gone, so memory stays bounded.
        if (change.To == DeviceState.Detached && !_present.ContainsKey(change.Device) && !IsOfInterest(change.Device)
            && _supervisors.Remove(change.Device, out var supervisor))
        {
            Context.Stop(supervisor);
            _census.Remove(change.Device);
            DeviceCountChanged();
        }
    }

    private void DeviceCountChanged()
    {
        var now = _clock.Elapsed;
        _heapTrim.Changed(now);
        if (!_heapTrimCheckScheduled && _heapTrim.Decide(now) != HeapTrimDecision.Nothing) ScheduleHeapTrimCheck();
    }

    private void ScheduleHeapTrimCheck()
    {
        _heapTrimCheckScheduled = true;
        Timers.StartSingleTimer(nameof(CheckHeapTrim), new CheckHeapTrim(), _heapTrim.QuietLeft(_clock.Elapsed));
    }

    private void OnCheckHeapTrim()
    {
        _heapTrimCheckScheduled = false;
        switch (_heapTrim.Decide(_clock.Elapsed))
        {
            case HeapTrimDecision.WaitForQuiet:
                ScheduleHeapTrimCheck();
                break;
            case HeapTrimDecision.Trim:
                var before = GC.GetTotalMemory(forceFullCollection: false);
                var started = _clock.Elapsed;
                var after = HeapTrimPolicy.CollectAndReturnMemory();
                _heapTrim.Trimmed();
                _log.Info("Heap collected after a large change of devices (now {0}): {1:0.0} -> {2:0.0} MiB in {3:0} ms",
                    _supervisors.Count, before / 1048576.0, after / 1048576.0, (_clock.Elapsed - started).TotalMilliseconds);
                break;
        }
    }

    private bool ForwardToSupervisor(DeviceId device, object message)
    {
        if (_supervisors.TryGetValue(device, out var supervisor))
        {
            supervisor.Forward(message);
            return true;
        }
        Sender.Tell(new UnknownDevice(device));
        return false;
    }

    private void ListDevices()
    {
        var asks = _supervisors.Values.Select(s => s.Ask<DeviceStatus>(new GetDeviceStatus(), _options.Steps.Timeout)).ToList();
        Task.WhenAll(asks).ContinueWith(t => t.IsCompletedSuccessfully
                ? new DeviceList([.. t.Result.OrderBy(d => d.Device.Subsystem).ThenBy(d => d.Device.Name)])
                : new DeviceList([.. asks.Where(a => a.IsCompletedSuccessfully).Select(a => a.Result)]),
            TaskScheduler.Default).PipeTo(Sender);
    }

    private void OnSubscribe(Subscribe subscribe)
    {
        if (!_subscribers.TryGetValue(subscribe.Subscriber, out var filters))
        {
            _subscribers[subscribe.Subscriber] = filters = [];
            Context.Watch(subscribe.Subscriber);
        }
        if (!filters.Contains(subscribe.Filter)) filters.Add(subscribe.Filter);
        Sender.Tell(new SubscriptionAck(subscribe.Filter));
    }

    private void RemoveSubscriber(IActorRef subscriber)
    {
        if (_subscribers.Remove(subscriber)) Context.Unwatch(subscriber);
    }

    private void Publish(DeviceEvent ev)
    {
        foreach (var (subscriber, filters) in _subscribers)
            if (filters.Exists(f => f.Matches(ev.Device))) subscriber.Tell(ev);
    }

    private void Publish(DeviceStateChanged change)
    {
        foreach (var (subscriber, filters) in _subscribers)
            if (filters.Exists(f => f.Matches(change.Device))) subscriber.Tell(change);
    }

    private void StartScan(string reason)
    {
        if (_scanning)
        {
            _scanAgain = true;
            _pendingScanReason = reason;
            return;
        }
        _scanning = true;
        _touchedDuringScan.Clear();
        var generation = ++_scanGeneration;
        var bus = _bus;
        Task.Run(bus.Scan).ContinueWith(t => t.IsCompletedSuccessfully
                ? new ScanCompleted(generation, t.Result, reason, null)
                : new ScanCompleted(generation, null, reason, t.Exception?.InnerException?.Message ?? "cancelled"),
            TaskScheduler.Default).PipeTo(Self);
    }

    private void OnScanCompleted(ScanCompleted scan)
    {
        if (scan.Generation != _scanGeneration) return;
        _scanning = false;
        _resyncs++;
        _metrics.Resynced();
        if (scan.Inventory is null)
        {
            _log.Error("Rescan of {0} ({1}) failed: {2}", _bus.Root, scan.Reason, scan.Error);
        }
        else
        {
            var (added, removed, changed) = Reconcile(scan.Inventory);
            _log.Info("Rescan of {0} ({1}): {2} devices, {3} appeared, {4} vanished, {5} replaced",
                _bus.Root, scan.Reason, scan.Inventory.Pci.Count + scan.Inventory.Net.Count, added, removed, changed);
            Context.System.EventStream.Publish(new ResyncCompleted(added, removed, changed));
        }
        if (_scanAgain)
        {
            _scanAgain = false;
            StartScan(_pendingScanReason);
        }
    }

    /// <summary>Synthesises events for the difference between what sysfs shows and what the watcher knew.</summary>
    private (int Added, int Removed, int Changed) Reconcile(DeviceInventory inventory)
    {
        var seen = new Dictionary<DeviceId, (string DevPath, int? IfIndex, IEnumerable<KeyValuePair<string, string>> Props)>();
        if (_options.Subsystems.Contains(Subsystems.Pci))
            foreach (var p in inventory.Pci)
                seen[p.Id] = (p.DevPath, null, [new("PCI_SLOT_NAME", p.Slot), new("PCI_ID", $"{p.VendorId}:{p.DeviceId}".ToUpperInvariant())]);
        if (_options.Subsystems.Contains(Subsystems.Net))
            foreach (var n in inventory.Net)
                seen[n.Id] = (n.DevPath, n.IfIndex, [new("INTERFACE", n.Name), new("IFINDEX", n.IfIndex.ToString())]);

        int added = 0, removed = 0, changed = 0;
        // Devices with an event during the scan are already up to date: the scan may predate it.
        foreach (var (device, presence) in _present.ToList())
        {
            if (_touchedDuringScan.Contains(device)) continue;
            if (!seen.TryGetValue(device, out var now))
            {
                Synthesise(UeventAction.Remove, device, presence.DevPath, []);
                removed++;
            }
            else if (device.Subsystem == Subsystems.Net && presence.IfIndex is { } before && now.IfIndex != before)
            {
                // Removed and re-created while events were lost: a new ifindex tells.
                Synthesise(UeventAction.Remove, device, presence.DevPath, []);
                Synthesise(UeventAction.Add, device, now.DevPath, now.Props);
                changed++;
            }
        }
        foreach (var (device, now) in seen)
        {
            if (_present.ContainsKey(device) || _touchedDuringScan.Contains(device)) continue;
            Synthesise(UeventAction.Add, device, now.DevPath, now.Props);
            added++;
        }
        _touchedDuringScan.Clear();
        return (added, removed, changed);
    }

    private void Synthesise(UeventAction action, DeviceId device, string devPath, IEnumerable<KeyValuePair<string, string>> props)
    {
        try
        {
            _synthesised++;
            OnUevent(Uevent.Create(action, devPath, device.Subsystem, 0, props, UeventOrigin.Resync));
        }
        catch (ArgumentException e)
        {
            _log.Warning("Rescan: cannot describe {0} at {1}: {2}", device, devPath, e.Message);
        }
    }
}
