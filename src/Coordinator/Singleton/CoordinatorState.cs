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
    /// <summary>It follows its migrated NIC: the old host detaches it, then the new host (its <see cref="PortRecord.Host"/>) attaches it.</summary>
    Moving,
}

/// <summary>A port on its way from one host to another with its NIC: detached on <paramref name="From"/> before it is attached on the new host.</summary>
public sealed record PortMove(HostId From, IReadOnlyList<DeviceId> Devices);

/// <param name="Home">
/// The host whose configuration the port comes from (or that it followed a NIC to): a port
/// anywhere else takes one of that host's fail-over slots. Null in state written before v2.
/// </param>
public sealed record PortRecord(PortSpec Spec, HostId Host, PortState State, FailoverId? Failover, PortReport? LastReport,
    HostId? Home = null, PortMove? Move = null)
{
    /// <summary>Whether the port sits on a fail-over slot of its host rather than on its own devices.</summary>
    public bool IsForeignOn(HostId host) => Host == host && Home is { } home && home != host;
}

public enum FailoverStatus { Planning, Commanded, Completed, Unplaced, Cancelled }

public sealed record FailoverStep(string What, DateTimeOffset At);

/// <param name="Excluded">Hosts whose command failed (refused, or lost): never tried again for this fail-over.</param>
public sealed record FailoverRecord(FailoverId Id, PortSpec Port, HostId? From, string Reason, FailoverStatus Status,
    HostId? Target, CommandId? Command, long Epoch, IReadOnlyList<FailoverStep> Steps, DateTimeOffset Started, DateTimeOffset? Ended,
    IReadOnlyList<HostId>? Excluded = null, HostId? Preferred = null)
{
    public bool IsOpen => Status is FailoverStatus.Planning or FailoverStatus.Commanded or FailoverStatus.Unplaced;

    /// <summary>Open, with no command in flight: nobody may have attached the port yet.</summary>
    public bool AwaitsPlacement => Status is FailoverStatus.Planning or FailoverStatus.Unplaced;
}

/// <summary>
/// A command the coordinator owes an agent until it answers: resent (with the current epoch) at
/// <paramref name="NextAttemptAt"/>, with backoff. <paramref name="Failover"/> when it is a fail-over's attach.
/// </summary>
public sealed record PendingCommand(CommandId Id, HostId Host, HostCommandKind Kind, PortSpec Port, IReadOnlyList<DeviceId>? Devices,
    FailoverId? Failover, int Attempt, DateTimeOffset NextAttemptAt)
{
    public IHostMessage ToMessage(long epoch, long incarnation) => Kind == HostCommandKind.Attach
        ? new HostProtocol.AttachPort(Id, epoch, Port, Devices, incarnation)
        : new HostProtocol.DetachPort(Id, epoch, Port.Port, incarnation);
}

/// <summary>
/// Which members this coordinator's node sees, and which of them it cannot reach. A lease-based
/// fail-over is safe only on the side of the majority: there the unreachable host is the one that
/// fences itself; on a minority side it is this coordinator that is cut off, and the host it cannot
/// reach may well be forwarding.
/// </summary>
public sealed class ClusterView
{
    private readonly SortedSet<string> _members = new(StringComparer.Ordinal);
    private readonly SortedSet<string> _unreachable = new(StringComparer.Ordinal);
    // Downed, left or removed; until a new incarnation is up at the address.
    private readonly HashSet<string> _gone = new(StringComparer.Ordinal);
    // The incarnation (uid) last seen up at each address, when known.
    private readonly Dictionary<string, long> _uids = new(StringComparer.Ordinal);

    /// <summary>Whether a whole view was given yet (a new instance knows nothing until it is).</summary>
    public bool Known { get; private set; }
    public IReadOnlyCollection<string> Members => _members;
    public IReadOnlyCollection<string> Unreachable => _unreachable;

