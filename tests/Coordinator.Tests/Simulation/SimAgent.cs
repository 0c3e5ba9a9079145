using Replug.Agent.Cluster;
using Replug.Agent.Ports;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using static Replug.Shared.Protocol.HostProtocol;

namespace Replug.Coordinator.Tests.Simulation;

/// <summary>One logical port in the agent's memory: the pure selection and whether the agent keeps it out of the path.</summary>
public sealed class SimPort(SimPortConfig config, FailSafePort selection, bool fenced)
{
    public SimPortConfig Config { get; } = config;
    /// <summary>The fail-over devices this port holds from the pool, given back when it is removed.</summary>
    public IReadOnlyList<DeviceId> Taken { get; init; } = [];
    public FailSafePort Selection { get; } = selection;
    public bool Fenced { get; set; } = fenced;
}

/// <summary>
/// One incarnation of a host's agent process, mirroring <see cref="HostAgent"/> (registration,
/// reports, commands, self-fencing) and the port actors (<see cref="FailSafeGroup"/>: fenced
/// ports keep deciding but put nothing in the path) over the real pure parts:
/// <see cref="CommandLedger"/>, <see cref="MembershipLease"/>, <see cref="FailSafePort"/>.
/// Everything here is memory: a crash loses it, the kernel keeps what it was told.
/// </summary>
public sealed class SimAgent
{
    private readonly SimWorld _world;
    private readonly SimNode _node;
    private readonly SimHostConfig _config;
    private readonly CommandLedger _ledger = new();
    private readonly MembershipLease _lease;
    private readonly SortedDictionary<string, NicReport> _nics = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, SimPort> _ports = new(StringComparer.Ordinal);
    // AgentClusterHosting.FailoverPorts: a queue in the process, never refilled.
    // AgentClusterHosting.FailoverPorts: the real pool, fail-over devices given back when a port goes.
    private readonly FailoverDevicePool _failoverDevices;
    private readonly List<object> _proxyBuffer = [];
    private bool _registered;
    private long _registerTimer;

    public SimAgent(SimWorld world, SimNode node, long incarnation)
    {
        _world = world;
        _node = node;
        _config = node.Host!;
        Incarnation = incarnation;
        _lease = new MembershipLease(world.Options.Lease);
        _failoverDevices = new FailoverDevicePool(_config.FailoverDevices);
    }

    public long Incarnation { get; }
    public bool Alive { get; private set; } = true;
    public HostId Host => _config.Host;
    public bool LeaseFenced => _lease.Fenced;
    public Endpoint Self => new Endpoint.Agent(_node.Index, Incarnation);

    private SimKernel Kernel => _node.Kernel;

    private void Log(string text) => _world.Log($"{_node.Name}: {text}");

    // ---- life ------------------------------------------------------------------------------------

    /// <summary>PreStart: scan the NICs, make the configured ports (fenced), learn their devices' health, start registering.</summary>
    public void Start()
    {
        foreach (var (device, identity) in Kernel.Nics) Remember(device, identity);
        foreach (var port in _config.Ports)
        {
            var sim = new SimPort(port, new FailSafePort(port.Spec.Port, port.Members, revertive: true), fenced: true);
            _ports[port.Spec.Port.Value] = sim;
            foreach (var member in port.Members)
                if (Kernel.Has(member)) Run(sim, sim.Selection.OnHealthy(member), $"{member} is healthy");
        }
        Log($"agent started (incarnation {Incarnation}): ports [{string.Join(", ", _ports.Keys)}] fenced until the coordinator confirms them");
        StartRegistering();
        StartReporting();
    }

    /// <summary>Coordinated shutdown (downed, leaving, service stop): each port's PostStop takes its traffic down.</summary>
    public void StopGracefully(string why)
    {
        if (!Alive) return;
        foreach (var port in _ports.Values)
            if (!port.Fenced && port.Selection.Active is { } active && Kernel.Deactivate(port.Config.Spec.Port, active))
                Log($"{port.Config.Spec.Port}: deactivated {active} (shutting down: {why})");
        Alive = false;
    }

    /// <summary>kill -9: nothing runs, the kernel keeps forwarding.</summary>
    public void Crash() => Alive = false;

    // ---- registration and reports -----------------------------------------------------------------

