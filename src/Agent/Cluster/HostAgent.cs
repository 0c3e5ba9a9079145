using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using Replug.Agent.Devices;
using Replug.Agent.Load;
using Replug.Agent.Ports;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using Replug.Shared.Uevents;
using static Replug.Shared.Protocol.HostProtocol;

namespace Replug.Agent.Cluster;

/// <summary>How this host's agent takes part in the cluster.</summary>
public sealed record HostAgentSettings(
    HostId Host,
    TimeSpan Lease,
    int Capacity,
    bool Reserved,
    IReadOnlyDictionary<PortId, PortSpec> PortSpecs,
    TimeSpan RegisterRetry,
    TimeSpan LeaseCheckInterval,
    TimeSpan? ReportInterval = null,
    TimeSpan? RenewInterval = null,
    bool AllPortsBridged = true,
    IReadOnlySet<string>? FencedDevices = null,
    NicLoadSettings? Load = null)
{
    /// <summary>How often the coordinator's lease is asked for: a quarter of the lease, so a lost answer or two cost nothing.</summary>
    public TimeSpan EffectiveRenewInterval => RenewInterval ?? Lease / 4;

    /// <summary>
    /// How often every port's state is reported again. Reports are state, not edges: a lost
    /// report (or escalation) is repeated, and the coordinator records only what changed.
    /// </summary>
    public static readonly TimeSpan DefaultReportInterval = TimeSpan.FromSeconds(5);

    public static HostAgentSettings For(HostId host, TimeSpan lease) =>
        new(host, lease, 0, false, new Dictionary<PortId, PortSpec>(), TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(100));
}

/// <summary>
/// Makes a port on this host when the coordinator fails one over here: its fail-safe group over
/// the devices this host keeps for fail-over. Null when none is free.
/// </summary>
public delegate IActorRef? PortFactory(IActorContext context, PortSpec spec, IReadOnlyList<DeviceId>? devices);

/// <summary>
/// The host's voice in the cluster: registers with the coordinator (through the singleton proxy)
/// and reports every NIC and port change after that; carries out the coordinator's commands
/// idempotently and refuses those of an older epoch (a planned detach or attach of a device, and a
/// port's switch to another member, are acknowledged once done); fences its ports itself when it has
/// not seen a majority of the cluster for longer than its lease; and reports its NICs' load when
/// it changed (<see cref="NicLoadSampler"/>, with <see cref="HostAgentSettings.Load"/>).
/// </summary>
public sealed partial class HostAgent : ReceiveActor, IWithTimers
{
    private sealed record TryRegister;
    private sealed record CheckLease;
    private sealed record ReportPorts;
    private sealed record Renew;
    private sealed record KernelLeaseWritten(KernelLeaseResult Result, int Devices, TimeSpan Remaining);
    private readonly HostAgentSettings _settings;
    private readonly IActorRef _watcher;
    private readonly IActorRef _coordinator;
    private readonly IDeviceBus _bus;
    private readonly PortFactory? _portFactory;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<PortId, IActorRef> _ports;
    private readonly Dictionary<DeviceId, NicReport> _nics = [];
    private readonly CommandLedger _ledger = new();
    private readonly MembershipLease _lease;
    private bool _leaving;
    private bool _sawCoordinator;
    private readonly long _incarnation = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly CoordinatorLease _granted = new();
    // Each port's devices, as its last status said: what the kernel lease lets forward.
    private readonly Dictionary<PortId, IReadOnlyList<DeviceId>> _members = [];
    private readonly KernelLeaseWriter? _kernel;
    // The net devices under the kernel fence: those of the configuration, and any a port runs over since.
    private readonly HashSet<string> _fenced;
    private bool _registered;
    private bool _kernelFailing;
    private bool _lapseLogged;
    private TimeSpan _registeredAt;
    private IActorRef? _sampler;
    private readonly Observability.AgentHealth _health = Observability.AgentHealth.For(Context.System);
    private readonly Observability.AgentMetrics _metrics = Observability.AgentMetrics.For(Context.System);

