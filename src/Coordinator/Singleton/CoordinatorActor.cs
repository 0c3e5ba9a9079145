using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using Akka.Persistence;
using Replug.Coordinator.Planning;
using Replug.Coordinator.Tracking;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using static Replug.Coordinator.Singleton.CoordinatorEvents;
using static Replug.Shared.Protocol.HostProtocol;

namespace Replug.Coordinator.Singleton;

/// <summary>
/// The cluster's fail-over coordinator: one instance in the cluster (singleton on the
/// "coordinator" role), state event-sourced in SQL. It registers hosts, follows NICs through
/// migrations, and when a host or a port's last healthy NIC is lost, plans where each port goes
/// and commands the chosen agents until they confirm. Every decision is persisted before it is
/// acted on, so a new instance after a hand-over finishes what the old one started.
/// </summary>
public sealed class CoordinatorActor : ReceivePersistentActor, IWithTimers
{
    public const string PersistenceIdValue = "replug-coordinator";

    private sealed record RetryCommand(CommandId Command, int Attempt);
    private sealed record LeaseExpired(HostId Host, DateTimeOffset UnreachableSince);
    private sealed record ExpireNics;
    private sealed record Replan(string Reason);

    /// <summary>A command in flight to an agent: resent until acknowledged or out of attempts.</summary>
    private sealed record PendingCommand(HostId Host, IHostMessage Message, FailoverId? Failover, int Attempt);

    private readonly CoordinatorSettings _settings;
    private readonly CoordinatorState _state;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<CommandId, PendingCommand> _pending = [];
    private readonly Dictionary<(HostId Host, PortId Port), string> _deferredEscalations = [];
    private readonly Dictionary<FailoverId, HashSet<HostId>> _failedTargets = [];
    private readonly Queue<ICoordinatorEvent> _recent = new();
    private bool _recovered;
    // One snapshot in flight at a time: a burst of events must not queue a copy of the whole state per N events.
    private bool _snapshotInFlight;
    private long _lastSnapshotAt;