    private void StartRegistering()
    {
        var timer = ++_registerTimer;
        void Tick()
        {
            if (!Alive || timer != _registerTimer) return;
            Register();
            _world.Scheduler.After(_world.Options.RegisterRetry, $"{_node.Name} register retry", Tick);
        }
        Tick();
    }

    /// <summary>HostAgent's periodic report: every port's state again, so a lost report or escalation is not lost for good.</summary>
    private void StartReporting()
    {
        void Tick()
        {
            if (!Alive) return;
            if (_registered)
            {
                foreach (var port in _ports.Values) ToCoordinator(new PortChanged(Host, Report(port)));
                ToCoordinator(Load());
            }
            _world.Scheduler.After(_world.Options.ReportInterval, $"{_node.Name} report", Tick);
        }
        _world.Scheduler.After(_world.Options.ReportInterval, $"{_node.Name} report", Tick);
    }

    private void Register()
    {
        var ports = _ports.Values.Select(p => new PortReport(p.Config.Spec, [], null, false)).ToList();
        var inventory = new HostInventory([.. _nics.Values], ports, _config.Capacity, _ports.Count);
        ToCoordinator(new RegisterHost(Host, _node.Address, Incarnation, inventory, _ledger.NewestEpoch));
        foreach (var port in _ports.Values) ToCoordinator(new PortChanged(Host, Report(port)));
    }

    private static PortReport Report(SimPort port) =>
        new(port.Config.Spec, port.Selection.Members, port.Selection.Active, port.Selection.Escalated, port.Fenced);

    private void ToCoordinator(IHostMessage message)
    {
        if (_world.Proxy(this) is { } instance) _world.Network.Send(Self, instance, message);
        else if (_proxyBuffer.Count < 1000) _proxyBuffer.Add(message); // the singleton proxy buffers until it finds the singleton
    }

    /// <summary>The proxy found a singleton: what it buffered goes out in order.</summary>
    public void FlushProxy()
    {
        if (_proxyBuffer.Count == 0 || _world.Proxy(this) is not { } instance) return;
        foreach (var message in _proxyBuffer) _world.Network.Send(Self, instance, message);
        _proxyBuffer.Clear();
    }

    private void OnRegistered(HostRegistered registered)
    {
        if (registered.Incarnation != 0 && registered.Incarnation != Incarnation) return; // an answer to a predecessor
        if (registered.Epoch < _ledger.NewestEpoch)
        {
            // From a coordinator that lost its role: what it says this host owns is out of date.
            Log($"ignoring a registration answer of epoch {registered.Epoch}: newest seen {_ledger.NewestEpoch}");
            return;
        }
        _ledger.Observe(registered.Epoch);
        if (!_registered) Log($"registered (epoch {registered.Epoch}), owned [{string.Join(", ", registered.OwnedPorts)}]");
        _registered = true;
        _registerTimer++;
        if (_lease.Fenced) return;
        var owned = registered.OwnedPorts.Select(p => p.Value).ToHashSet(StringComparer.Ordinal);
        var incoming = (registered.IncomingPorts ?? []).Select(p => p.Value).ToHashSet(StringComparer.Ordinal);
        foreach (var (name, port) in _ports.ToList())
        {
            if (incoming.Contains(name)) continue; // the coordinator's attach decides
            if (owned.Contains(name))
            {
                Unfence(port, $"the coordinator confirmed it is ours (epoch {registered.Epoch})");
                continue;
            }
            Log($"{name} was moved to another host while this one was away: detaching it here");
            RemovePort(name);
        }
    }

    // ---- devices ------------------------------------------------------------------------------------

    public void OnNicAdded(DeviceId device, NicIdentity identity)
    {
        if (Remember(device, identity) is { } report) ToCoordinator(new HostProtocol.NicAdded(Host, report));
        foreach (var port in _ports.Values.ToList())
            if (port.Selection.IsMember(device)) Run(port, port.Selection.OnHealthy(device), $"{device} is healthy");
    }

    public void OnNicRemoved(DeviceId device)
    {
        if (_nics.Remove(device.Name, out var gone)) ToCoordinator(new HostProtocol.NicRemoved(Host, gone.Device, gone.Identity));
        foreach (var port in _ports.Values.ToList())
            if (port.Selection.IsMember(device)) Run(port, port.Selection.OnUnhealthy(device, "removed"), $"{device}: removed");
    }