    /// <param name="kernelLease">
    /// The fence the kernel enforces (installed by the caller), renewed here while the coordinator
    /// grants a lease; null: none (the ports are fenced only by this process).
    /// </param>
    public HostAgent(HostAgentSettings settings, IActorRef watcher, IReadOnlyDictionary<PortId, IActorRef> ports,
        IActorRef coordinator, IDeviceBus bus, PortFactory? portFactory, IKernelLease? kernelLease = null)
    {
        _fenced = new HashSet<string>(settings.FencedDevices ?? new HashSet<string>(), StringComparer.Ordinal);
        if (kernelLease is not null)
        {
            var self = Self;
            _kernel = new KernelLeaseWriter(kernelLease, (result, devices, remaining) => self.Tell(new KernelLeaseWritten(result, devices, remaining)));
        }
        _settings = settings;
        _watcher = watcher;
        _coordinator = coordinator;
        _bus = bus;
        _portFactory = portFactory;
        _ports = new Dictionary<PortId, IActorRef>(ports);
        _lease = new MembershipLease(settings.Lease);

        Receive<TryRegister>(_ =>
        {
            if (!_leaving) Register();
        });
        Receive<HostRegistered>(OnRegistered);
        Receive<DeviceEvent>(OnDeviceEvent);
        Receive<DeviceProtocol.SubscriptionAck>(_ => { });
        // Health changes reach the coordinator through the ports' reports; the device states themselves
        // stay local, and move the planned detaches and attaches on.
        Receive<DeviceStateChanged>(OnDeviceStateChanged);
        Receive<DeviceStatus>(OnDeviceAnswer);
        Receive<DeviceProtocol.UnknownDevice>(u => Progress(p => p.Command.OnUnknown(u.Device)));
        Receive<Ports.PortEscalated>(e => _coordinator.Tell(new HostProtocol.PortEscalated(_settings.Host, e.Port, e.Reason)));
        Receive<PortRecovered>(e => ReportPort(e.Port));
        Receive<PortSwitched>(e => ReportPort(e.Port));
        Receive<PortStatus>(OnPortStatus);
        Receive<Renew>(_ => OnRenew());
        Receive<LeaseGranted>(OnLeaseGranted);
        Receive<KernelLeaseWritten>(OnKernelLeaseWritten);
        Receive<AttachPort>(OnAttachPort);
        Receive<DetachPort>(OnDetachPort);
        Receive<DetachDevice>(OnDetachDevice);
        Receive<DetachChecked>(OnDetachChecked);
        Receive<AttachDevice>(OnAttachDevice);
        Receive<SwitchPortDevice>(OnSwitchPortDevice);
        Receive<SwitchAnswered>(OnSwitchAnswered);
        Receive<CheckLease>(_ => OnCheckLease());
        Receive<ReportPorts>(_ =>
        {
            if (!_registered) return;
            foreach (var port in _ports.Values) port.Tell(new PortProtocol.GetPortStatus());
        });
        Receive<PortProtocol.FenceAck>(_ => { });
        Receive<StopForwarding>(OnStopForwarding);
        Receive<NicLoadSampler.LoadReportDue>(OnLoadReportDue);
    }

    /// <summary>
    /// Asked by the node's coordinated shutdown before it leaves the cluster (a stop, or the split
    /// brain resolver's down): every port stops forwarding here, in the kernel and in the bridges,
    /// before the coordinator learns the host is gone and moves them. Answered with
    /// <see cref="Akka.Done"/> once every port has fenced.
    /// </summary>
    public sealed record StopForwarding(string Reason);

    private bool MayForward => !_lease.Fenced && !_leaving;

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(HostAgentSettings settings, IActorRef watcher, IReadOnlyDictionary<PortId, IActorRef> ports,
        IActorRef coordinator, IDeviceBus bus, PortFactory? portFactory = null, IKernelLease? kernelLease = null) =>
        Akka.Actor.Props.Create(() => new HostAgent(settings, watcher, ports, coordinator, bus, portFactory, kernelLease));

