using Replug.Coordinator.Planning;
using Replug.Coordinator.Policies;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using static Replug.Coordinator.Singleton.CoordinatorEvents;

namespace Replug.Coordinator.Singleton;

public enum OperationStatus { Pending, Done, Refused, HostLost }

/// <summary>
/// A planned detach, attach or port switch on one host, from its start to the agent's answer.
/// Owed until answered, like a port's command: resent with backoff at <paramref name="NextAttemptAt"/>.
/// </summary>
/// <param name="Steps">What happened to it, in order (as a fail-over's steps): started, sent again, answered.</param>
public sealed record DeviceOperation(CommandId Id, HostId Host, DeviceOperationKind Kind, DeviceId Device, PortId? Port, string By,
    string Reason, OperationStatus Status, int Attempt, DateTimeOffset NextAttemptAt, DateTimeOffset Started,
    DateTimeOffset? Ended = null, string? Outcome = null, IReadOnlyList<FailoverStep>? Steps = null)
{
    public const string Operator = "operator";
    private const string PolicyPrefix = "policy:";
    public static string Policy(string name) => PolicyPrefix + name;
    /// <summary>Whether <paramref name="by"/> (an operation's or an unplugged device's) names a policy, as <see cref="Policy"/> writes it.</summary>
    public static bool IsPolicy(string by) => by.StartsWith(PolicyPrefix, StringComparison.Ordinal);

    public bool IsOpen => Status == OperationStatus.Pending;
    public bool ByPolicy => IsPolicy(By);

    public IHostMessage ToMessage(long epoch, long incarnation) => Kind switch
    {
        DeviceOperationKind.Detach => new HostProtocol.DetachDevice(Id, epoch, Device, Reason, incarnation),
        DeviceOperationKind.Attach => new HostProtocol.AttachDevice(Id, epoch, Device, Reason, incarnation),
        _ => new HostProtocol.SwitchPortDevice(Id, epoch, Port ?? throw new InvalidOperationException($"operation {Id}: a switch names its port"),
            Device, incarnation),
    };

    public string Describe() => Kind == DeviceOperationKind.SwitchPort
        ? $"switch port {Port} on {Host} to {Device}"
        : $"{Kind.ToString().ToLowerInvariant()} {Device} on {Host}";
}

/// <summary>A device taken out of service on purpose (an operator's or a policy's detach that completed), until it is attached again.</summary>
public sealed record UnpluggedDevice(HostId Host, DeviceId Device, string By, DateTimeOffset At)
{
    /// <summary>A policy may plug it back (its reserve, demand, a fault); an operator's detach stays until an operator attaches it.</summary>
    public bool ByPolicy => DeviceOperation.IsPolicy(By);
}

/// <summary>One policy verdict as recorded (<see cref="PolicyDecided"/>), numbered in the order decided.</summary>
public sealed record PolicyDecisionRecord(long Number, string Policy, PolicyMode Mode, PolicyAction Action, string Reason,
    IReadOnlyDictionary<string, double> Inputs, CommandId? Operation, FailoverId? Failover, DateTimeOffset At);

/// <summary>
/// The NICs' loads as the agents last reported them. Not persisted and not changed by events:
/// measurements, not decisions — a new instance hears them again within an agent's heartbeat.
/// </summary>
public sealed class LoadBook
{
    private readonly Dictionary<HostId, (long Incarnation, IReadOnlyList<NicLoadSample> Nics, DateTimeOffset At)> _reports = [];

    public void Record(HostId host, long incarnation, IReadOnlyList<NicLoadSample> nics, DateTimeOffset at) => _reports[host] = (incarnation, nics, at);

    /// <summary>The host's last report, if it came from the incarnation registered now.</summary>
    public NicLoadSample? Of(HostId host, long incarnation, DeviceId device) =>
        _reports.TryGetValue(host, out var r) && r.Incarnation == incarnation ? r.Nics.FirstOrDefault(n => n.Device == device) : null;

    public DateTimeOffset? ReportedAt(HostId host) => _reports.TryGetValue(host, out var r) ? r.At : null;
}

public sealed partial class CoordinatorState
{
    /// <summary>Finished device operations and policy decisions kept for operators; open operations are always kept.</summary>
    public const int FinishedOperationsKept = 500;
    public const int DecisionsKept = 1000;

    private readonly Dictionary<CommandId, DeviceOperation> _operations = [];
    private readonly Queue<CommandId> _finishedOperations = new();
    private readonly Dictionary<(HostId, DeviceId), UnpluggedDevice> _unplugged = [];
    private readonly Queue<PolicyDecisionRecord> _decisions = new();
    private readonly Dictionary<PortId, DateTimeOffset> _lastPolicyMove = [];
    private readonly HashSet<HostId> _standby = [];
    private PolicySettings? _configuredPolicies;

    /// <summary>The settings the coordinator was started with (configuration), until an operator's change is journaled.</summary>
    public PolicySettings Policies => _configuredPolicies ?? Settings.Policies ?? PolicySettings.Default;

    /// <summary>Whether <see cref="Policies"/> came from an operator's change (journaled) rather than the configuration.</summary>
    public bool PoliciesChangedAtRunTime => _configuredPolicies is not null;