    public void Reset(IEnumerable<string> members, IEnumerable<string> unreachable)
    {
        _majority = null;
        _members.Clear();
        _members.UnionWith(members);
        _unreachable.Clear();
        _unreachable.UnionWith(unreachable.Where(_members.Contains));
        _gone.ExceptWith(_members);
        Known = true;
    }

    /// <summary>A member that is up (a new incarnation joins at its predecessor's address, reachable).</summary>
    public void Up(string address, long uid = 0)
    {
        _majority = null;
        _members.Add(address);
        _unreachable.Remove(address);
        _gone.Remove(address);
        if (uid != 0) _uids[address] = uid;
    }

    /// <summary>
    /// The member at <paramref name="address"/> went. False, and nothing changes, when it is an older
    /// incarnation than the one seen up there since (its removal can be published after the new one is up).
    /// </summary>
    public bool Gone(string address, long uid = 0)
    {
        if (uid != 0 && _uids.TryGetValue(address, out var current) && current != uid) return false;
        _majority = null;
        _members.Remove(address);
        _unreachable.Remove(address);
        _gone.Add(address);
        return true;
    }

    /// <summary>Downed, left or removed, and no new incarnation up at the address since.</summary>
    public bool IsGone(string address) => _gone.Contains(address);

    public void MarkUnreachable(string address)
    {
        _majority = null;
        _members.Add(address);
        _unreachable.Add(address);
    }

    public void MarkReachable(string address)
    {
        _majority = null;
        _unreachable.Remove(address);
    }

    /// <summary>Keep-majority's rule, the one the agents fence by (<see cref="Agent.Cluster.MembershipLease.HasMajority"/>); cached until the view changes.</summary>
    public bool HasMajority => _majority ??= Known && Agent.Cluster.MembershipLease.HasMajority(Addresses(_members), Addresses(_unreachable));

    private bool? _majority;

    private static List<Akka.Actor.Address> Addresses(IEnumerable<string> addresses) =>
        [.. addresses.Select(a => Akka.Actor.Address.TryParse(a, out var parsed) ? parsed : null).OfType<Akka.Actor.Address>()];
}

/// <summary>
/// The leases this instance granted: until when each host's agent may let its ports forward. Not
/// persisted, like <see cref="ClusterView"/>: a new instance (or one that regains a majority)
/// cannot know what was granted before, so it counts every host as leased for one more
/// <see cref="CoordinatorSettings.Lease"/> from when it opened the book.
/// </summary>
public sealed class LeaseBook(TimeSpan lease)
{
    private readonly Dictionary<HostId, (DateTimeOffset Until, long Incarnation)> _granted = [];
    private DateTimeOffset _openedAt = DateTimeOffset.MinValue;

    public TimeSpan Lease { get; } = lease;

    /// <summary>Grants before this moment are unknown: every lease may run until it plus <see cref="Lease"/>.</summary>
    public void Open(DateTimeOffset now)
    {
        _openedAt = now;
        _granted.Clear();
    }

    public bool IsOpen => _openedAt != DateTimeOffset.MinValue;

    /// <summary>Records a grant answered at <paramref name="now"/>; the agent counts it from its request, earlier.</summary>
    public void Grant(HostId host, long incarnation, DateTimeOffset now) => _granted[host] = (now + Lease, incarnation);

    /// <summary>
    /// Whether <paramref name="incarnation"/> of the host enforces its lease in the kernel, as far as
    /// this instance knows: only an incarnation that asked this instance for a grant saying so.
    /// </summary>
    public bool KernelEnforced(HostId host, long incarnation) => _kernelEnforced.TryGetValue(host, out var i) && i == incarnation;

    public void Enforces(HostId host, long incarnation, bool kernelEnforced)
    {
        if (kernelEnforced) _kernelEnforced[host] = incarnation;
        else _kernelEnforced.Remove(host);
    }

    private readonly Dictionary<HostId, long> _kernelEnforced = [];

    /// <summary>When the host's lease surely ends: its last grant, or the book's opening, plus the lease.</summary>
    public DateTimeOffset EndsFor(HostId host)
    {
        var unknownBefore = _openedAt + Lease;
        return _granted.TryGetValue(host, out var g) && g.Until > unknownBefore ? g.Until : unknownBefore;
    }
}