    private NicReport Remember(DeviceId device, NicIdentity identity)
    {
        var report = new NicReport(device, identity, null, true);
        _nics[device.Name] = report;
        return report;
    }

    // ---- the ports' actors (FailSafeGroup) ----------------------------------------------------------

    private void Run(SimPort port, IReadOnlyList<PortAction> actions, string reason, bool force = false)
    {
        var pending = new Queue<PortAction>(actions.Where(a => force || !port.Fenced || a is PortAction.Escalate or PortAction.Recover));
        var spec = port.Config.Spec;
        while (pending.TryDequeue(out var action))
        {
            switch (action)
            {
                case PortAction.Switch s when Kernel.Has(s.To):
                    Kernel.Switch(spec.Port, s.To);
                    Log($"{spec.Port}: switched {s.From?.ToString() ?? "none"} -> {s.To} ({reason})");
                    _world.OnKernelChanged(_node, spec.Port, $"switch to {s.To}");
                    ToCoordinator(new PortChanged(Host, Report(port)));
                    break;
                case PortAction.Switch s:
                    Log($"{spec.Port}: switch to {s.To} failed (device absent)");
                    foreach (var next in port.Selection.OnSwitchFailed(s.To, "device absent")) pending.Enqueue(next);
                    break;
                case PortAction.Deactivate d:
                    if (Kernel.Deactivate(spec.Port, d.Device)) Log($"{spec.Port}: deactivated {d.Device} ({reason})");
                    break;
                case PortAction.Escalate e:
                    Log($"{spec.Port}: escalating: {e.Reason}");
                    ToCoordinator(new HostProtocol.PortEscalated(Host, spec.Port, e.Reason));
                    break;
                case PortAction.Recover r:
                    Log($"{spec.Port}: recovered on {r.Active}");
                    ToCoordinator(new PortChanged(Host, Report(port)));
                    break;
            }
        }
    }

    private void Fence(SimPort port, string reason)
    {
        if (port.Fenced) return;
        port.Fenced = true;
        Log($"{port.Config.Spec.Port}: fenced ({reason})");
        if (port.Selection.Active is { } active) Run(port, [new PortAction.Deactivate(active)], reason, force: true);
    }

    private void Unfence(SimPort port, string reason)
    {
        if (!port.Fenced) return;
        port.Fenced = false;
        Log($"{port.Config.Spec.Port}: unfenced ({reason})");
        if (port.Selection.Active is { } active) Run(port, [new PortAction.Switch(null, active)], reason);
    }

    private void RemovePort(string name)
    {
        if (!_ports.Remove(name, out var port)) return;
        Fence(port, "detached from this host");
        _failoverDevices.Return(port.Taken);
        // PostStop: a port still unfenced would take its traffic down; this one was just fenced.
    }

    // ---- commands ----------------------------------------------------------------------------------

    public void Receive(object message, Endpoint sender)
    {
        if (!Alive) return;
        switch (message)
        {
            case HostRegistered r: OnRegistered(r); break;
            case AttachPort a: OnAttachPort(a, sender); break;
            case DetachPort d: OnDetachPort(d, sender); break;
            case DetachDevice d: OnDetachDevice(d, sender); break;
            case AttachDevice a: OnAttachDevice(a, sender); break;
            case SwitchPortDevice s: OnSwitchPortDevice(s, sender); break;
        }
    }

    private bool Admit(CommandId id, long epoch, long incarnation, Endpoint sender, Action? again = null)
    {
        if (incarnation != 0 && incarnation != Incarnation)
        {
            Log($"ignoring command {id}: addressed to incarnation {incarnation}");
            return false;
        }
        switch (_ledger.Admit(id, epoch))
        {
            case LedgerVerdict.Refuse refuse:
                Log($"refusing command {id}: {refuse.Reason}");
                _world.Network.Send(Self, sender, new CommandRefused(id, Host, refuse.Reason, refuse.NewestEpoch, epoch, Incarnation));
                return false;
            case LedgerVerdict.RefusedBefore before:
                _world.Network.Send(Self, sender, new CommandRefused(id, Host, before.Reason, _ledger.NewestEpoch, epoch, Incarnation));
                return false;
            case LedgerVerdict.Duplicate:
                again?.Invoke();
                _world.Network.Send(Self, sender, new CommandAcknowledged(id, Host, epoch));
                return false;
            default:
                return true;
        }
    }