    public IReadOnlyDictionary<CommandId, DeviceOperation> Operations => _operations;
    public IEnumerable<DeviceOperation> OpenOperations => _operations.Values.Where(o => o.IsOpen);
    public IReadOnlyDictionary<(HostId Host, DeviceId Device), UnpluggedDevice> Unplugged => _unplugged;
    public IReadOnlyCollection<PolicyDecisionRecord> Decisions => _decisions;
    public long DecisionsMade { get; private set; }
    public IReadOnlyCollection<HostId> Standby => _standby;
    public DateTimeOffset? LastPolicyMove(PortId port) => _lastPolicyMove.TryGetValue(port, out var at) ? at : null;

    /// <summary>When the decider last handled a tick (this instance's; see <see cref="NextDeadline"/>).</summary>
    public DateTimeOffset LastTick { get; set; } = DateTimeOffset.MinValue;

    /// <summary>The agents' load reports (not persisted: see <see cref="LoadBook"/>).</summary>
    public LoadBook Loads { get; } = new();

    /// <summary>Power saving's memory of how long each NIC has been idle and each host busy: this instance's, like the loads it is made of.</summary>
    public PowerSavingMemory PowerMemory { get; set; } = PowerSavingMemory.Empty;

    /// <summary>
    /// Removes <paramref name="host"/> and what belongs to it only (the decider checked that it is
    /// Down and no port is left on it): its record, the NICs it last had, commands still owed to it,
    /// its unplugged devices and standby mark. Ports that called it home now call home where they are.
    /// </summary>
    private void Forget(HostId host)
    {
        _hosts.Remove(host);
        _nics.ForgetHost(host);
        foreach (var key in _lastDevice.Keys.Where(k => k.Item1 == host).ToList()) _lastDevice.Remove(key);
        foreach (var command in _commands.Values.Where(c => c.Host == host).ToList()) _commands.Remove(command.Id);
        foreach (var key in _unplugged.Keys.Where(k => k.Item1 == host).ToList()) _unplugged.Remove(key);
        foreach (var key in _deferred.Keys.Where(k => k.Item1 == host).ToList()) _deferred.Remove(key);
        _standby.Remove(host);
        foreach (var port in _ports.Values.Where(p => p.Home == host && p.Host != host).ToList())
            _ports[port.Spec.Port] = port with { Home = port.Host };
    }

    /// <summary>The open operation on a device of a host, if any: one at a time per device.</summary>
    public DeviceOperation? OpenOperationOn(HostId host, DeviceId device) =>
        _operations.Values.FirstOrDefault(o => o.IsOpen && o.Host == host && o.Device == device && o.Kind != DeviceOperationKind.SwitchPort);

    /// <summary>
    /// Whether a port's traffic may rely on the device now, as far as the coordinator can tell: on
    /// its host, not detached (or being detached). Not its link state: an agent reports that only
    /// when a NIC appears, so it goes stale; the agent, which asks its ports at the moment of a
    /// detach, refuses one that would strand a port.
    /// </summary>
    public bool InService(HostId host, DeviceId device)
    {
        var open = OpenOperationOn(host, device);
        if (open?.Kind == DeviceOperationKind.Detach) return false;
        if (_unplugged.ContainsKey((host, device)) && open?.Kind != DeviceOperationKind.Attach) return false;
        return _hosts.GetValueOrDefault(host)?.Inventory.Nics.Any(n => n.Device == device) ?? false;
    }

    /// <summary>
    /// How long a port that escalated waits after an unplugged member of it was plugged back on its
    /// host: the port takes the device as soon as the agent offers it, and its report follows.
    /// </summary>
    public static readonly TimeSpan ReplugGrace = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Whether a port's escalation on <paramref name="host"/> waits for a member being plugged back
    /// there (a fault wins over power saving: the NIC it needs comes back before any fail-over).
    /// </summary>
    public bool AwaitsReplug(HostId host, PortId port, DateTimeOffset now) =>
        ReplugsFor(host, port).Any(op => op.IsOpen || (op.Status == OperationStatus.Done && op.Ended + ReplugGrace > now));

    /// <summary>When the wait of <see cref="AwaitsReplug"/> ends once the attach is done (null: no finished attach to wait on).</summary>
    public DateTimeOffset? ReplugGraceEnds(HostId host, PortId port) =>
        ReplugsFor(host, port).Where(op => op.Status == OperationStatus.Done && op.Ended is not null)
            .Select(op => (DateTimeOffset?)(op.Ended!.Value + ReplugGrace)).Max();

    private IEnumerable<DeviceOperation> ReplugsFor(HostId host, PortId port) =>
        _ports.TryGetValue(port, out var record) && record.LastReport is { } report
            ? _operations.Values.Where(o => o.Host == host && o.Kind == DeviceOperationKind.Attach && report.Members.Contains(o.Device))
            : [];