    protected override void PreStart()
    {
        _watcher.Tell(new DeviceProtocol.Subscribe(Self, DeviceEventFilter.ForSubsystem(Subsystems.Net)));
        // PCI functions too: their state changes carry planned detaches and attaches of a function.
        _watcher.Tell(new DeviceProtocol.Subscribe(Self, DeviceEventFilter.ForSubsystem(Subsystems.Pci)));
        Context.System.EventStream.Subscribe(Self, typeof(Ports.PortEscalated));
        Context.System.EventStream.Subscribe(Self, typeof(PortRecovered));
        Context.System.EventStream.Subscribe(Self, typeof(PortSwitched));
        foreach (var nic in _bus.Scan().Net) Remember(nic);
        if (_settings.Load is { } load)
        {
            _sampler = Context.ActorOf(NicLoadSampler.Props(load, new SysfsNicCounters(_bus.Root), Self), "nic-load");
            TrackLoad();
        }
        _health.Clustered(_settings.Lease, kernelFence: _kernel is not null);
        Timers.StartPeriodicTimer("register", new TryRegister(), TimeSpan.Zero, _settings.RegisterRetry);
        Timers.StartPeriodicTimer("lease", new CheckLease(), _settings.LeaseCheckInterval);
        var every = _settings.ReportInterval ?? HostAgentSettings.DefaultReportInterval;
        Timers.StartPeriodicTimer("report", new ReportPorts(), every, every);
        Timers.StartPeriodicTimer("renew", new Renew(), _settings.EffectiveRenewInterval);
    }

    protected override void PostStop()
    {
        // Leaving or downed: the coordinator moves our ports once we are gone; they must be down
        // here first. Stopping a port takes its traffic down (FailSafeGroup.PostStop).
        Context.System.EventStream.Unsubscribe(Self);
        _log.Info("Host agent {Host} stopping: its ports are taken down", _settings.Host);
        if (_kernel is not null)
        {
            var revoked = _kernel.RevokeNow();
            if (!revoked.Succeeded) _log.Error("Host {0}: could not revoke the kernel lease while stopping: {1}", _settings.Host, revoked.Error);
            _kernel.Dispose();
        }
    }

    // ---- registration and reports ------------------------------------------------------------

    private void Register()
    {
        var address = Akka.Cluster.Cluster.Get(Context.System).SelfAddress.ToString();
        var ports = _ports.Keys.Select(p => new PortReport(SpecOf(p), [], null, false)).ToList();
        // Load: the ports carried on fail-over slots (those not in this host's own configuration).
        var foreign = _ports.Keys.Count(p => !_settings.PortSpecs.ContainsKey(p));
        var inventory = new HostInventory([.. _nics.Values], ports, _settings.Capacity, foreign, _settings.Reserved);
        _coordinator.Tell(new RegisterHost(_settings.Host, address, _incarnation, inventory, _ledger.NewestEpoch));
        // Then the ports' real state, one report each.
        foreach (var port in _ports.Values) port.Tell(new PortProtocol.GetPortStatus());
    }

    private void OnRegistered(HostRegistered registered)
    {
        if (registered.Incarnation != 0 && registered.Incarnation != _incarnation) return; // an answer to a predecessor
        if (registered.Epoch < _ledger.NewestEpoch)
        {
            // From a coordinator that lost its role: what it says this host owns is out of date.
            _log.Warning("Ignoring a registration answer of epoch {Epoch}: this agent has seen epoch {NewestEpoch} (a coordinator that lost its role)", registered.Epoch, _ledger.NewestEpoch);
            return;
        }
        _ledger.Observe(registered.Epoch);
        if (!_registered)
        {
            _log.Info("Host {Host} registered with the coordinator (epoch {Epoch})", _settings.Host, registered.Epoch);
            _sampler?.Tell(new NicLoadSampler.ReportAgain()); // this coordinator may know nothing of the load yet
        }
        _registered = true;
        Timers.Cancel("register");
        if (!MayForward) return;
        // Ports the coordinator moved elsewhere while we were away go; the rest carry traffic.
        var owned = registered.OwnedPorts.ToHashSet();
        var incoming = (registered.IncomingPorts ?? []).ToHashSet();
        // Ports on their way here keep their standing: the attach decides them.
        _granted.AllowOnly([.. owned, .. incoming.Where(_granted.Allowed.Contains)]);
        _registeredAt = _clock.Elapsed;
        Self.Tell(new Renew()); // the first lease now, not a renewal interval later
        WriteKernelLease();
        foreach (var (port, group) in _ports.ToList())
        {
            if (incoming.Contains(port)) continue; // the coordinator's attach decides
            if (owned.Contains(port))
            {
                group.Tell(new PortProtocol.Unfence($"the coordinator confirmed it is ours (epoch {registered.Epoch})"));
                continue;
            }
            _log.Warning("Port {Port} was moved to another host while this one was away: detaching it here", port);
            RemovePort(port);
        }
    }