/// <summary>An escalation that waits for the NIC tracker: the port's NIC may be migrating.</summary>
public sealed record DeferredEscalation(HostId Host, PortId Port, string Reason, DateTimeOffset At);

/// <summary>Everything the coordinator knows, rebuilt from its events: its snapshot form.</summary>
public sealed record CoordinatorSnapshot(long Epoch, IReadOnlyList<HostRecord> Hosts, IReadOnlyList<PortRecord> Ports,
    IReadOnlyList<FailoverRecord> Failovers, NicTrackerSnapshot Nics,
    IReadOnlyList<PendingCommand>? Commands = null, IReadOnlyList<DeferredEscalation>? Deferred = null, string? EpochNode = null,
    OperationsSnapshot? Operations = null);

/// <summary>
/// The coordinator's state. <see cref="Apply"/> is the only change of state: the decider applies
/// each event as it decides it, recovery replays the same events, so a new instance after a
/// hand-over holds exactly what the old one held — deadlines, commands in flight, deferred
/// escalations, excluded targets included.
/// </summary>
public sealed partial class CoordinatorState
{
    /// <summary>Completed and cancelled fail-overs kept for operators; open ones are always kept.</summary>
    public const int FinishedFailoversKept = 500;

    /// <summary>A retry waits at most this many times the retry interval.</summary>
    public const int MaxBackoffFactor = 32;

    private readonly Dictionary<HostId, HostRecord> _hosts = [];
    private readonly Dictionary<PortId, PortRecord> _ports = [];
    private readonly Dictionary<FailoverId, FailoverRecord> _failovers = [];
    private readonly Queue<FailoverId> _finished = new();
    private readonly Dictionary<CommandId, PendingCommand> _commands = [];
    private readonly Dictionary<(HostId, PortId), DeferredEscalation> _deferred = [];
    // The device each NIC was last seen as on each host: a migration is judged after the removal
    // has already taken the NIC out of the old host's inventory.
    private readonly Dictionary<(HostId, NicIdentity), DeviceId> _lastDevice = [];
    private NicTracker _nics;

    public CoordinatorState(CoordinatorSettings settings)
    {
        Settings = settings;
        _nics = new NicTracker(settings.MigrationWindow);
        Leases = new LeaseBook(settings.Lease);
    }

    public CoordinatorState(TimeSpan migrationWindow) : this(CoordinatorSettings.Default with { MigrationWindow = migrationWindow }) { }

    public CoordinatorSettings Settings { get; }
    public long Epoch { get; private set; }
    /// <summary>The node the current epoch started on.</summary>
    public string? EpochNode { get; private set; }
    public IReadOnlyDictionary<HostId, HostRecord> Hosts => _hosts;
    public IReadOnlyDictionary<PortId, PortRecord> Ports => _ports;
    public IReadOnlyDictionary<FailoverId, FailoverRecord> Failovers => _failovers;
    public IReadOnlyDictionary<CommandId, PendingCommand> PendingCommands => _commands;
    public IReadOnlyDictionary<(HostId Host, PortId Port), DeferredEscalation> DeferredEscalations => _deferred;
    public NicTracker Nics => _nics;

    /// <summary>
    /// The cluster as this instance sees it. Not persisted and not changed by events: it is this
    /// node's view, given whole at subscription (<see cref="Deciding.CoordinatorInputs.Membership"/>)
    /// and kept current by membership inputs.
    /// </summary>
    public ClusterView Cluster { get; } = new();

    /// <summary>The tracker's verdict on the last NIC report or notice applied (the decider acts on it; recovery ignores it).</summary>
    public NicVerdict? LastNicVerdict { get; private set; }

    /// <summary>The verdicts of the last <see cref="NicWindowsClosed"/> applied.</summary>
    public IReadOnlyList<NicVerdict> LastExpiredVerdicts { get; private set; } = [];