    private void Applied(CommandId id, long epoch, Endpoint sender, int kernelBefore)
    {
        _ledger.Applied(id);
        _world.OnCommandApplied(_node, id, changedDataPath: Kernel.Version != kernelBefore);
        _world.Network.Send(Self, sender, new CommandAcknowledged(id, Host, epoch));
    }

    private void OnAttachPort(AttachPort attach, Endpoint sender)
    {
        // HostAgent: a retry of an applied attach re-asserts it (the port may have been fenced since).
        if (!Admit(attach.Id, attach.Epoch, attach.Incarnation, sender, () =>
            {
                if (!_lease.Fenced && _ports.TryGetValue(attach.Port.Port.Value, out var port)) Unfence(port, $"attached by the coordinator (command {attach.Id}, again)");
            })) return;
        if (_lease.Fenced)
        {
            _ledger.Refused(attach.Id, "this host is fenced (no majority)");
            _world.Network.Send(Self, sender, new CommandRefused(attach.Id, Host, "this host is fenced (no majority)", _ledger.NewestEpoch, attach.Epoch, Incarnation));
            return;
        }
        var before = Kernel.Version;
        var name = attach.Port.Port.Value;
        if (_ports.TryGetValue(name, out var existing))
        {
            Unfence(existing, $"attached by the coordinator (command {attach.Id})");
        }
        else if (MakePort(attach.Port, attach.Devices) is { } created)
        {
            _ports[name] = created;
            Log($"{name} attached by the coordinator over [{string.Join(", ", created.Selection.Members)}] (command {attach.Id}, epoch {attach.Epoch})");
            foreach (var member in created.Selection.Members)
                if (Kernel.Has(member)) Run(created, created.Selection.OnHealthy(member), $"{member} is healthy");
        }
        else
        {
            _ledger.Refused(attach.Id, "no free device for another port");
            _world.Network.Send(Self, sender, new CommandRefused(attach.Id, Host, "no free device for another port", _ledger.NewestEpoch, attach.Epoch, Incarnation));
            return;
        }
        Applied(attach.Id, attach.Epoch, sender, before);
    }

    /// <summary>AgentClusterHosting.FailoverPorts: a port that followed its NIC runs over it; one failed over takes a free fail-over device.</summary>
    private SimPort? MakePort(PortSpec spec, IReadOnlyList<DeviceId>? devices)
    {
        if (_failoverDevices.Take(devices, Kernel.Has) is not { } chosen) return null;
        return new SimPort(new SimPortConfig(spec, chosen.Members), new FailSafePort(spec.Port, chosen.Members, revertive: true), fenced: false)
        {
            Taken = chosen.Taken,
        };
    }

    private void OnDetachPort(DetachPort detach, Endpoint sender)
    {
        if (!Admit(detach.Id, detach.Epoch, detach.Incarnation, sender)) return;
        var before = Kernel.Version;
        RemovePort(detach.Port.Value);
        Applied(detach.Id, detach.Epoch, sender, before);
    }

    // ---- planned hot plug (HostAgent's DetachDevice / AttachDevice / SwitchPortDevice) --------------

    private void Refuse(CommandId id, long epoch, string reason, Endpoint sender)
    {
        _ledger.Refused(id, reason);
        _world.Network.Send(Self, sender, new CommandRefused(id, Host, reason, _ledger.NewestEpoch, epoch, Incarnation));
    }

    /// <summary>Each port using the device remaps first (the device supervisor's drain), then the link goes down.</summary>
    private void OnDetachDevice(DetachDevice detach, Endpoint sender)
    {
        if (!Admit(detach.Id, detach.Epoch, detach.Incarnation, sender)) return;
        if (!Kernel.Has(detach.Device))
        {
            Refuse(detach.Id, detach.Epoch, $"{detach.Device} is not on this host", sender);
            return;
        }
        var stranded = _ports.Values.FirstOrDefault(p => p.Selection.IsMember(detach.Device)
            && !p.Selection.Members.Any(m => m != detach.Device && Kernel.Has(m) && !Kernel.IsDown(m)));
        if (stranded is not null)
        {
            Refuse(detach.Id, detach.Epoch, $"port {stranded.Config.Spec.Port} would have no healthy device", sender);
            return;
        }
        var before = Kernel.Version;
        foreach (var port in _ports.Values.Where(p => p.Selection.IsMember(detach.Device)).ToList())
            Run(port, port.Selection.OnUnhealthy(detach.Device, "detached"), $"{detach.Device}: detached ({detach.Reason})");
        Kernel.SetLink(detach.Device, up: false);
        Log($"{detach.Device}: link down (detach {detach.Id}: {detach.Reason})");
        Applied(detach.Id, detach.Epoch, sender, before);
    }