    private void OnDeviceEvent(DeviceEvent ev)
    {
        if (ev.Device.Subsystem != Subsystems.Net) return; // NICs are net devices; a PCI function's events matter only as states
        switch (ev.Uevent.Action)
        {
            case UeventAction.Add:
            case UeventAction.Move:
                if (_bus.FindNet(ev.Device.Name) is { } nic && Remember(nic) is { } report)
                    _coordinator.Tell(new HostProtocol.NicAdded(_settings.Host, report));
                if (ev.Uevent.DevPathOld is { } old && _nics.Remove(DeviceId.Net(DevPaths.KernelName(old).ToString()), out var renamed))
                    _coordinator.Tell(new HostProtocol.NicRemoved(_settings.Host, renamed.Device, renamed.Identity));
                TrackLoad();
                break;
            case UeventAction.Remove when _nics.Remove(ev.Device, out var gone):
                _coordinator.Tell(new HostProtocol.NicRemoved(_settings.Host, gone.Device, gone.Identity));
                TrackLoad();
                break;
        }
    }

    private void TrackLoad() => _sampler?.Tell(new NicLoadSampler.Track([.. _nics.Keys]));

    /// <summary>Load reports go only to a coordinator this agent is registered with: before that, it would not know the host.</summary>
    private void OnLoadReportDue(NicLoadSampler.LoadReportDue due)
    {
        if (!_registered || _leaving) return;
        _coordinator.Tell(new NicLoadReported(_settings.Host, _incarnation, due.Nics));
    }

    /// <summary>The NIC's identity must be read while it exists: at removal there is nothing left to read.</summary>
    private NicReport? Remember(NetInterfaceInfo nic)
    {
        var backing = nic.PciSlot is { } slot ? _bus.FindPci(slot) : null;
        if (NicIdentity.For(nic, backing) is not { } identity) return null;
        var report = new NicReport(nic.Id, identity, nic.PciSlot, nic.OperState is not "down");
        _nics[nic.Id] = report;
        return report;
    }

    private void ReportPort(PortId port)
    {
        if (_ports.TryGetValue(port, out var group)) group.Tell(new PortProtocol.GetPortStatus());
    }

    private PortReport Report(PortStatus status) => new(SpecOf(status.Port), status.Members, status.Active, status.Escalated, status.Fenced);

    private PortSpec SpecOf(PortId port) => _settings.PortSpecs.GetValueOrDefault(port) ?? new PortSpec(port);

    // ---- commands ----------------------------------------------------------------------------

    /// <param name="again">Run for a command already applied: an attach is a state ("carry this port"), so a retry re-asserts it.</param>
    private bool Admit(CommandId id, long epoch, long incarnation, Action? again = null)
    {
        if (incarnation != 0 && incarnation != _incarnation)
        {
            // Meant for a predecessor at this address (sent before this agent registered, or a
            // delayed copy): no answer, so the coordinator retries to the incarnation it knows.
            _log.Warning("Ignoring command {0}: addressed to incarnation {1}, this is {2}", id, incarnation, _incarnation);
            return false;
        }
        switch (_ledger.Admit(id, epoch))
        {
            case LedgerVerdict.Refuse refuse:
                _log.Warning("Refusing command {0}: {1} (a coordinator that lost its role)", id, refuse.Reason);
                Sender.Tell(new CommandRefused(id, _settings.Host, refuse.Reason, refuse.NewestEpoch, epoch, _incarnation));
                return false;
            case LedgerVerdict.RefusedBefore before:
                Sender.Tell(new CommandRefused(id, _settings.Host, before.Reason, _ledger.NewestEpoch, epoch, _incarnation));
                return false;
            case LedgerVerdict.Duplicate:
                again?.Invoke();
                Sender.Tell(new CommandAcknowledged(id, _settings.Host, epoch)); // a retry: already done
                return false;
            default:
                return true;
        }
    }

    private void Refuse(AttachPort attach, string reason) => RefuseCommand(attach.Id, attach.Epoch, reason, Sender);