    public IEnumerable<FailoverRecord> OpenFailovers => _failovers.Values.Where(f => f.IsOpen);

    public DeviceId? LastDeviceOf(HostId host, NicIdentity nic) => _lastDevice.TryGetValue((host, nic), out var d) ? d : null;

    public HostRecord? HostAt(string address) => _hosts.Values.FirstOrDefault(h => h.Address == address);

    /// <summary>The leases this instance granted (not persisted: see <see cref="LeaseBook"/>).</summary>
    public LeaseBook Leases { get; }

    /// <summary>
    /// When an unreachable host's ports may move: its lease has surely run out by then. A host whose
    /// agent enforces its lease in the kernel stops forwarding when the last lease this instance
    /// granted runs out, whatever its process does; any other host fences itself only once it
    /// notices the cut, up to a detection pause after this coordinator did.
    /// </summary>
    public DateTimeOffset LeaseEndsFor(HostRecord host)
    {
        if (!Leases.KernelEnforced(host.Host, host.Incarnation)) return host.Since + Settings.FailOverAfter;
        // The margin covers the agent's and this coordinator's clocks running apart over one lease;
        // an unreachable verdict needs none: once it is in and the lease is over, nothing forwards.
        var ends = Leases.EndsFor(host.Host) + Settings.LeaseMargin;
        return ends > host.Since ? ends : host.Since;
    }

    /// <summary>
    /// The earliest moment something is due without any input: a NIC window, an unreachable host's
    /// lease, a command's next attempt (to a host that is up). The actor ticks then.
    /// </summary>
    public DateTimeOffset? NextDeadline
    {
        get
        {
            DateTimeOffset? next = _nics.NextDeadline;
            foreach (var host in _hosts.Values)
                if (host.Status == HostStatus.Unreachable && Cluster.HasMajority) next = Earlier(next, LeaseEndsFor(host));
            foreach (var command in _commands.Values)
                if (_hosts.GetValueOrDefault(command.Host)?.Status == HostStatus.Up) next = Earlier(next, command.NextAttemptAt);
            if (NextOperationDeadline() is { } operation) next = Earlier(next, operation);
            // Once: a tick at or after the end has judged it (a wait still held for another reason must not tick again at once).
            foreach (var deferred in _deferred.Values)
                if (ReplugGraceEnds(deferred.Host, deferred.Port) is { } graceEnds && graceEnds > LastTick) next = Earlier(next, graceEnds);
            return next;
        }
    }

    private static DateTimeOffset? Earlier(DateTimeOffset? a, DateTimeOffset b) => a is { } x && x <= b ? x : b;

    /// <summary>How long after attempt <paramref name="attempt"/> the next one goes: twice the last wait, capped.</summary>
    public TimeSpan RetryDelay(int attempt) =>
        TimeSpan.FromTicks(Settings.CommandRetryInterval.Ticks * Math.Min(1L << Math.Clamp(attempt - 1, 0, 30), MaxBackoffFactor));