    private void OnAttachDevice(AttachDevice attach, Endpoint sender)
    {
        if (!Admit(attach.Id, attach.Epoch, attach.Incarnation, sender)) return;
        if (!Kernel.Has(attach.Device))
        {
            Refuse(attach.Id, attach.Epoch, $"restore failed: {attach.Device} is not on this host", sender);
            return;
        }
        var before = Kernel.Version;
        Kernel.SetLink(attach.Device, up: true);
        Log($"{attach.Device}: link up (attach {attach.Id}: {attach.Reason})");
        foreach (var port in _ports.Values.Where(p => p.Selection.IsMember(attach.Device)).ToList())
            Run(port, port.Selection.OnHealthy(attach.Device), $"{attach.Device} attached");
        Applied(attach.Id, attach.Epoch, sender, before);
    }

    private void OnSwitchPortDevice(SwitchPortDevice change, Endpoint sender)
    {
        if (!Admit(change.Id, change.Epoch, change.Incarnation, sender)) return;
        if (!_ports.TryGetValue(change.Port.Value, out var port))
        {
            Refuse(change.Id, change.Epoch, $"port {change.Port} is not on this host", sender);
            return;
        }
        if (port.Selection.WhyNotSwitchTo(change.Device) is { } why)
        {
            Refuse(change.Id, change.Epoch, why, sender);
            return;
        }
        var before = Kernel.Version;
        Run(port, port.Selection.SwitchTo(change.Device), $"switched by the coordinator (command {change.Id})");
        Applied(change.Id, change.Epoch, sender, before);
    }

    /// <summary>
    /// Each NIC's load as the agent would measure it: the traffic of the ports forwarding over it,
    /// each port carrying a fixed share of a 10 Gb/s link drawn from its name (stable across runs).
    /// </summary>
    private NicLoadReported Load()
    {
        var bps = _nics.Values.ToDictionary(n => n.Device, _ => 0.0);
        foreach (var port in _ports.Values)
            if (Kernel.Forwards(port.Config.Spec.Port) && Kernel.ActiveOf(port.Config.Spec.Port) is { } active && bps.ContainsKey(active))
                bps[active] += PortBps(port.Config.Spec.Port);
        return new NicLoadReported(Host, Incarnation, [.. bps.Select(b => new NicLoadSample(b.Key, NicCapacityBps, b.Value, b.Value))]);
    }

    public const double NicCapacityBps = 10e9;

    public static double PortBps(PortId port)
    {
        var hash = 2166136261u;
        foreach (var c in port.Value) hash = (hash ^ c) * 16777619u;
        return NicCapacityBps * (0.05 + 0.05 * (hash % 8));
    }

    // ---- fencing ---------------------------------------------------------------------------------

    /// <summary>The lease check (every LeaseCheckInterval in the agent; every membership tick here).</summary>
    public void CheckLease(IReadOnlyCollection<Akka.Actor.Address> members, IReadOnlyCollection<Akka.Actor.Address> unreachable)
    {
        if (!Alive) return;
        switch (_lease.Observe(members, unreachable, TimeSpan.FromMilliseconds(_world.Scheduler.Now)))
        {
            case LeaseVerdict.Fence:
                Log($"no majority for {_lease.Lease.TotalSeconds:0.#} s: fencing {_ports.Count} port(s)");
                foreach (var port in _ports.Values) Fence(port, "no majority for the lease");
                break;
            case LeaseVerdict.MajorityRegained:
                Log("sees a majority again: re-registering before any port comes back");
                _registered = false;
                StartRegistering();
                break;
        }
    }

    /// <summary>What this agent believes it carries (for the end-of-run comparison).</summary>
    public IEnumerable<SimPort> Ports => _ports.Values;
}