    private void Applied(CommandId id, long epoch) => AcknowledgeCommand(id, epoch, Sender);

    /// <summary>Recorded first: every later copy of the command gets the same answer.</summary>
    private void RefuseCommand(CommandId id, long epoch, string reason, IActorRef replyTo)
    {
        _ledger.Refused(id, reason);
        replyTo.Tell(new CommandRefused(id, _settings.Host, reason, _ledger.NewestEpoch, epoch, _incarnation));
    }

    private void AcknowledgeCommand(CommandId id, long epoch, IActorRef replyTo)
    {
        _ledger.Applied(id);
        replyTo.Tell(new CommandAcknowledged(id, _settings.Host, epoch));
    }

    private void OnAttachPort(AttachPort attach)
    {
        // A retry of an attach already applied: the port may have been fenced since (no majority for
        // a while); the coordinator still wants it carried here.
        if (!Admit(attach.Id, attach.Epoch, attach.Incarnation, () =>
            {
                if (MayForward && _ports.TryGetValue(attach.Port.Port, out var port))
                    port.Tell(new PortProtocol.Unfence($"attached by the coordinator (command {attach.Id}, again)"));
            })) return;
        if (!MayForward)
        {
            Refuse(attach, _leaving ? "this host is leaving the cluster" : "this host is fenced (no majority)");
            return;
        }
        _granted.Allow(attach.Port.Port);
        if (_ports.TryGetValue(attach.Port.Port, out var existing))
        {
            existing.Tell(new PortProtocol.Unfence($"attached by the coordinator (command {attach.Id})"));
        }
        else if (_portFactory?.Invoke(Context, attach.Port, attach.Devices) is { } created)
        {
            _ports[attach.Port.Port] = created;
            _log.Info("Port {Port} attached on {Host} by the coordinator (command {Command}, epoch {Epoch})", attach.Port.Port, _settings.Host, attach.Id, attach.Epoch);
        }
        else
        {
            _granted.Disallow(attach.Port.Port);
            Refuse(attach, "no free device for another port");
            return;
        }
        // A port that followed its NIC here runs over that NIC, outside the fence installed at start.
        if (attach.Devices is { Count: > 0 } followed)
        {
            _members[attach.Port.Port] = followed;
            Fence(followed);
        }
        _ports[attach.Port.Port].Tell(new PortProtocol.GetPortStatus()); // its devices, for the kernel lease
        WriteKernelLease();
        Applied(attach.Id, attach.Epoch);
    }

    private void OnDetachPort(DetachPort detach)
    {
        if (!Admit(detach.Id, detach.Epoch, detach.Incarnation)) return;
        RemovePort(detach.Port);
        Applied(detach.Id, detach.Epoch);
    }

    private void RemovePort(PortId port)
    {
        // Out of the kernel's lease first: it stops forwarding now, whatever the bridge release costs.
        _granted.Disallow(port);
        WriteKernelLease();
        _members.Remove(port);
        if (!_ports.Remove(port, out var group)) return;
        group.Tell(new PortProtocol.Fence("detached from this host"));
        Context.Stop(group);
    }

    // ---- fencing -----------------------------------------------------------------------------

    /// <summary>
    /// A node cut off alone can end up downing every other member from its side (the split brain
    /// resolver's indirectly-connected rule) and run on as a cluster of its own, with no coordinator
    /// and none that can ever join it: it would never rejoin. Once no coordinator is a member any
    /// more, the process ends (exit code 4) so that its service manager starts it again, and the new
    /// process joins through the seed nodes. Its ports stop forwarding first (the coordinated shutdown).
    /// </summary>
    private bool CutOffFromEveryCoordinator(IEnumerable<Member> members)
    {
        var coordinators = members.Count(m => m.HasRole(Shared.Hosting.ClusterNodeOptions.CoordinatorRole)
            && m.Status is not (MemberStatus.Down or MemberStatus.Removed));
        if (coordinators > 0)
        {
            _sawCoordinator = true;
            return false;
        }
        if (!_sawCoordinator) return false; // still joining
        _log.Error("Host {0}: no coordinator is a member of this node's cluster any more (cut off and left alone): stopping, to rejoin through the seed nodes",
            _settings.Host);
        _sawCoordinator = false;
        CoordinatedShutdown.Get(Context.System).Run(new Shared.Hosting.ExitCodeReason(Shared.Hosting.ExitCodes.Downed,
            "no coordinator left in this node's cluster: restart it to rejoin through the seed nodes"));
        return true;
    }