    public void Apply(ICoordinatorEvent e)
    {
        switch (e)
        {
            case EpochStarted s:
                Epoch = s.Epoch;
                EpochNode = s.Node;
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
            case HostForgotten f:
                Forget(f.Host);
                break;
            case CoordinatorEvents.NicAdded a:
                LastNicVerdict = _nics.OnAdded(a.Host, a.Nic.Device, a.Nic.Identity, a.At);
                _lastDevice[(a.Host, a.Nic.Identity)] = a.Nic.Device;
                UpdateInventory(a.Host, inv => inv with { Nics = [.. inv.Nics.Where(n => n.Device != a.Nic.Device), a.Nic] });
                break;
            case CoordinatorEvents.NicRemoved r:
                LastNicVerdict = _nics.OnRemoved(r.Host, r.Device, r.Identity, r.At);
                // Gone from its host: when it returns, it is a new insertion, not a device detached on purpose.
                _unplugged.Remove((r.Host, r.Device));
                _lastDevice[(r.Host, r.Identity)] = r.Device;
                UpdateInventory(r.Host, inv => inv with { Nics = [.. inv.Nics.Where(n => n.Device != r.Device)] });
                break;
            case NicWindowsClosed w:
                LastExpiredVerdicts = _nics.Expire(w.At);
                break;
            case NicFaulted f:
                _nics.Expire(f.At); // journals before NicWindowsClosed: the fault was the record of the expiry
                break;
            case MigrationAnnounced m:
                LastNicVerdict = _nics.Announce(m.Nic, m.From, m.To, m.Phase, m.At);
                break;
            case NicMigrated:
                break; // the tracker already moved it when the add was applied
            case PortReported p:
                ReportPort(p.Host, p.Port);
                if (p.Port.Forwarding) _deferred.Remove((p.Host, p.Port.Port));
                break;
            case PortMoved m when _ports.TryGetValue(m.Port, out var port):
                _deferred.Remove((m.From, m.Port));
                // Journals before v2 sent the attach at once: the port is where it went.
                _ports[m.Port] = m.Devices is null
                    ? port with { Host = m.To, Home = m.To }
                    : port with { Host = m.To, Home = m.To, State = PortState.Moving, Move = new PortMove(m.From, m.Devices) };
                break;
            case EscalationDeferred d:
                _deferred[(d.Host, d.Port)] = new DeferredEscalation(d.Host, d.Port, d.Reason, d.At);
                break;
            case CommandIssued c:
                Issue(new PendingCommand(c.Id, c.Host, c.Kind, c.Port, c.Devices, null, 1, c.At + RetryDelay(1)));
                break;
            case CommandRetried r when _commands.TryGetValue(r.Id, out var command):
                _commands[r.Id] = command with { Attempt = r.Attempt, NextAttemptAt = r.At + RetryDelay(r.Attempt) };
                break;
            case CommandSettled c when _commands.Remove(c.Id, out var settled):
                // A port that followed its NIC is carried once the new host attached it.
                if (c.Outcome == CommandOutcome.Acknowledged && settled.Kind == HostCommandKind.Attach
                    && _ports.TryGetValue(settled.Port.Port, out var moving) && moving.State == PortState.Moving && moving.Host == settled.Host)
                    _ports[settled.Port.Port] = moving with { State = PortState.Active, Move = null };
                break;
            case FailoverStarted s:
                _failovers[s.Id] = new FailoverRecord(s.Id, s.Port, s.From, s.Reason, FailoverStatus.Planning, null, null, Epoch,
                    [new FailoverStep($"started: {s.Reason}", s.At)], s.At, null, Preferred: s.To);
                var existing = _ports.GetValueOrDefault(s.Port.Port);
                _ports[s.Port.Port] = new PortRecord(s.Port, existing?.Host ?? s.From ?? default, PortState.FailingOver, s.Id, existing?.LastReport,
                    existing?.Home ?? s.From);
                if (s.From is { } from) _deferred.Remove((from, s.Port.Port));
                break;
            case FailoverPlaced p when _failovers.TryGetValue(p.Id, out var f):
                _failovers[p.Id] = f with
                {
                    Status = FailoverStatus.Commanded, Target = p.To, Command = p.Command, Epoch = p.Epoch,
                    Steps = [.. f.Steps, new FailoverStep($"placed on {p.To} ({p.Reason}); command {p.Command} epoch {p.Epoch}", p.At)],
                };
                Issue(new PendingCommand(p.Command, p.To, HostCommandKind.Attach, f.Port, null, p.Id, 1, p.At + RetryDelay(1)));
                SetPortState(f.Port.Port, PortState.FailingOver);
                break;
            case FailoverUnplaced u when _failovers.TryGetValue(u.Id, out var f):
                _failovers[u.Id] = f with { Status = FailoverStatus.Unplaced, Target = null, Command = null,
                    Steps = [.. f.Steps, new FailoverStep($"unplaced: {u.Reason}", u.At)] };
                SetPortState(f.Port.Port, PortState.Unplaced);
                break;
            case FailoverCommandFailed c when _failovers.TryGetValue(c.Id, out var f):
                _commands.Remove(c.Command);
                _failovers[c.Id] = f with { Status = FailoverStatus.Planning, Target = null, Command = null,
                    Excluded = [.. f.Excluded ?? [], c.To],
                    Steps = [.. f.Steps, new FailoverStep($"command {c.Command} to {c.To} failed: {c.Reason}", c.At)] };
                SetPortState(f.Port.Port, PortState.FailingOver);
                break;
            case FailoverCompleted c when _failovers.TryGetValue(c.Id, out var f):
                _commands.Remove(c.Command);
                Finish(f with { Status = FailoverStatus.Completed, Ended = c.At,
                    Steps = [.. f.Steps, new FailoverStep($"attached on {c.To}", c.At)] });
                if (_ports.TryGetValue(f.Port.Port, out var moved))
                    _ports[f.Port.Port] = moved with { Host = c.To, State = PortState.Active, Failover = null };
                break;
            case FailoverCancelled c when _failovers.TryGetValue(c.Id, out var f):
                if (f.Command is { } inFlight) _commands.Remove(inFlight);
                Finish(f with { Status = FailoverStatus.Cancelled, Ended = c.At, Steps = [.. f.Steps, new FailoverStep($"cancelled: {c.Reason}", c.At)] });
                if (_ports.TryGetValue(f.Port.Port, out var kept) && kept.Failover == c.Id)
                    _ports[f.Port.Port] = kept with { State = PortState.Active, Failover = null };
                break;
            default:
                ApplyOperationEvent(e);
                break;
        }
    }

