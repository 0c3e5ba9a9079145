using Replug.Coordinator.Planning;
using Replug.Coordinator.Tracking;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using static Replug.Coordinator.Singleton.CoordinatorEvents;

namespace Replug.Coordinator.Singleton;

public sealed record HostRecord(HostId Host, string Address, long Incarnation, HostStatus Status, bool Drained,
    HostInventory Inventory, DateTimeOffset Since)
{
    /// <summary>What placement sees: a drained host that is up is not a candidate.</summary>
    public HostStatus EffectiveStatus => Status == HostStatus.Up && Drained ? HostStatus.Drained : Status;
}

public enum PortState
{
    /// <summary>Carried by its host.</summary>
    Active,
    /// <summary>Its host reported no healthy device, or was lost: a fail-over runs.</summary>
    FailingOver,
    /// <summary>No host could take it: recorded, retried when capacity appears.</summary>
    Unplaced,
}

public sealed record PortRecord(PortSpec Spec, HostId Host, PortState State, FailoverId? Failover, PortReport? LastReport);

public enum FailoverStatus { Planning, Commanded, Completed, Unplaced, Cancelled }

public sealed record FailoverStep(string What, DateTimeOffset At);

public sealed record FailoverRecord(FailoverId Id, PortSpec Port, HostId? From, string Reason, FailoverStatus Status,
    HostId? Target, CommandId? Command, long Epoch, IReadOnlyList<FailoverStep> Steps, DateTimeOffset Started, DateTimeOffset? Ended)
{
    public bool IsOpen => Status is FailoverStatus.Planning or FailoverStatus.Commanded or FailoverStatus.Unplaced;
}

/// <summary>Everything the coordinator knows, rebuilt from its events: its snapshot form.</summary>
public sealed record CoordinatorSnapshot(long Epoch, IReadOnlyList<HostRecord> Hosts, IReadOnlyList<PortRecord> Ports,
    IReadOnlyList<FailoverRecord> Failovers, NicTrackerSnapshot Nics);

/// <summary>
/// The coordinator's state and its pure decisions. The actor persists an event, then calls
/// <see cref="Apply"/>; recovery replays the same events, so state and decisions never diverge.
/// </summary>
public sealed class CoordinatorState
{
    /// <summary>Completed and cancelled fail-overs kept for operators; open ones are always kept.</summary>
    public const int FinishedFailoversKept = 500;

    private readonly Dictionary<HostId, HostRecord> _hosts = [];
    private readonly Dictionary<PortId, PortRecord> _ports = [];
    private readonly Dictionary<FailoverId, FailoverRecord> _failovers = [];
    private readonly Queue<FailoverId> _finished = new();
    // The device each NIC was last seen as on each host: a migration is judged after the removal
    // has already taken the NIC out of the old host's inventory.
    private readonly Dictionary<(HostId, NicIdentity), DeviceId> _lastDevice = [];
    private NicTracker _nics;
    private readonly TimeSpan _migrationWindow;

    public CoordinatorState(TimeSpan migrationWindow)
    {
        _migrationWindow = migrationWindow;
        _nics = new NicTracker(migrationWindow);
    }

    public long Epoch { get; private set; }
    public IReadOnlyDictionary<HostId, HostRecord> Hosts => _hosts;
    public IReadOnlyDictionary<PortId, PortRecord> Ports => _ports;
    public IReadOnlyDictionary<FailoverId, FailoverRecord> Failovers => _failovers;
    public NicTracker Nics => _nics;

    /// <summary>The tracker's verdict on the last NIC event applied (the actor acts on it; recovery ignores it).</summary>
    public NicVerdict? LastNicVerdict { get; private set; }

    public IEnumerable<FailoverRecord> OpenFailovers => _failovers.Values.Where(f => f.IsOpen);

    public DeviceId? LastDeviceOf(HostId host, NicIdentity nic) => _lastDevice.TryGetValue((host, nic), out var d) ? d : null;

    public HostRecord? HostAt(string address) => _hosts.Values.FirstOrDefault(h => h.Address == address);