    private void OnStopForwarding(StopForwarding stop)
    {
        _leaving = true;
        Timers.Cancel("register");
        _log.Warning("Host {Host} is leaving the cluster ({Reason}): its {PortCount} port(s) stop forwarding before the coordinator moves them",
            _settings.Host, stop.Reason, _ports.Count);
        RevokeKernelLease(stop.Reason);
        var timeout = TimeSpan.FromSeconds(5);
        Task.WhenAll(_ports.Values.Select(group => group.Ask<PortProtocol.FenceAck>(new PortProtocol.Fence(stop.Reason), timeout)))
            .ContinueWith(_ => (object)Akka.Done.Instance, TaskScheduler.Default)
            .PipeTo(Sender);
    }

    private void OnCheckLease()
    {
        if (_leaving) return; // on its way out: it neither fences again nor registers again
        var state = Akka.Cluster.Cluster.Get(Context.System).State;
        if (CutOffFromEveryCoordinator(state.Members)) return;
        var members = state.Members.Where(m => m.Status is MemberStatus.Up or MemberStatus.Leaving).Select(m => m.Address).ToList();
        var unreachable = state.Unreachable.Select(m => m.Address).ToHashSet();
        switch (_lease.Observe(members, unreachable, _clock.Elapsed))
        {
            case LeaseVerdict.Fence:
                _log.Error("Host {Host} has not seen a majority of the cluster for {Lease}: fencing {PortCount} port(s)",
                    _settings.Host, _settings.Lease, _ports.Count);
                _metrics.HostFenced();
                foreach (var group in _ports.Values) group.Tell(new PortProtocol.Fence($"no majority for {_settings.Lease}"));
                RevokeKernelLease($"no majority for {_settings.Lease}");
                break;
            case LeaseVerdict.MajorityRegained:
                // Ports come back only when the coordinator says which are still ours.
                _log.Warning("Host {Host} sees a majority again: re-registering before any port comes back", _settings.Host);
                _registered = false;
                Timers.StartPeriodicTimer("register", new TryRegister(), TimeSpan.Zero, _settings.RegisterRetry);
                break;
        }
    }

    // ---- the coordinator's lease, enforced by the kernel ---------------------------------------

    private void OnPortStatus(PortStatus status)
    {
        _coordinator.Tell(new PortChanged(_settings.Host, Report(status)));
        if (!_ports.ContainsKey(status.Port)) return; // a port that was removed since it answered
        var before = _members.GetValueOrDefault(status.Port);
        _members[status.Port] = status.Members;
        Fence(status.Members);
        if (before is null || !before.SequenceEqual(status.Members)) WriteKernelLease();
    }

    private void OnRenew()
    {
        if (!_registered) return;
        var now = _clock.Elapsed;
        var sequence = _granted.Ask(now);
        _coordinator.Tell(new RenewLease(_settings.Host, _incarnation, sequence, KernelEnforcesEveryPort()));
        // No grant for a whole lease: the coordinator no longer counts this host as its own (it
        // lost it, or a new instance does not know it): register again, as after a partition.
        var silentFor = now - (_granted.LastGrantAt is { } last && last > _registeredAt ? last : _registeredAt);
        if (silentFor > _settings.Lease + _settings.EffectiveRenewInterval && MayForward)
        {
            if (!_lapseLogged)
                _log.Warning("Host {0}: the coordinator has granted no lease for {1:0.0} s: its ports stay fenced in the kernel; registering again",
                    _settings.Host, silentFor.TotalSeconds);
            _lapseLogged = true;
            _registered = false;
            Timers.StartPeriodicTimer("register", new TryRegister(), TimeSpan.Zero, _settings.RegisterRetry);
        }
    }