    /// <summary>
    /// The candidates for placement. Capacity is a host's fail-over slots; its load is the ports it
    /// carries on them (foreign ports, and those commanded to it), counted from this state, not
    /// from what the host last reported.
    /// </summary>
    public IReadOnlyList<HostCandidate> Candidates()
    {
        var promised = OpenFailovers.Where(f => f.Status == FailoverStatus.Commanded && f.Target is not null)
            .GroupBy(f => f.Target!.Value).ToDictionary(g => g.Key, g => g.Select(f => f.Port).ToList());
        var carried = _ports.Values.Where(p => p.State is PortState.Active or PortState.Moving).GroupBy(p => p.Host)
            .ToDictionary(g => g.Key, g => g.ToList());
        return [.. _hosts.Values.Select(h =>
        {
            var ports = carried.GetValueOrDefault(h.Host) ?? [];
            var here = ports.Select(p => p.Spec).ToList();
            var load = ports.Count(p => p.IsForeignOn(h.Host));
            if (promised.TryGetValue(h.Host, out var more))
            {
                here.AddRange(more);
                load += more.Count;
            }
            return new HostCandidate(h.Host, h.EffectiveStatus, h.Inventory.Capacity, load, h.Inventory.Reserved, here);
        })];
    }

    /// <summary>The ports a host may carry now: a returning host re-activates these and lets the others go (but <see cref="IncomingPorts"/>).</summary>
    public IReadOnlyList<PortId> OwnedPorts(HostId host) =>
        [.. _ports.Values.Where(p => p.Host == host && p.State == PortState.Active).Select(p => p.Spec.Port).OrderBy(p => p.Value, StringComparer.Ordinal)];

    /// <summary>
    /// The ports a host's lease lets forward: those it carries, and those it is told to attach
    /// (an attach is issued only once nothing else can forward the port).
    /// </summary>
    public IReadOnlyList<PortId> LeasedPorts(HostId host) =>
        [.. OwnedPorts(host).Concat(_commands.Values.Where(c => c.Host == host && c.Kind == HostCommandKind.Attach).Select(c => c.Port.Port))
            .Distinct().OrderBy(p => p.Value, StringComparer.Ordinal)];