    public void Apply(ICoordinatorEvent e)
    {
        switch (e)
        {
            case EpochStarted s:
                Epoch = s.Epoch;
                break;
            case HostRegistered r:
                var previous = _hosts.GetValueOrDefault(r.Host);
                _hosts[r.Host] = new HostRecord(r.Host, r.Address, r.Incarnation, HostStatus.Up, previous?.Drained ?? false, r.Inventory,
                    previous?.Status == HostStatus.Up ? previous.Since : r.At);
                foreach (var port in r.Inventory.Ports) ReportPort(r.Host, port);
                break;
            case HostStatusChanged c when _hosts.TryGetValue(c.Host, out var h):
                _hosts[c.Host] = h with { Status = c.Status, Since = c.At };
                break;
            case HostDrainChanged d when _hosts.TryGetValue(d.Host, out var h):
                _hosts[d.Host] = h with { Drained = d.Drained };
                break;
            case CoordinatorEvents.NicAdded a:
                LastNicVerdict = _nics.OnAdded(a.Host, a.Nic.Device, a.Nic.Identity, a.At);
                _lastDevice[(a.Host, a.Nic.Identity)] = a.Nic.Device;
                UpdateInventory(a.Host, inv => inv with { Nics = [.. inv.Nics.Where(n => n.Device != a.Nic.Device), a.Nic] });
                break;
            case CoordinatorEvents.NicRemoved r:
                LastNicVerdict = _nics.OnRemoved(r.Host, r.Device, r.Identity, r.At);
                _lastDevice[(r.Host, r.Identity)] = r.Device;
                UpdateInventory(r.Host, inv => inv with { Nics = [.. inv.Nics.Where(n => n.Device != r.Device)] });
                break;
            case NicFaulted f:
                _nics.Expire(f.At);
                break;
            case MigrationAnnounced m:
                LastNicVerdict = _nics.Announce(m.Nic, m.From, m.To, m.Phase, m.At);
                break;
            case NicMigrated:
                break; // the tracker already moved it when the add was applied
            case PortReported p:
                ReportPort(p.Host, p.Port);
                break;
            case PortMoved m when _ports.TryGetValue(m.Port, out var port):
                _ports[m.Port] = port with { Host = m.To };
                break;
            case FailoverStarted s:
                _failovers[s.Id] = new FailoverRecord(s.Id, s.Port, s.From, s.Reason, FailoverStatus.Planning, null, null, Epoch,
                    [new FailoverStep($"started: {s.Reason}", s.At)], s.At, null);
                var existing = _ports.GetValueOrDefault(s.Port.Port);
                _ports[s.Port.Port] = new PortRecord(s.Port, existing?.Host ?? s.From ?? default, PortState.FailingOver, s.Id, existing?.LastReport);
                break;
            case FailoverPlaced p when _failovers.TryGetValue(p.Id, out var f):
                _failovers[p.Id] = f with
                {
                    Status = FailoverStatus.Commanded, Target = p.To, Command = p.Command, Epoch = p.Epoch,
                    Steps = [.. f.Steps, new FailoverStep($"placed on {p.To} ({p.Reason}); command {p.Command} epoch {p.Epoch}", p.At)],
                };
                SetPortState(f.Port.Port, PortState.FailingOver);
                break;
            case FailoverUnplaced u when _failovers.TryGetValue(u.Id, out var f):
                _failovers[u.Id] = f with { Status = FailoverStatus.Unplaced, Target = null, Command = null,
                    Steps = [.. f.Steps, new FailoverStep($"unplaced: {u.Reason}", u.At)] };
                SetPortState(f.Port.Port, PortState.Unplaced);
                break;
            case FailoverCommandFailed c when _failovers.TryGetValue(c.Id, out var f):
                _failovers[c.Id] = f with { Status = FailoverStatus.Planning, Target = null, Command = null,
                    Steps = [.. f.Steps, new FailoverStep($"command {c.Command} to {c.To} failed: {c.Reason}", c.At)] };
                break;
            case FailoverCompleted c when _failovers.TryGetValue(c.Id, out var f):
                Finish(f with { Status = FailoverStatus.Completed, Ended = c.At,
                    Steps = [.. f.Steps, new FailoverStep($"attached on {c.To}", c.At)] });
                if (_ports.TryGetValue(f.Port.Port, out var moved))
                    _ports[f.Port.Port] = moved with { Host = c.To, State = PortState.Active, Failover = null };
                break;
            case FailoverCancelled c when _failovers.TryGetValue(c.Id, out var f):
                Finish(f with { Status = FailoverStatus.Cancelled, Ended = c.At, Steps = [.. f.Steps, new FailoverStep($"cancelled: {c.Reason}", c.At)] });
                if (_ports.TryGetValue(f.Port.Port, out var kept) && kept.Failover == c.Id)
                    _ports[f.Port.Port] = kept with { State = PortState.Active, Failover = null };
                break;
        }
    }