    private void OnLeaseGranted(LeaseGranted grant)
    {
        if (grant.Incarnation != _incarnation || grant.Epoch < _ledger.NewestEpoch) return; // for a predecessor, or from a coordinator that lost its role
        if (!MayForward) return; // no majority, or leaving: nothing forwards until the coordinator confirms what is ours
        if (!_granted.Granted(grant.Sequence, grant.Duration, grant.Ports, _clock.Elapsed)) return;
        _ledger.Observe(grant.Epoch);
        if (_lapseLogged) _log.Info("Host {Host}: the coordinator grants the lease again ({PortCount} port(s))", _settings.Host, grant.Ports.Count);
        _lapseLogged = false;
        _health.LeaseGranted(Stopwatch.GetTimestamp() + (long)((_granted.EndsAt!.Value - _clock.Elapsed).TotalSeconds * Stopwatch.Frequency));
        WriteKernelLease();
    }

    /// <summary>
    /// Whether the kernel fence covers every device a port of this host runs over: a port that
    /// followed its NIC here runs over a device outside the fence installed at start, and then the
    /// coordinator must wait for this agent to fence itself, as for a host without the fence.
    /// </summary>
    private bool KernelEnforcesEveryPort() =>
        _kernel is not null && _settings.AllPortsBridged &&
        _members.Values.SelectMany(m => m).Where(d => d.Subsystem == Subsystems.Net).All(d => _fenced.Contains(d.Name));

    /// <summary>Puts a port's net devices under the kernel fence if they are not yet (a NIC that migrated here).</summary>
    private void Fence(IEnumerable<DeviceId> devices)
    {
        if (_kernel is null) return;
        var outside = devices.Where(d => d.Subsystem == Subsystems.Net && !_fenced.Contains(d.Name)).Select(d => d.Name).ToList();
        if (outside.Count == 0) return;
        var wanted = new HashSet<string>(_fenced.Concat(outside), StringComparer.Ordinal);
        var installed = _kernel.Manage(wanted);
        if (installed.Succeeded)
        {
            _fenced.UnionWith(outside);
            _log.Info("Host {0}: {1} now under the kernel fence", _settings.Host, string.Join(", ", outside));
        }
        else
            // Not fenced: the renewals say so, and the coordinator waits for this agent to fence itself.
            _log.Error("Host {0}: cannot put {1} under the kernel fence: {2}", _settings.Host, string.Join(", ", outside), installed.Error);
    }

    /// <summary>The devices of the ports the coordinator allows, leased in the kernel until the lease ends.</summary>
    private void WriteKernelLease()
    {
        if (_kernel is null) return;
        var now = _clock.Elapsed;
        if (!_granted.Holds(now)) return; // nothing to renew: the kernel lets it run out
        var devices = _granted.Allowed.Where(_ports.ContainsKey)
            .SelectMany(p => _members.GetValueOrDefault(p) ?? [])
            .Where(d => d.Subsystem == Subsystems.Net).Select(d => d.Name).ToHashSet(StringComparer.Ordinal);
        var endsAt = Stopwatch.GetTimestamp() + (long)((_granted.EndsAt!.Value - now).TotalSeconds * Stopwatch.Frequency);
        _kernel.Want(devices, endsAt);
    }

    private void RevokeKernelLease(string reason)
    {
        _granted.Revoke();
        _health.LeaseRevoked(reason);
        if (_kernel is null) return;
        var revoked = _kernel.RevokeNow();
        if (revoked.Succeeded) _log.Warning("Host {Host}: kernel lease revoked ({Reason}): no port forwards here", _settings.Host, reason);
        else _log.Error("Host {0}: could not revoke the kernel lease ({1}): {2}; it runs out by itself within {3}", _settings.Host, reason, revoked.Error, _settings.Lease);
    }

    private void OnKernelLeaseWritten(KernelLeaseWritten written)
    {
        if (written.Result.Succeeded) _health.FenceRenewed();
        else _health.FenceFailed(written.Result.Error ?? "failed");
        if (written.Result.Succeeded)
        {
            if (_kernelFailing) _log.Info("Host {0}: kernel lease written again ({1} device(s))", _settings.Host, written.Devices);
            _kernelFailing = false;
            return;
        }
        // Logged once per run of failures: renewals repeat every few hundred milliseconds.
        if (!_kernelFailing)
            _log.Error("Host {0}: cannot renew the kernel lease: {1}; its ports stop forwarding when the current one runs out", _settings.Host, written.Result.Error);
        _kernelFailing = true;
    }
}