    public CoordinatorActor(CoordinatorSettings settings)
    {
        _settings = settings;
        _state = new CoordinatorState(settings.MigrationWindow);

        Recover<SnapshotOffer>(offer =>
        {
            if (offer.Snapshot is CoordinatorSnapshot snapshot) _state.Restore(snapshot);
        });
        Recover<ICoordinatorEvent>(e => { _state.Apply(e); Remember(e); });
        Recover<RecoveryCompleted>(_ =>
        {
            _lastSnapshotAt = LastSequenceNr;
            OnRecovered();
        });

        Command<RegisterHost>(OnRegisterHost);
        Command<HostProtocol.NicAdded>(OnNicAdded);
        Command<HostProtocol.NicRemoved>(OnNicRemoved);
        Command<PortChanged>(OnPortChanged);
        Command<PortEscalated>(OnPortEscalated);
        Command<CommandAcknowledged>(OnCommandAcknowledged);
        Command<CommandRefused>(OnCommandRefused);
        Command<RetryCommand>(OnRetryCommand);
        Command<ClusterEvent.UnreachableMember>(m => OnUnreachable(m.Member));
        Command<ClusterEvent.ReachableMember>(m => OnReachable(m.Member));
        Command<ClusterEvent.MemberRemoved>(m => OnMemberGone(m.Member, "removed from the cluster"));
        // A leaving agent takes its ports down when its node is Exiting: they may move at once.
        Command<ClusterEvent.MemberExited>(m => OnMemberGone(m.Member, "left the cluster"));
        Command<ClusterEvent.MemberDowned>(m => OnMemberGone(m.Member, "downed"));
        Command<ClusterEvent.IMemberEvent>(_ => { });
        Command<LeaseExpired>(OnLeaseExpired);
        Command<ExpireNics>(_ => OnExpireNics());
        Command<Replan>(r => PlanOpenFailovers(r.Reason));
        Command<OperatorProtocol.DrainHost>(d => ChangeDrain(d.Host, true));
        Command<OperatorProtocol.UndrainHost>(d => ChangeDrain(d.Host, false));
        Command<OperatorProtocol.MigrationNotice>(OnMigrationNotice);
        Command<CoordinatorQueries.GetHosts>(_ => Sender.Tell(new CoordinatorQueries.HostsView([.. _state.Hosts.Values.OrderBy(h => h.Host.Value)])));
        Command<CoordinatorQueries.GetPorts>(_ => Sender.Tell(new CoordinatorQueries.PortsView([.. _state.Ports.Values.OrderBy(p => p.Spec.Port.Value)])));
        Command<CoordinatorQueries.GetFailovers>(_ => Sender.Tell(new CoordinatorQueries.FailoversView([.. _state.Failovers.Values.OrderByDescending(f => f.Started)])));
        Command<CoordinatorQueries.GetNics>(_ => Sender.Tell(new CoordinatorQueries.NicsView([.. _state.Nics.Locations])));
        Command<CoordinatorQueries.GetRecentEvents>(g => Sender.Tell(new CoordinatorQueries.EventsView(
            [.. _recent.TakeLast(Math.Clamp(g.Max, 1, _settings.RecentEventsKept)).Select(Describe)])));
        Command<CoordinatorQueries.GetReadiness>(_ => Sender.Tell(new CoordinatorQueries.Readiness(_recovered, _state.Epoch, _state.Hosts.Count)));
        Command<SaveSnapshotSuccess>(s =>
        {
            _snapshotInFlight = false;
            DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1));
        });
        Command<SaveSnapshotFailure>(f =>
        {
            _snapshotInFlight = false;
            _log.Warning("Coordinator snapshot failed: {0}", f.Cause.Message);
        });
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(_ => { });
    }

    public override string PersistenceId => PersistenceIdValue;
    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(CoordinatorSettings settings) => Akka.Actor.Props.Create(() => new CoordinatorActor(settings));

    protected override void PostStop()
    {
        Cluster.Get(Context.System).Unsubscribe(Self);
        base.PostStop();
    }

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

    private void OnRecovered()
    {
        // A new epoch per instance: commands from an instance that lost the singleton carry an
        // older epoch and are refused by the agents.
        Record(new EpochStarted(_state.Epoch + 1, Cluster.Get(Context.System).SelfAddress.ToString(), Now), e =>
        {
            _recovered = true;
            _log.Info("Coordinator up on {0}: epoch {1}, {2} hosts, {3} ports, {4} open fail-overs",
                e.Node, e.Epoch, _state.Hosts.Count, _state.Ports.Count, _state.OpenFailovers.Count());
            Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
                typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));
            // Finish what the previous instance started: re-send the commands in flight (with this
            // epoch), place what was not placed.
            foreach (var f in _state.OpenFailovers.Where(f => f.Status == FailoverStatus.Commanded).ToList())
                SendCommand(f.Target!.Value, new AttachPort(f.Command!.Value, _state.Epoch, f.Port), f.Id);
            PlanOpenFailovers("resumed after recovery");
            ScheduleNicExpiry();
        });
    }

    // ---- registration and reports ------------------------------------------------------------

    private void OnRegisterHost(RegisterHost register)
    {
        var known = _state.Hosts.GetValueOrDefault(register.Host);
        if (known is { Status: HostStatus.Up } && known.Incarnation == register.Incarnation && known.Address == register.Address)
        {
            // A retry of a registration already recorded (the agent re-sends until it hears back).
            Sender.Tell(new HostProtocol.HostRegistered(register.Host, _state.Epoch, _state.OwnedPorts(register.Host)));
            return;
        }
        Record(new CoordinatorEvents.HostRegistered(register.Host, register.Address, register.Incarnation, register.Inventory, Now), _ =>
        {
            Sender.Tell(new HostProtocol.HostRegistered(register.Host, _state.Epoch, _state.OwnedPorts(register.Host)));
            _log.Info($"Host {register.Host} registered from {register.Address} (incarnation {register.Incarnation}): " +
                $"{register.Inventory.Nics.Count} NICs, {register.Inventory.Ports.Count} ports, capacity {register.Inventory.Capacity}" +
                (known is null ? "" : $", was {known.Status}"));
            // A host that returns after its ports moved away must let them go.
            foreach (var port in register.Inventory.Ports)
                if (_state.Ports.TryGetValue(port.Port, out var record) && record.Host != register.Host && record.State == PortState.Active)
                    SendCommand(register.Host, new DetachPort(CommandId.New(), _state.Epoch, port.Port), null);
            foreach (var nic in register.Inventory.Nics) OnNicAdded(new HostProtocol.NicAdded(register.Host, nic), reply: false);
            if (_state.OpenFailovers.Any()) PlanOpenFailovers($"host {register.Host} registered");
        });
    }

    private void OnNicAdded(HostProtocol.NicAdded added) => OnNicAdded(added, reply: true);

    private void OnNicAdded(HostProtocol.NicAdded added, bool reply)
    {
        ExpireDueNics();
        var location = _state.Nics.LocationOf(added.Nic.Identity);
        if (location is not null && location.Host == added.Host && location.Device == added.Nic.Device) return; // duplicate
        Record(new CoordinatorEvents.NicAdded(added.Host, added.Nic, Now), _ => ActOn(_state.LastNicVerdict));
    }

    private void OnNicRemoved(HostProtocol.NicRemoved removed)
    {
        ExpireDueNics();
        Record(new CoordinatorEvents.NicRemoved(removed.Host, removed.Device, removed.Identity, Now), _ =>
        {
            ActOn(_state.LastNicVerdict);
            ScheduleNicExpiry();
        });
    }

    private void OnPortChanged(PortChanged changed) => Record(new PortReported(changed.Host, changed.Port, Now), _ =>
    {
        // A port that recovered where it was needs no fail-over any more.
        if (!changed.Port.Escalated && changed.Port.Active is not null)
        {
            _deferredEscalations.Remove((changed.Host, changed.Port.Port));
            if (_state.Ports.TryGetValue(changed.Port.Port, out var port) && port.Failover is { } id
                && _state.Failovers.TryGetValue(id, out var f) && f.From == changed.Host && f.Status is FailoverStatus.Planning or FailoverStatus.Unplaced)
                Record(new FailoverCancelled(id, $"recovered on {changed.Host}", Now), _ => { });
        }
    });

    private void OnPortEscalated(PortEscalated escalated)
    {
        if (_state.Ports.TryGetValue(escalated.Port, out var port) && port.State != PortState.Active) return; // already moving
        if (port is not null && port.Host != escalated.Host) return; // a stale report from a host the port left
        if (_state.EscalationMayBeMigration(escalated.Host, escalated.Port))
        {
            // Its NIC may be on its way to another host: wait for the tracker's verdict.
            _deferredEscalations[(escalated.Host, escalated.Port)] = escalated.Reason;
            _log.Info("Port {0} on {1} escalated ({2}); waiting: its NIC may be migrating", escalated.Port, escalated.Host, escalated.Reason);
            return;
        }
        var spec = port?.Spec ?? new PortSpec(escalated.Port);
        StartFailovers([(spec, escalated.Host)], $"{escalated.Host}: {escalated.Reason}");
    }

    private void ActOn(NicVerdict? verdict)
    {
        switch (verdict)
        {
            case NicVerdict.Migrated m:
                Record(new NicMigrated(m.Nic, m.From, m.To, m.NewDevice, m.Announced, Now), _ =>
                {
                    _log.Info("NIC {0} migrated {1} -> {2} ({3}){4}", m.Nic, m.From, m.To, m.NewDevice, m.Announced ? " as announced" : "");
                    FollowMigration(m.From, m.To, m.Nic, m.NewDevice);
                });
                break;
            case NicVerdict.Faulted f:
                Record(new NicFaulted(f.Nic, f.Host, f.Device, f.Reason, Now), _ =>
                {
                    _log.Warning("NIC {0} ({1} on {2}) was not seen again within {3}: fault", f.Nic, f.Device, f.Host, _settings.MigrationWindow);
                    ReleaseDeferredEscalations(f.Host, "its NIC did not reappear elsewhere");
                });
                break;
        }
    }

    /// <summary>The ports that used a migrated NIC follow it: their location moves and the new host attaches them; no fail-over.</summary>
    private void FollowMigration(HostId from, HostId to, NicIdentity nic, DeviceId newDevice)
    {
        var device = _state.LastDeviceOf(from, nic);
        foreach (var port in _state.Ports.Values.Where(p => p.Host == from && p.LastReport is not null).ToList())
        {
            var usesNic = port.LastReport!.Members.Any(m => m == device) || _deferredEscalations.ContainsKey((from, port.Spec.Port));
            if (!usesNic) continue;
            _deferredEscalations.Remove((from, port.Spec.Port));
            Record(new PortMoved(port.Spec.Port, from, to, $"followed NIC {nic}", Now),
                _ =>
                {
                    _log.Info("Port {0} follows NIC {1} from {2} to {3} (no fail-over)", port.Spec.Port, nic, from, to);
                    SendCommand(to, new AttachPort(CommandId.New(), _state.Epoch, port.Spec, [newDevice]), null);
                    SendCommand(from, new DetachPort(CommandId.New(), _state.Epoch, port.Spec.Port), null);
                });
        }
    }

    private void ReleaseDeferredEscalations(HostId host, string why)
    {
        var ports = _deferredEscalations.Where(d => d.Key.Host == host && !_state.EscalationMayBeMigration(host, d.Key.Port)).ToList();
        foreach (var (key, _) in ports) _deferredEscalations.Remove(key);
        var toMove = ports.Select(p => (_state.Ports.TryGetValue(p.Key.Port, out var r) ? r.Spec : new PortSpec(p.Key.Port), (HostId?)host)).ToList();
        if (toMove.Count > 0) StartFailovers(toMove, $"{host}: {string.Join("; ", ports.Select(p => p.Value))} ({why})");
    }

    private void OnExpireNics()
    {
        ExpireDueNics();
        ScheduleNicExpiry();
    }

    /// <summary>Removals whose window ended become faults before any newer report is judged (the tracker's rule).</summary>
    private void ExpireDueNics()
    {
        foreach (var verdict in _state.Nics.Expire(Now)) ActOn(verdict);
    }

    private void ScheduleNicExpiry()
    {
        if (_state.Nics.NextDeadline is not { } deadline) return;
        var delay = deadline - Now;
        Timers.StartSingleTimer("nic-expiry", new ExpireNics(), delay > TimeSpan.Zero ? delay + TimeSpan.FromMilliseconds(1) : TimeSpan.Zero);
    }

    private void OnMigrationNotice(OperatorProtocol.MigrationNotice notice)
    {
        var sender = Sender;
        Record(new MigrationAnnounced(notice.Nic, notice.From, notice.To, notice.Phase, Now), _ =>
        {
            sender.Tell(new OperatorProtocol.OperatorAck(true));
            ActOn(_state.LastNicVerdict);
            ScheduleNicExpiry();
        });
    }

    private void ChangeDrain(HostId host, bool drained)
    {
        var sender = Sender;
        if (!_state.Hosts.ContainsKey(host))
        {
            sender.Tell(new OperatorProtocol.OperatorAck(false, $"unknown host {host}"));
            return;
        }
        Record(new HostDrainChanged(host, drained, Now), _ =>
        {
            sender.Tell(new OperatorProtocol.OperatorAck(true));
            _log.Info("Host {0} {1} by an operator", host, drained ? "drained" : "undrained");
            if (!drained) PlanOpenFailovers($"host {host} undrained");
        });
    }

    // ---- membership and fencing --------------------------------------------------------------

    private void OnUnreachable(Member member)
    {
        if (_state.HostAt(member.Address.ToString()) is not { Status: HostStatus.Up } host) return;
        var since = Now;
        Record(new HostStatusChanged(host.Host, HostStatus.Unreachable, $"{member.Address} unreachable", since), _ =>
        {
            // Its agent fences itself after the lease (it no longer sees a majority); moving its ports
            // any earlier could make them active on two hosts at once.
            _log.Warning("Host {0} unreachable; its ports move in {1} unless it returns", host.Host, _settings.FailOverAfter);
            Timers.StartSingleTimer(("lease", host.Host), new LeaseExpired(host.Host, since), _settings.FailOverAfter);
        });
    }

    private void OnReachable(Member member)
    {
        if (_state.HostAt(member.Address.ToString()) is not { Status: HostStatus.Unreachable } host) return;
        Timers.Cancel(("lease", host.Host));
        Record(new HostStatusChanged(host.Host, HostStatus.Up, $"{member.Address} reachable again", Now), _ => { });
    }

    private void OnLeaseExpired(LeaseExpired expired)
    {
        if (_state.Hosts.GetValueOrDefault(expired.Host) is not { Status: HostStatus.Unreachable } host || host.Since != expired.UnreachableSince) return;
        HostLost(host, $"unreachable for {_settings.FailOverAfter} (lease {_settings.Lease} + margin {_settings.LeaseMargin})");
    }

    private void OnMemberGone(Member member, string how)
    {
        if (_state.HostAt(member.Address.ToString()) is not { } host || host.Status == HostStatus.Down) return;
        Timers.Cancel(("lease", host.Host));
        HostLost(host, $"{member.Address} {how}");
    }

    private void HostLost(HostRecord host, string reason) =>
        Record(new HostStatusChanged(host.Host, HostStatus.Down, reason, Now), _ =>
        {
            var ports = _state.PortsToFailOver(host.Host);
            _log.Warning("Host {0} lost ({1}): failing over {2} port(s)", host.Host, reason, ports.Count);
            foreach (var key in _deferredEscalations.Keys.Where(k => k.Host == host.Host).ToList()) _deferredEscalations.Remove(key);
            StartFailovers([.. ports.Select(p => (p.Spec, (HostId?)host.Host))], $"host {host.Host} lost: {reason}");
        });

    // ---- fail-over ---------------------------------------------------------------------------

    private void StartFailovers(IReadOnlyList<(PortSpec Spec, HostId? From)> ports, string reason)
    {
        if (ports.Count == 0) return;
        var events = ports.Select(p => (ICoordinatorEvent)new FailoverStarted(FailoverId.New(), p.Spec, p.From, reason, Now)).ToList();
        RecordAll(events, () => PlanOpenFailovers(reason));
    }

    private void PlanOpenFailovers(string why)
    {
        var open = _state.OpenFailovers.Where(f => f.Status is FailoverStatus.Planning or FailoverStatus.Unplaced).ToList();
        if (open.Count == 0) return;
        var candidates = _state.Candidates();
        var events = new List<ICoordinatorEvent>();
        var commands = new List<(HostId Host, AttachPort Command, FailoverId Failover)>();
        // One plan per group of fail-overs that excluded the same hosts; usually a single group.
        foreach (var group in open.GroupBy(f => string.Join(",", _failedTargets.GetValueOrDefault(f.Id)?.Order() ?? Enumerable.Empty<HostId>())))
        {
            var excluded = _failedTargets.GetValueOrDefault(group.First().Id) ?? [];
            var hosts = candidates.Select(c => excluded.Contains(c.Host) ? c with { Status = HostStatus.Unreachable } : c).ToList();
            var plan = FailoverPlanner.Plan([.. group.Select(f => new PortToPlace(f.Port, f.From))], hosts, new PlannerPolicy(_settings.ReservedHosts));
            var byPort = group.ToDictionary(f => f.Port.Port);
            foreach (var placement in plan.Placements)
            {
                var f = byPort[placement.Port];
                var command = new AttachPort(CommandId.New(), _state.Epoch, f.Port);
                events.Add(new FailoverPlaced(f.Id, placement.Host, command.Id, _state.Epoch, placement.Reason, Now));
                commands.Add((placement.Host, command, f.Id));
            }
            foreach (var unplaced in plan.Unplaced)
            {
                var f = byPort[unplaced.Port];
                if (f.Status == FailoverStatus.Unplaced && f.Steps[^1].What.EndsWith(unplaced.Reason, StringComparison.Ordinal)) continue;
                events.Add(new FailoverUnplaced(f.Id, unplaced.Reason, Now));
            }
        }
        RecordAll(events, () =>
        {
            foreach (var e in events.OfType<FailoverUnplaced>())
                _log.Error("Fail-over {0} of port {1}: no host can take it ({2}); retried when capacity appears",
                    e.Id, _state.Failovers[e.Id].Port.Port, e.Reason);
            foreach (var (host, command, failover) in commands)
            {
                _log.Info("Fail-over {0}: port {1} -> {2} (command {3}, epoch {4}; {5})", failover, command.Port.Port, host,
                    command.Id, command.Epoch, why);
                SendCommand(host, command, failover);
            }
        });
    }

    private void SendCommand(HostId host, IHostMessage command, FailoverId? failover)
    {
        var id = command switch { AttachPort a => a.Id, DetachPort d => d.Id, _ => throw new ArgumentException(command.GetType().Name) };
        _pending[id] = new PendingCommand(host, command, failover, 1);
        Deliver(host, command);
        Timers.StartSingleTimer(("command", id), new RetryCommand(id, 1), _settings.CommandRetryInterval);
    }

    private void Deliver(HostId host, IHostMessage command)
    {
        if (_state.Hosts.GetValueOrDefault(host) is { } record)
            Context.ActorSelection(ActorNames.HostAgentAt(record.Address)).Tell(command, Self);
    }

    private void OnRetryCommand(RetryCommand retry)
    {
        if (!_pending.TryGetValue(retry.Command, out var pending) || pending.Attempt != retry.Attempt) return;
        if (retry.Attempt < _settings.CommandAttempts && _state.Hosts.GetValueOrDefault(pending.Host)?.Status == HostStatus.Up)
        {
            _pending[retry.Command] = pending with { Attempt = retry.Attempt + 1 };
            Deliver(pending.Host, pending.Message);
            // Backoff: each wait twice the last, from the retry interval.
            var delay = TimeSpan.FromTicks(_settings.CommandRetryInterval.Ticks * (1L << Math.Min(retry.Attempt, 5)));
            Timers.StartSingleTimer(("command", retry.Command), new RetryCommand(retry.Command, retry.Attempt + 1), delay);
            return;
        }
        _pending.Remove(retry.Command);
        CommandFailed(retry.Command, pending, $"no answer after {retry.Attempt} attempt(s)");
    }

    private void CommandFailed(CommandId id, PendingCommand pending, string reason)
    {
        _log.Warning("Command {0} to {1} failed: {2}", id, pending.Host, reason);
        if (pending.Failover is not { } failover || !_state.Failovers.TryGetValue(failover, out var f) || f.Command != id) return;
        (_failedTargets.TryGetValue(failover, out var tried) ? tried : _failedTargets[failover] = []).Add(pending.Host);
        Record(new FailoverCommandFailed(failover, pending.Host, id, reason, Now), _ => PlanOpenFailovers($"command to {pending.Host} failed"));
    }

    private void OnCommandAcknowledged(CommandAcknowledged ack)
    {
        Timers.Cancel(("command", ack.Id));
        if (!_pending.Remove(ack.Id, out var pending) || pending.Failover is not { } failover) return;
        if (!_state.Failovers.TryGetValue(failover, out var f) || f.Command != ack.Id || f.Status != FailoverStatus.Commanded) return;
        Record(new FailoverCompleted(failover, ack.Host, ack.Id, Now), _ =>
        {
            _failedTargets.Remove(failover);
            _log.Info("Fail-over {0} done: port {1} attached on {2} in {3:0} ms", failover, f.Port.Port, ack.Host, (Now - f.Started).TotalMilliseconds);
        });
    }

    private void OnCommandRefused(CommandRefused refused)
    {
        Timers.Cancel(("command", refused.Id));
        if (refused.NewestEpoch > _state.Epoch)
            _log.Error("Host {0} has seen epoch {1}, newer than this coordinator's {2}: another instance is in charge", refused.Host, refused.NewestEpoch, _state.Epoch);
        if (_pending.Remove(refused.Id, out var pending)) CommandFailed(refused.Id, pending, $"refused: {refused.Reason}");
    }

    // ---- persistence -------------------------------------------------------------------------

    private static DateTimeOffset Now => DateTimeOffset.UtcNow;

    private void Record<T>(T e, Action<T> then) where T : ICoordinatorEvent => Persist(e, persisted =>
    {
        _state.Apply(persisted);
        Remember(persisted);
        MaybeSnapshot();
        then(persisted);
    });

    private void RecordAll(IReadOnlyList<ICoordinatorEvent> events, Action then)
    {
        if (events.Count == 0)
        {
            then();
            return;
        }
        var left = events.Count;
        PersistAll(events, persisted =>
        {
            _state.Apply(persisted);
            Remember(persisted);
            MaybeSnapshot();
            if (--left == 0) then();
        });
    }

    /// <summary>An event as an operator reads it: its kind and its fields, without the type machinery.</summary>
    private static CoordinatorQueries.EventRecord Describe(ICoordinatorEvent e)
    {
        var text = e.ToString() ?? "";
        var open = text.IndexOf('{');
        var summary = open < 0 ? text : text[(open + 1)..].TrimEnd('}', ' ').Trim();
        return new CoordinatorQueries.EventRecord(e.GetType().Name, e.At, summary);
    }

    private void Remember(ICoordinatorEvent e)
    {
        _recent.Enqueue(e);
        while (_recent.Count > _settings.RecentEventsKept) _recent.Dequeue();
    }

    private void MaybeSnapshot()
    {
        if (_snapshotInFlight || LastSequenceNr - _lastSnapshotAt < _settings.SnapshotEvery) return;
        _snapshotInFlight = true;
        _lastSnapshotAt = LastSequenceNr;
        SaveSnapshot(_state.ToSnapshot());
    }
}