    /// <summary>The candidates for placement, with what each host carries now and what open plans already promised it.</summary>
    public IReadOnlyList<HostCandidate> Candidates()
    {
        var promised = OpenFailovers.Where(f => f.Status == FailoverStatus.Commanded && f.Target is not null)
            .GroupBy(f => f.Target!.Value).ToDictionary(g => g.Key, g => g.Select(f => f.Port).ToList());
        return [.. _hosts.Values.Select(h =>
        {
            var here = _ports.Values.Where(p => p.Host == h.Host && p.State == PortState.Active).Select(p => p.Spec).ToList();
            if (promised.TryGetValue(h.Host, out var more)) here.AddRange(more);
            return new HostCandidate(h.Host, h.EffectiveStatus, h.Inventory.Capacity, Math.Max(h.Inventory.Load, here.Count),
                h.Inventory.Reserved, here);
        })];
    }

    /// <summary>The ports a host may carry now: a returning host re-activates these and lets the others go.</summary>
    public IReadOnlyList<PortId> OwnedPorts(HostId host) =>
        [.. _ports.Values.Where(p => p.Host == host && p.State == PortState.Active).Select(p => p.Spec.Port)];

    /// <summary>The ports a lost host carried that are not already being failed over.</summary>
    public IReadOnlyList<PortRecord> PortsToFailOver(HostId host) =>
        [.. _ports.Values.Where(p => p.Host == host && p.State == PortState.Active)];

    /// <summary>
    /// Whether a port's escalation should wait: one of its devices on that host has a removal the
    /// NIC tracker still holds (a migration may yet explain it) or an announced migration.
    /// </summary>
    public bool EscalationMayBeMigration(HostId host, PortId port)
    {
        if (!_ports.TryGetValue(port, out var record) || record.LastReport is null) return false;
        return record.LastReport.Members.Any(m => _nics.IsAwaitingVerdict(host, m));
    }

    public CoordinatorSnapshot ToSnapshot() =>
        new(Epoch, [.. _hosts.Values], [.. _ports.Values], [.. _failovers.Values], _nics.ToSnapshot());

    public void Restore(CoordinatorSnapshot snapshot)
    {
        Epoch = snapshot.Epoch;
        _hosts.Clear();
        foreach (var h in snapshot.Hosts) _hosts[h.Host] = h;
        _ports.Clear();
        foreach (var p in snapshot.Ports) _ports[p.Spec.Port] = p;
        _failovers.Clear();
        _finished.Clear();
        foreach (var f in snapshot.Failovers.OrderBy(f => f.Started))
        {
            _failovers[f.Id] = f;
            if (!f.IsOpen) _finished.Enqueue(f.Id);
        }
        _nics = NicTracker.FromSnapshot(snapshot.Nics, _migrationWindow);
    }

    private void ReportPort(HostId host, PortReport report)
    {
        var existing = _ports.GetValueOrDefault(report.Port);
        // A port that moved away in a fail-over stays where the coordinator put it; a late report
        // from its old host changes nothing.
        if (existing is not null && existing.Host != host && existing.State == PortState.Active) return;
        _ports[report.Port] = existing is null
            ? new PortRecord(report.Spec, host, PortState.Active, null, report)
            : existing with { Spec = report.Spec, LastReport = report, Host = existing.State == PortState.Active ? host : existing.Host };
    }

    private void SetPortState(PortId port, PortState state)
    {
        if (_ports.TryGetValue(port, out var p)) _ports[port] = p with { State = state };
    }

    private void UpdateInventory(HostId host, Func<HostInventory, HostInventory> change)
    {
        if (_hosts.TryGetValue(host, out var h)) _hosts[host] = h with { Inventory = change(h.Inventory) };
    }

    private void Finish(FailoverRecord failover)
    {
        _failovers[failover.Id] = failover;
        _finished.Enqueue(failover.Id);
        while (_finished.Count > FinishedFailoversKept && _finished.TryDequeue(out var oldest)) _failovers.Remove(oldest);
    }
}