    private bool ApplyOperationEvent(ICoordinatorEvent e)
    {
        switch (e)
        {
            case DeviceOperationStarted s:
                KeepOperation(new DeviceOperation(s.Id, s.Host, s.Kind, s.Device, s.Port, s.By, s.Reason, OperationStatus.Pending, 1,
                    s.At + RetryDelay(1), s.At, Steps: [new FailoverStep($"started by {s.By}: {s.Reason}; sent to {s.Host}", s.At)]));
                return true;
            case CommandRetried r when _operations.TryGetValue(r.Id, out var op) && op.IsOpen:
                _operations[r.Id] = op with
                {
                    Attempt = r.Attempt, NextAttemptAt = r.At + RetryDelay(r.Attempt),
                    Steps = [.. op.Steps ?? [], new FailoverStep($"no answer yet: sent again (attempt {r.Attempt})", r.At)],
                };
                return true;
            case CommandSettled c when _operations.TryGetValue(c.Id, out var op) && op.IsOpen:
                var status = c.Outcome switch
                {
                    CommandOutcome.Acknowledged => OperationStatus.Done,
                    CommandOutcome.HostLost => OperationStatus.HostLost,
                    _ => OperationStatus.Refused,
                };
                KeepOperation(op with
                {
                    Status = status, Ended = c.At, Outcome = c.Reason,
                    Steps = [.. op.Steps ?? [], new FailoverStep($"{(status == OperationStatus.HostLost ? "host lost" : status.ToString().ToLowerInvariant())}: {c.Reason}", c.At)],
                });
                if (status == OperationStatus.Done && op.Kind == DeviceOperationKind.Detach)
                    _unplugged[(op.Host, op.Device)] = new UnpluggedDevice(op.Host, op.Device, op.By, c.At);
                else if (status == OperationStatus.Done && op.Kind == DeviceOperationKind.Attach)
                    _unplugged.Remove((op.Host, op.Device));
                return true;
            case PoliciesConfigured p:
                _configuredPolicies = p.Settings;
                return true;
            case PolicyDecided d:
                DecisionsMade++;
                _decisions.Enqueue(new PolicyDecisionRecord(DecisionsMade, d.Policy, d.Mode, d.Action, d.Reason, d.Inputs, d.Operation, d.Failover, d.At));
                while (_decisions.Count > DecisionsKept) _decisions.Dequeue();
                if (d.Mode != PolicyMode.Auto) return true;
                switch (d.Action)
                {
                    case PolicyAction.MovePort m: _lastPolicyMove[m.Port] = d.At; break;
                    case PolicyAction.SwitchActive s: _lastPolicyMove[s.Port] = d.At; break;
                    case PolicyAction.StandbyHost s: _standby.Add(s.Host); break;
                    case PolicyAction.WakeHost w: _standby.Remove(w.Host); break;
                }
                return true;
            default:
                return false;
        }
    }

    private void KeepOperation(DeviceOperation operation)
    {
        _operations[operation.Id] = operation;
        if (operation.IsOpen) return;
        _finishedOperations.Enqueue(operation.Id);
        while (_finishedOperations.Count > FinishedOperationsKept && _finishedOperations.TryDequeue(out var oldest)) _operations.Remove(oldest);
    }

    private DateTimeOffset? NextOperationDeadline()
    {
        DateTimeOffset? next = null;
        foreach (var op in _operations.Values.Where(o => o.IsOpen))
            if (_hosts.GetValueOrDefault(op.Host)?.Status == HostStatus.Up) next = next is { } n && n <= op.NextAttemptAt ? n : op.NextAttemptAt;
        return next;
    }

    private OperationsSnapshot SnapshotOperations() => new([.. _operations.Values], [.. _unplugged.Values], _configuredPolicies, [.. _decisions],
        DecisionsMade, [.. _standby], [.. _lastPolicyMove.Select(m => new PolicyMove(m.Key, m.Value))]);

    private void RestoreOperations(OperationsSnapshot? snapshot)
    {
        _operations.Clear();
        _finishedOperations.Clear();
        _unplugged.Clear();
        _decisions.Clear();
        _standby.Clear();
        _lastPolicyMove.Clear();
        _configuredPolicies = snapshot?.Policies;
        DecisionsMade = snapshot?.DecisionsMade ?? 0;
        if (snapshot is null) return;
        foreach (var op in snapshot.Operations.OrderBy(o => o.Started)) KeepOperation(op);
        foreach (var u in snapshot.Unplugged) _unplugged[(u.Host, u.Device)] = u;
        foreach (var d in snapshot.Decisions) _decisions.Enqueue(d);
        _standby.UnionWith(snapshot.Standby);
        foreach (var m in snapshot.PolicyMoves) _lastPolicyMove[m.Port] = m.At;
    }
}

public sealed record PolicyMove(PortId Port, DateTimeOffset At);

/// <summary>The part of the snapshot that planned hot plug and the policies add (v3).</summary>
public sealed record OperationsSnapshot(IReadOnlyList<DeviceOperation> Operations, IReadOnlyList<UnpluggedDevice> Unplugged, PolicySettings? Policies,
    IReadOnlyList<PolicyDecisionRecord> Decisions, long DecisionsMade, IReadOnlyList<HostId> Standby, IReadOnlyList<PolicyMove> PolicyMoves);