    /// <summary>
    /// The ports on their way to a host (an attach is owed to it): a registering host keeps them
    /// as they are — neither unfenced (its attach may yet be refused and the port placed elsewhere)
    /// nor dropped (it may be about to apply the attach).
    /// </summary>
    public IReadOnlyList<PortId> IncomingPorts(HostId host) =>
        [.. _commands.Values.Where(c => c.Host == host && c.Kind == HostCommandKind.Attach).Select(c => c.Port.Port)
            .Concat(_ports.Values.Where(p => p.Host == host && p.State == PortState.Moving).Select(p => p.Spec.Port))
            .Distinct().OrderBy(p => p.Value, StringComparer.Ordinal)];

    /// <summary>The ports a lost host carried (or was about to) that are not already being failed over.</summary>
    public IReadOnlyList<PortRecord> PortsToFailOver(HostId host) =>
        [.. _ports.Values.Where(p => p.Host == host && p.State is PortState.Active or PortState.Moving)];

    /// <summary>
    /// Whether a port's escalation should wait: one of its devices on that host has a removal the
    /// NIC tracker still holds (a migration may yet explain it) or an announced migration.
    /// </summary>
    public bool EscalationMayBeMigration(HostId host, PortId port)
    {
        if (!_ports.TryGetValue(port, out var record) || record.LastReport is null) return false;
        return record.LastReport.Members.Any(m => _nics.IsAwaitingVerdict(host, m));
    }

    /// <summary>How many records <see cref="ToSnapshot"/> writes: what a snapshot costs, counted without taking one (<see cref="SnapshotSchedule"/>).</summary>
    public long SnapshotRecords =>
        _hosts.Count + _ports.Count + _failovers.Count + _commands.Count + _deferred.Count + _nics.RecordCount
        + _operations.Count + _unplugged.Count + _decisions.Count;

    public CoordinatorSnapshot ToSnapshot() =>
        new(Epoch, [.. _hosts.Values], [.. _ports.Values], [.. _failovers.Values], _nics.ToSnapshot(),
            [.. _commands.Values], [.. _deferred.Values], EpochNode, SnapshotOperations());

    public void Restore(CoordinatorSnapshot snapshot)
    {
        Epoch = snapshot.Epoch;
        EpochNode = snapshot.EpochNode;
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
        _commands.Clear();
        foreach (var c in snapshot.Commands ?? []) _commands[c.Id] = c;
        // Snapshots before v2 kept no commands: a fail-over in flight still owes its attach.
        if (snapshot.Commands is null)
            foreach (var f in snapshot.Failovers.Where(f => f.Status == FailoverStatus.Commanded && f.Command is not null && f.Target is not null))
                _commands[f.Command!.Value] = new PendingCommand(f.Command.Value, f.Target!.Value, HostCommandKind.Attach, f.Port, null, f.Id, 1,
                    f.Steps[^1].At + RetryDelay(1));
        _deferred.Clear();
        foreach (var d in snapshot.Deferred ?? []) _deferred[(d.Host, d.Port)] = d;
        _nics = NicTracker.FromSnapshot(snapshot.Nics, Settings.MigrationWindow);
        RestoreOperations(snapshot.Operations);
    }

    /// <summary>One command per port and host: a newer one replaces what is still owed (a stale detach must not undo a later attach).</summary>
    private void Issue(PendingCommand command)
    {
        foreach (var stale in _commands.Values.Where(c => c.Host == command.Host && c.Port.Port == command.Port.Port && c.Failover is null).ToList())
            _commands.Remove(stale.Id);
        _commands[command.Id] = command;
    }

    private void ReportPort(HostId host, PortReport report)
    {
        var existing = _ports.GetValueOrDefault(report.Port);
        // A port that moved away (a fail-over, or following its NIC) stays where the coordinator put
        // it; a late report from its old host changes nothing.
        if (existing is not null && existing.Host != host && existing.State is PortState.Active or PortState.Moving) return;
        _ports[report.Port] = existing is null
            ? new PortRecord(report.Spec, host, PortState.Active, null, report, host)
            : existing with { Spec = report.Spec, LastReport = report, Host = existing.State == PortState.Active ? host : existing.Host, Home = existing.Home ?? host };
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
