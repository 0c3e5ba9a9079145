using Replug.Coordinator.Planning;
using Replug.Coordinator.Singleton;
using Replug.Coordinator.Tracking;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using static Replug.Coordinator.Deciding.CoordinatorInputs;
using static Replug.Coordinator.Singleton.CoordinatorEvents;
using static Replug.Shared.Protocol.HostProtocol;

namespace Replug.Coordinator.Deciding;

/// <summary>
/// Every decision of the coordinator, as a function of its state, one input and the time, in
/// the shape of Akka.NET's split brain resolver (decide, then act on the decision): the actor
/// only persists the events, sends the messages and schedules the next <see cref="Tick"/>.
/// Identities come from the id source the decider is given (random in production, seeded in
/// the simulation), so a seed replays exactly.
/// </summary>
/// <remarks>
/// The safety rules, each in one place below:
/// <list type="bullet">
/// <item>An unreachable host's ports move only once its lease has surely run out (lease + margin).</item>
/// <item>A command nobody answered is in doubt: it may have been applied. Its fail-over waits
/// (retrying with backoff) until the host answers, refuses, or is lost — never re-placed while the
/// port may already forward there.</item>
/// <item>A port that follows its migrated NIC is detached from the old host before the new one
/// attaches it.</item>
/// <item>A refusal of an older epoch's copy says nothing about the current copy; only refusals of
/// this epoch fail a command.</item>
/// <item>An epoch is never reused: a new instance starts above its journal and above every epoch an
/// agent reports.</item>
/// </list>
/// </remarks>
public sealed partial class CoordinatorDecider(CoordinatorSettings settings, Func<Guid> newId)
{
    public CoordinatorSettings Settings { get; } = settings;
    private readonly Func<Guid> _newId = newId;

    /// <summary>
    /// Decides what <paramref name="input"/> means at <paramref name="now"/>. Each event is applied
    /// to <paramref name="state"/> (through <see cref="CoordinatorState.Apply"/>, the only change of
    /// state) as it is decided, so later steps of one decision see the earlier ones; the caller
    /// persists the events, then sends the messages. An exception leaves <paramref name="state"/>
    /// ahead of the journal: the caller must rebuild it from the journal (the actor restarts).
    /// </summary>
    public Decision Decide(CoordinatorState state, ICoordinatorInput input, DateTimeOffset now)
    {
        var run = new Run(this, state, now);
        run.Handle(input);
        return run.ToDecision();
    }

    /// <summary>One decision in the making: the events so far (already applied), the messages and the log.</summary>
    private sealed partial class Run(CoordinatorDecider decider, CoordinatorState state, DateTimeOffset now)
    {
        private readonly List<ICoordinatorEvent> _events = [];
        private readonly List<Outbound> _messages = [];
        private readonly List<DecisionLog> _log = [];
        private CoordinatorSettings Settings => decider.Settings;

        public Decision ToDecision() => _events.Count == 0 && _messages.Count == 0 && _log.Count == 0
            ? Decision.None
            : new Decision(_events, _messages, _log);

        private T Emit<T>(T e) where T : ICoordinatorEvent
        {
            state.Apply(e);
            _events.Add(e);
            return e;
        }

        private void Send(HostId host, IHostMessage message) => _messages.Add(new Outbound.ToHost(host, message));
        private void Reply(object message) => _messages.Add(new Outbound.Reply(message));
        private void Info(LogLine line) => _log.Add(new DecisionLog(DecisionLogLevel.Info, line));
        private void Warn(LogLine line) => _log.Add(new DecisionLog(DecisionLogLevel.Warning, line));
        private void Error(LogLine line) => _log.Add(new DecisionLog(DecisionLogLevel.Error, line));
        private CommandId NewCommandId() => new(decider._newId());

        public void Handle(ICoordinatorInput input)
        {
            var hadMajority = state.Cluster.HasMajority;
            Dispatch(input);
            if (!hadMajority && state.Cluster.HasMajority) RestartLeases();
        }

        /// <summary>
        /// This coordinator sees a majority again: an unreachable host's lease is counted from now.
        /// While this side had no majority its view proved nothing about the host's side, which
        /// may have kept its majority (and its ports) until just now.
        /// </summary>
        private void RestartLeases()
        {
            state.Leases.Open(now);
            foreach (var host in state.Hosts.Values.Where(h => h.Status == HostStatus.Unreachable).OrderBy(h => h.Host.Value, StringComparer.Ordinal).ToList())
            {
                Emit(new HostStatusChanged(host.Host, HostStatus.Unreachable, $"{host.Address} unreachable; lease counted from when this coordinator saw a majority again", now));
                Warn($"Host {host.Host:Host} unreachable; this coordinator sees a majority again: its ports move in {Settings.FailOverAfter} unless it returns");
            }
        }

        private void Dispatch(ICoordinatorInput input)
        {
            switch (input)
            {
                case Recovered r: OnRecovered(r.Node); break;
                case Membership m: OnMembership(m); break;
                case MemberUp u: state.Cluster.Up(u.Address, u.Uid); break;
                // A downed member's reachability still changes until it is removed: it stays gone.
                case MemberUnreachable u when state.Cluster.IsGone(u.Address): break;
                case MemberReachable r when state.Cluster.IsGone(r.Address): break;
                case MemberUnreachable u:
                    state.Cluster.MarkUnreachable(u.Address);
                    OnUnreachable(u.Address);
                    break;
                case MemberReachable r:
                    state.Cluster.MarkReachable(r.Address);
                    OnReachable(r.Address);
                    break;
                case MemberGone g:
                    if (!state.Cluster.Gone(g.Address, g.Uid)) break; // an older incarnation than the one up there now
                    OnMemberGone(g.Address, g.How, g.Left);
                    break;
                case Tick: OnTick(); break;
                case PolicyTick: OnPolicyTick(); break;
                case FromApi a: OnRequest(a.Request); break;
                case FromHost { Message: NicLoadReported l }: OnNicLoad(l); break;
                case FromOperator { Message: OperatorProtocol.DrainHost d }: ChangeDrain(d.Host, true); break;
                case FromOperator { Message: OperatorProtocol.UndrainHost u }: ChangeDrain(u.Host, false); break;
                case FromOperator { Message: OperatorProtocol.MigrationNotice n }: OnMigrationNotice(n); break;
                case FromHost { Message: RegisterHost r }: OnRegisterHost(r); break;
                case FromHost { Message: HostProtocol.NicAdded a }: OnNicAdded(a.Host, a.Nic); break;
                case FromHost { Message: HostProtocol.NicRemoved r }: OnNicRemoved(r); break;
                case FromHost { Message: PortChanged c }: OnPortChanged(c); break;
                case FromHost { Message: PortEscalated e }: OnPortEscalated(e); break;
                case FromHost { Message: CommandAcknowledged a }: OnAcknowledged(a); break;
                case FromHost { Message: CommandRefused r }: OnRefused(r); break;
                case FromHost { Message: RenewLease r }: OnRenewLease(r); break;
                case FromOperator o: Reply(new OperatorProtocol.OperatorAck(false, $"not a request: {o.Message.GetType().Name}")); break;
                default: Warn($"Coordinator ignored an input it does not decide on: {input.GetType().Name}"); break;
            }
        }

        // ---- epochs and membership -----------------------------------------------------------

        private void OnRecovered(string node)
        {
            // A new epoch per instance: commands from an instance that lost the singleton carry an
            // older epoch and are refused by the agents.
            var e = Emit(new EpochStarted(state.Epoch + 1, node, now));
            // What a predecessor granted is unknown: every host may forward for one more lease.
            state.Leases.Open(now);
            Info($"Coordinator up on {node}: epoch {e.Epoch:Epoch}, {state.Hosts.Count} hosts, {state.Ports.Count} ports, " +
                $"{state.OpenFailovers.Count()} open fail-overs, {state.PendingCommands.Count} commands in flight");
            // What the previous instance owed is sent again (with this epoch) once the membership is known.
            OnTick();
            PlanOpenFailovers("resumed after recovery");
        }

        /// <summary>An agent has seen a newer epoch than this instance: this journal is behind (restored, emptied). Start above it.</summary>
        private void RaiseEpochAbove(long seen, HostId by)
        {
            if (seen < state.Epoch) return;
            var e = Emit(new EpochStarted(seen + 1, state.EpochNode ?? "unknown", now));
            Error($"Host {by:Host} has seen epoch {seen}, not older than this coordinator's: its journal is behind; now epoch {e.Epoch:Epoch}");
            foreach (var command in state.PendingCommands.Values.ToList()) Deliver(command);
            foreach (var operation in state.OpenOperations.ToList()) DeliverOperation(operation);
        }

        private void OnMembership(Membership membership)
        {
            var first = !state.Cluster.Known;
            state.Cluster.Reset(membership.Members, membership.Unreachable);
            // Hosts up before this view: on a new instance, what the previous one owed them is sent below
            // (a host found reachable again is sent its commands by OnReachable).
            var upBefore = state.Hosts.Values.Where(h => h.Status == HostStatus.Up).Select(h => h.Host).ToHashSet();
            var members = membership.Members.Concat(membership.NotYetUp ?? []).ToHashSet(StringComparer.Ordinal);
            var unreachable = membership.Unreachable.ToHashSet(StringComparer.Ordinal);
            foreach (var host in state.Hosts.Values.OrderBy(h => h.Host.Value, StringComparer.Ordinal).ToList())
            {
                if (host.Status == HostStatus.Down) continue;
                if (!members.Contains(host.Address)) OnMemberGone(host.Address, "is no longer a member", left: false);
                else if (!unreachable.Contains(host.Address)) OnReachable(host.Address);
                // Recorded unreachable by an earlier instance: its lease is counted again from the
                // moment this instance sees a majority (RestartLeases), not from the old record.
                else if (host.Status == HostStatus.Unreachable) continue;
                else OnUnreachable(host.Address);
            }
            if (!first) return;
            // What the previous instance owed, sent once this one knows which hosts are still there
            // (Deliver sends only to hosts that are up).
            foreach (var command in state.PendingCommands.Values.Where(c => upBefore.Contains(c.Host)).ToList()) Deliver(command);
        }

        private void OnUnreachable(string address)
        {
            if (state.HostAt(address) is not { Status: HostStatus.Up } host) return;
            Emit(new HostStatusChanged(host.Host, HostStatus.Unreachable, $"{address} unreachable", now));
            // Its agent fences itself after the lease (it no longer sees a majority); moving its ports
            // any earlier could make them active on two hosts at once.
            Warn($"Host {host.Host:Host} unreachable; its ports move in {state.LeaseEndsFor(state.Hosts[host.Host]) - now:c} unless it returns");
        }

        private void OnReachable(string address)
        {
            if (state.HostAt(address) is not { Status: HostStatus.Unreachable } host) return;
            Emit(new HostStatusChanged(host.Host, HostStatus.Up, $"{address} reachable again", now));
            Info($"Host {host.Host:Host} reachable again");
            foreach (var command in state.PendingCommands.Values.Where(c => c.Host == host.Host).ToList()) Deliver(command);
        }

        private void OnMemberGone(string address, string how, bool left)
        {
            if (state.HostAt(address) is not { } host || host.Status == HostStatus.Down) return;
            if (left)
            {
                HostLost(host.Host, $"{address} {how}");
                return;
            }
            // Downed or removed: no more grants, and its ports move once its lease has surely run out,
            // as for an unreachable host (the split brain resolver may down a node that still forwards).
            if (host.Status != HostStatus.Up) return;
            Emit(new HostStatusChanged(host.Host, HostStatus.Unreachable, $"{address} {how}", now));
            Warn($"Host {host.Host:Host} {how}; its ports move once its lease has run out ({state.LeaseEndsFor(state.Hosts[host.Host]) - now:c} from now)");
        }

        private void HostLost(HostId host, string reason)
        {
            Emit(new HostStatusChanged(host, HostStatus.Down, reason, now));
            // Nothing on a lost host answers, and nothing it held forwards: what it owed is settled.
            foreach (var command in state.PendingCommands.Values.Where(c => c.Host == host).OrderBy(c => c.Id.Value).ToList())
            {
                if (command.Failover is { } failover) Emit(new FailoverCommandFailed(failover, host, command.Id, $"host lost: {reason}", now));
                else Emit(new CommandSettled(command.Id, host, CommandOutcome.HostLost, reason, now));
            }
            SettleOperationsOf(host, reason);
            var ports = state.PortsToFailOver(host);
            Warn($"Host {host:Host} lost ({reason}): failing over {ports.Count} port(s)");
            StartFailovers([.. ports.Select(p => (p.Spec, (HostId?)host))], $"host {host} lost: {reason}");
            // Ports that were leaving this host with their NIC may now be attached where they go, and
            // fail-overs that waited for its detach may be placed.
            ContinueMoves();
            PlanOpenFailovers($"host {host} lost");
        }

        // ---- time ----------------------------------------------------------------------------

        private void OnTick()
        {
            state.LastTick = now;
            CloseNicWindows();
            // The unreachable host fences itself only if it is the one cut off from the majority:
            // a coordinator that does not see a majority waits (the split brain resolver decides).
            if (state.Cluster.HasMajority)
                foreach (var host in state.Hosts.Values.Where(h => h.Status == HostStatus.Unreachable && state.LeaseEndsFor(h) <= now)
                             .OrderBy(h => h.Host.Value, StringComparer.Ordinal).ToList())
                    HostLost(host.Host, $"unreachable for {Settings.FailOverAfter} (detection + lease {Settings.Lease} + margin {Settings.LeaseMargin})");
            foreach (var command in state.PendingCommands.Values.Where(c => c.NextAttemptAt <= now).OrderBy(c => c.NextAttemptAt).ThenBy(c => c.Id.Value).ToList())
                Retry(command);
            RetryOperations();
            ReleaseDeferredEscalations();
        }

        private void Retry(PendingCommand command)
        {
            if (state.Hosts.GetValueOrDefault(command.Host)?.Status != HostStatus.Up) return; // sent again when it is reachable, settled when it is lost
            var attempt = command.Attempt + 1;
            Emit(new CommandRetried(command.Id, attempt, now));
            if (attempt == Settings.CommandAttempts + 1)
                Warn($"Command {command.Id:Command} ({command.Kind} port {command.Port.Port:Port} on {command.Host:Host}): no answer after {command.Attempt} attempts; " +
                    $"it may have been applied, so it stays owed until the host answers or is lost");
            Deliver(state.PendingCommands[command.Id]);
        }

        private void Deliver(PendingCommand command)
        {
            // Not before this instance knows the membership: the host may be gone, and a new process at its address must not take it.
            if (!state.Cluster.Known) return;
            if (state.Hosts.GetValueOrDefault(command.Host) is { Status: HostStatus.Up } host)
                Send(command.Host, command.ToMessage(state.Epoch, host.Incarnation));
        }

        // ---- leases --------------------------------------------------------------------------

        /// <summary>
        /// A host's agent asks to go on forwarding. Granted only while this coordinator sees a
        /// majority and the host as reachable (by every member's verdict, not only its own): a host
        /// any member cannot reach may be on the other side of a cut, so its lease is left to run
        /// out, and its ports move once this instance's record of it has (<see cref="CoordinatorState.LeaseEndsFor"/>).
        /// Not an event: like the membership, a lease is this instance's and dies with it.
        /// </summary>
        private void OnRenewLease(RenewLease renew)
        {
            if (!state.Cluster.HasMajority || !state.Leases.IsOpen) return;
            if (state.Hosts.GetValueOrDefault(renew.Host) is not { Status: HostStatus.Up } host || host.Incarnation != renew.Incarnation) return;
            state.Leases.Enforces(renew.Host, renew.Incarnation, renew.KernelEnforced);
            state.Leases.Grant(renew.Host, renew.Incarnation, now);
            Send(renew.Host, new LeaseGranted(renew.Host, renew.Incarnation, renew.Sequence, state.Epoch, Settings.Lease, state.LeasedPorts(renew.Host)));
        }

        // ---- registration and reports --------------------------------------------------------

        private void OnRegisterHost(RegisterHost register)
        {
            RaiseEpochAbove(register.NewestEpoch, register.Host);
            var known = state.Hosts.GetValueOrDefault(register.Host);
            // A delayed registration of an incarnation that a newer one replaced: its process is gone.
            if (known is not null && register.Incarnation < known.Incarnation) return;
            // From a node the cluster downed or removed (it may not know yet): it is on its way out, and
            // anything placed on it would wait for its removal. A new process at that address registers
            // once it is up as a member (its registrations are retried until answered).
            if (state.Cluster.IsGone(register.Address))
            {
                Warn($"Host {register.Host:Host}: registration from {register.Address} ignored: that node was downed or removed from the cluster");
                return;
            }
            if (known is { Status: HostStatus.Up } && known.Incarnation == register.Incarnation && known.Address == register.Address)
            {
                // A retry of a registration already recorded (the agent re-sends until it hears back).
                Send(register.Host, Registered(register.Host));
                return;
            }
            Emit(new CoordinatorEvents.HostRegistered(register.Host, register.Address, register.Incarnation, register.Inventory, now));
            Info($"Host {register.Host:Host} registered from {register.Address} (incarnation {register.Incarnation}): " +
                $"{register.Inventory.Nics.Count} NICs, {register.Inventory.Ports.Count} ports, {register.Inventory.Capacity} fail-over slots" +
                $"{(known is null ? "" : $", was {known.Status}")}");
            // A new incarnation lost what it was told: what it was owed before is sent again below.
            var owedBefore = state.PendingCommands.Values.Where(c => c.Host == register.Host).Select(c => c.Id).ToHashSet();
            var reported = register.Inventory.Ports.Select(p => p.Port).ToHashSet();
            foreach (var port in register.Inventory.Ports)
            {
                if (!state.Ports.TryGetValue(port.Port, out var record)) continue;
                if (record.Host != register.Host && record.State is PortState.Active or PortState.Moving)
                    // It moved away while this host was away: it must let it go.
                    IssueCommand(register.Host, HostCommandKind.Detach, record.Spec, null, $"moved to {record.Host} while {register.Host} was away");
                else if (record.Host == register.Host && record.Failover is { } id && state.Failovers.TryGetValue(id, out var f) && f.AwaitsPlacement)
                {
                    // Nobody took it: the host that returned keeps it (it was never attached elsewhere),
                    // and the detach that was to free it for another host is no longer wanted.
                    foreach (var detach in state.PendingCommands.Values.Where(c => c.Host == register.Host && c.Port.Port == port.Port && c.Kind == HostCommandKind.Detach).ToList())
                        Emit(new CommandSettled(detach.Id, register.Host, CommandOutcome.Superseded, "the port stays on its host", now));
                    Emit(new FailoverCancelled(id, $"{register.Host} returned with it before it was placed elsewhere", now));
                }
            }
            // Ports this host carried that its agent no longer knows (it restarted): attach them again.
            foreach (var lost in state.Ports.Values.Where(p => p.Host == register.Host && p.State == PortState.Active && !reported.Contains(p.Spec.Port))
                         .OrderBy(p => p.Spec.Port.Value, StringComparer.Ordinal).ToList())
                IssueCommand(register.Host, HostCommandKind.Attach, lost.Spec, lost.Move?.Devices, $"{register.Host} restarted without it");
            foreach (var nic in register.Inventory.Nics) OnNicAdded(register.Host, nic);
            Send(register.Host, Registered(register.Host));
            foreach (var command in state.PendingCommands.Values.Where(c => owedBefore.Contains(c.Id)).ToList()) Deliver(command);
            if (known is null || known.Incarnation != register.Incarnation) ReassertDetached(register.Host);
            PlanOpenFailovers($"host {register.Host} registered");
        }

        private HostProtocol.HostRegistered Registered(HostId host) =>
            new(host, state.Epoch, state.OwnedPorts(host), state.IncomingPorts(host), state.Hosts[host].Incarnation);

        private void OnNicAdded(HostId host, NicReport nic)
        {
            CloseNicWindows();
            var location = state.Nics.LocationOf(nic.Identity);
            if (location is not null && location.Host == host && location.Device == nic.Device) return; // duplicate
            Emit(new CoordinatorEvents.NicAdded(host, nic, now));
            ActOn(state.LastNicVerdict);
            ReleaseDeferredEscalations();
        }

        private void OnNicRemoved(HostProtocol.NicRemoved removed)
        {
            CloseNicWindows();
            Emit(new CoordinatorEvents.NicRemoved(removed.Host, removed.Device, removed.Identity, now));
            ActOn(state.LastNicVerdict);
            ReleaseDeferredEscalations();
        }

        /// <remarks>
        /// A report never cancels a fail-over: once one starts, the port's old host is told to
        /// detach it, and a port that recovered there in the meantime goes all the same (it would
        /// otherwise come back on its own while the new host attaches it).
        /// </remarks>
        /// <remarks>Reports are state, not edges: an agent repeats them, so the same report twice records nothing,
        /// and a report of an escalated port is an escalation even if the escalation itself was lost.</remarks>
        private void OnPortChanged(PortChanged changed)
        {
            var known = state.Ports.GetValueOrDefault(changed.Port.Port);
            var repeated = known?.LastReport is { } last && known.Host == changed.Host && SameReport(last, changed.Port);
            if (!repeated) Emit(new PortReported(changed.Host, changed.Port, now));
            // Escalated: it does not forward. No device in use while not fenced (a port made with none
            // of its devices healthy never escalates by itself) counts once it is reported twice in a
            // row: a port just attached may report before it has learnt its devices' health.
            if (changed.Port.Escalated || (repeated && changed.Port.Active is null && !changed.Port.Fenced))
                OnPortEscalated(new PortEscalated(changed.Host, changed.Port.Port, "reported with no healthy device"));
        }

        private static bool SameReport(PortReport a, PortReport b) =>
            a.Spec == b.Spec && a.Active == b.Active && a.Escalated == b.Escalated && a.Fenced == b.Fenced && a.Members.SequenceEqual(b.Members);

        private void OnPortEscalated(PortEscalated escalated)
        {
            if (state.Ports.TryGetValue(escalated.Port, out var port) && port.State != PortState.Active) return; // already moving
            if (port is not null && port.Host != escalated.Host) return; // a stale report from a host the port left
            if (state.AwaitsReplug(escalated.Host, escalated.Port, now)) return; // its device is being plugged back
            // Before any wait for a migration's verdict: the port is without traffic now, and a member here can be plugged back now.
            if (ReplugFor(escalated)) return;
            if (state.EscalationMayBeMigration(escalated.Host, escalated.Port))
            {
                if (state.DeferredEscalations.ContainsKey((escalated.Host, escalated.Port))) return;
                // Its NIC may be on its way to another host: wait for the tracker's verdict (persisted, so a hand-over keeps waiting).
                Emit(new EscalationDeferred(escalated.Host, escalated.Port, escalated.Reason, now));
                Info($"Port {escalated.Port:Port} on {escalated.Host:Host} escalated ({escalated.Reason}); waiting: its NIC may be migrating");
                return;
            }
            var spec = port?.Spec ?? new PortSpec(escalated.Port);
            StartFailovers([(spec, escalated.Host)], $"{escalated.Host}: {escalated.Reason}");
        }

        // ---- NIC tracking --------------------------------------------------------------------

        /// <summary>Removals whose window ended become faults before any newer report is judged (the tracker's rule).</summary>
        private void CloseNicWindows()
        {
            if (state.Nics.NextDeadline is not { } deadline || deadline > now) return;
            Emit(new NicWindowsClosed(now));
            foreach (var verdict in state.LastExpiredVerdicts) ActOn(verdict);
        }

        private void ActOn(NicVerdict? verdict)
        {
            switch (verdict)
            {
                case NicVerdict.Migrated m:
                    Emit(new NicMigrated(m.Nic, m.From, m.To, m.NewDevice, m.Announced, now));
                    Info($"NIC {m.Nic:Nic} migrated {m.From:From} -> {m.To:To} ({m.NewDevice}){(m.Announced ? " as announced" : "")}");
                    FollowMigration(m.From, m.To, m.Nic, m.NewDevice);
                    break;
                case NicVerdict.Faulted f:
                    Emit(new NicFaulted(f.Nic, f.Host, f.Device, f.Reason, now));
                    Warn($"NIC {f.Nic:Nic} ({f.Device:Device} on {f.Host:Host}) was not seen again within {Settings.MigrationWindow}: fault");
                    break;
            }
        }

        /// <summary>
        /// The ports that used a migrated NIC follow it: the old host detaches them (its fail-safe
        /// group may have switched to a standby there), then the new host attaches them over the NIC.
        /// </summary>
        private void FollowMigration(HostId from, HostId to, NicIdentity nic, DeviceId newDevice)
        {
            var device = state.LastDeviceOf(from, nic);
            foreach (var port in state.Ports.Values.Where(p => p.Host == from && p.State == PortState.Active && p.LastReport is not null)
                         .OrderBy(p => p.Spec.Port.Value, StringComparer.Ordinal).ToList())
            {
                var usesNic = port.LastReport!.Members.Any(m => m == device) || state.DeferredEscalations.ContainsKey((from, port.Spec.Port));
                if (!usesNic) continue;
                Emit(new PortMoved(port.Spec.Port, from, to, $"followed NIC {nic}", now, [newDevice]));
                Info($"Port {port.Spec.Port:Port} follows NIC {nic:Nic} from {from:From} to {to:To} (no fail-over): detached on {from} first");
                if (state.Hosts.GetValueOrDefault(from)?.Status == HostStatus.Down) continue;
                IssueCommand(from, HostCommandKind.Detach, port.Spec, null, $"followed NIC {nic} to {to}");
            }
            ContinueMoves();
        }

        /// <summary>A moving port is attached on its new host once nothing it left can still forward it.</summary>
        private void ContinueMoves()
        {
            foreach (var port in state.Ports.Values.Where(p => p.State == PortState.Moving).OrderBy(p => p.Spec.Port.Value, StringComparer.Ordinal).ToList())
            {
                var owed = state.PendingCommands.Values.Where(c => c.Port.Port == port.Spec.Port).ToList();
                if (owed.Count > 0) continue; // the detach (or the attach) is still owed
                if (state.Hosts.GetValueOrDefault(port.Host)?.Status != HostStatus.Up)
                {
                    StartFailovers([(port.Spec, port.Host)], $"{port.Host} is not up to take port {port.Spec.Port} with its NIC");
                    continue;
                }
                IssueCommand(port.Host, HostCommandKind.Attach, port.Spec, port.Move!.Devices, $"followed its NIC from {port.Move.From}");
            }
        }

        private void ReleaseDeferredEscalations()
        {
            var released = state.DeferredEscalations.Values.Where(d => !state.EscalationMayBeMigration(d.Host, d.Port) && !state.AwaitsReplug(d.Host, d.Port, now))
                .OrderBy(d => d.Port.Value, StringComparer.Ordinal).ToList();
            // A port whose wait ended may still get an unplugged member back on its host before it moves.
            released = [.. released.Where(d => !ReplugFor(new PortEscalated(d.Host, d.Port, d.Reason)))];
            if (released.Count == 0) return;
            var toMove = released.Where(d => state.Ports.GetValueOrDefault(d.Port) is { State: PortState.Active } p && p.Host == d.Host)
                .Select(d => (state.Ports[d.Port].Spec, (HostId?)d.Host)).ToList();
            StartFailovers(toMove, string.Join("; ", released.Select(d => $"{d.Host}: {d.Reason}")) + " (its NIC did not reappear elsewhere)");
        }

        private void OnMigrationNotice(OperatorProtocol.MigrationNotice notice)
        {
            // A notice masks a NIC's removal as a migration: only between hosts this coordinator knows.
            if (new[] { notice.From, notice.To }.FirstOrDefault(h => !state.Hosts.ContainsKey(h)) is { Value: not null } unknown)
            {
                Reply(new OperatorProtocol.OperatorAck(false, $"unknown host {unknown}: a migration is announced between registered hosts"));
                return;
            }
            CloseNicWindows();
            Emit(new MigrationAnnounced(notice.Nic, notice.From, notice.To, notice.Phase, now));
            Reply(new OperatorProtocol.OperatorAck(true));
            ActOn(state.LastNicVerdict);
            ReleaseDeferredEscalations();
        }

        private void ChangeDrain(HostId host, bool drained)
        {
            if (!state.Hosts.ContainsKey(host))
            {
                Reply(new OperatorProtocol.OperatorAck(false, $"unknown host {host}"));
                return;
            }
            Emit(new HostDrainChanged(host, drained, now));
            Reply(new OperatorProtocol.OperatorAck(true));
            Info($"Host {host:Host} {(drained ? "drained" : "undrained")} by an operator");
            if (!drained) PlanOpenFailovers($"host {host} undrained");
        }

        // ---- commands ------------------------------------------------------------------------

        private void IssueCommand(HostId host, HostCommandKind kind, PortSpec port, IReadOnlyList<DeviceId>? devices, string reason)
        {
            var issued = Emit(new CommandIssued(NewCommandId(), host, kind, port, devices, reason, now));
            Info($"Command {issued.Id:Command}: {kind} port {port.Port:Port} on {host:Host} (epoch {state.Epoch:Epoch}; {reason})");
            Deliver(state.PendingCommands[issued.Id]);
        }

        private void OnAcknowledged(CommandAcknowledged ack)
        {
            if (SettleOperation(ack.Id, ack.Host, CommandOutcome.Acknowledged, "acknowledged")) return;
            if (!state.PendingCommands.TryGetValue(ack.Id, out var command)) return; // a duplicate answer
            if (command.Failover is { } id && state.Failovers.TryGetValue(id, out var f) && f.Command == ack.Id && f.Status == FailoverStatus.Commanded)
            {
                Emit(new FailoverCompleted(id, command.Host, ack.Id, now));
                Info($"Fail-over {id:Failover} done: port {f.Port.Port:Port} attached on {command.Host:Host} in {(now - f.Started).TotalMilliseconds:0} ms");
                return;
            }
            Emit(new CommandSettled(ack.Id, command.Host, CommandOutcome.Acknowledged, "acknowledged", now));
            ContinueMoves();
            if (command.Kind == HostCommandKind.Detach) PlanOpenFailovers($"port {command.Port.Port} detached on {command.Host}");
        }

        private void OnRefused(CommandRefused refused)
        {
            var isOperation = state.Operations.ContainsKey(refused.Id);
            if (!state.PendingCommands.TryGetValue(refused.Id, out var command) && !isOperation) return;
            // A process this coordinator has not registered (a restart at the same address) refused a
            // command meant for its predecessor: its registration will say what it is owed.
            if (refused.Incarnation != 0 && state.Hosts.GetValueOrDefault(refused.Host)?.Incarnation != refused.Incarnation) return;
            // A delayed copy sent under an older epoch was refused; the copy of this epoch decides.
            if (refused.Epoch != 0 && refused.Epoch < state.Epoch) return;
            if (refused.NewestEpoch > state.Epoch)
            {
                RaiseEpochAbove(refused.NewestEpoch, refused.Host);
                return;
            }
            if (isOperation)
            {
                SettleOperation(refused.Id, refused.Host, CommandOutcome.Refused, refused.Reason);
                return;
            }
            if (command is null) return;
            Warn($"Command {refused.Id:Command} ({command.Kind} port {command.Port.Port:Port}) refused by {refused.Host:Host}: {refused.Reason}");
            if (command.Failover is { } id && state.Failovers.TryGetValue(id, out var f) && f.Command == refused.Id)
            {
                Emit(new FailoverCommandFailed(id, refused.Host, refused.Id, $"refused: {refused.Reason}", now));
                PlanOpenFailovers($"command to {refused.Host} refused");
                return;
            }
            Emit(new CommandSettled(refused.Id, refused.Host, CommandOutcome.Refused, refused.Reason, now));
            // A port that could not follow its NIC to its new host needs a fail-over.
            if (command.Kind == HostCommandKind.Attach && state.Ports.TryGetValue(command.Port.Port, out var port)
                && port.Host == command.Host && port.State is PortState.Moving or PortState.Active)
                StartFailovers([(port.Spec, command.Host)], $"{command.Host} refused port {port.Spec.Port}: {refused.Reason}");
        }

        // ---- fail-over -----------------------------------------------------------------------

        /// <summary>
        /// The ports leave their hosts and are placed elsewhere. A host that may still hold a port
        /// (up or unreachable, not lost) is told to detach it first: a fail-safe group that escalated
        /// takes its port back by itself when a device returns, and must not while another host
        /// attaches it. Placement waits for that detach (or for the host's loss).
        /// </summary>
        /// <param name="to">A policy's move: the host to place the ports on when it can take them.</param>
        /// <param name="id">The fail-over's id when the caller journaled it already (a policy's verdict names it); one port only.</param>
        private void StartFailovers(IReadOnlyList<(PortSpec Spec, HostId? From)> ports, string reason, HostId? to = null, FailoverId? id = null)
        {
            if (ports.Count == 0) return;
            foreach (var (spec, from) in ports)
            {
                if (from is { } host && state.Hosts.GetValueOrDefault(host) is { Status: not HostStatus.Down })
                    IssueCommand(host, HostCommandKind.Detach, spec, null, $"port {spec.Port} {(to is null ? "fails over" : "moves")} from {host}");
                Emit(new FailoverStarted(id ?? new FailoverId(decider._newId()), spec, from, reason, now, to));
            }
            PlanOpenFailovers(reason);
        }

        private void PlanOpenFailovers(string why)
        {
            // A port is attached somewhere only when no host may still forward it: not while a detach is owed.
            var open = state.OpenFailovers.Where(f => f.AwaitsPlacement && !DetachOwed(f.Port.Port)).ToList();
            if (open.Count == 0) return;
            // One plan per group of fail-overs that excluded the same hosts; usually a single group.
            var groups = open.GroupBy(f => string.Join(",", (f.Excluded ?? []).Select(h => h.Value).Distinct().Order(StringComparer.Ordinal)))
                .OrderBy(g => g.Key, StringComparer.Ordinal);
            foreach (var group in groups)
            {
                try
                {
                    PlanGroup([.. group.OrderBy(f => f.Port.Port.Value, StringComparer.Ordinal)], why);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // One bad input fails its fail-overs (recorded, visible, retried), never the coordinator.
                    var reason = $"error while planning: {ex.GetType().Name}: {ex.Message}";
                    foreach (var f in group) MarkUnplaced(f, reason);
                    Error($"Fail-over planning failed for {string.Join(", ", group.Select(f => f.Port.Port))}: {reason}");
                }
            }
        }

        private bool DetachOwed(PortId port) => state.PendingCommands.Values.Any(c => c.Port.Port == port && c.Kind == HostCommandKind.Detach);

        private void PlanGroup(IReadOnlyList<FailoverRecord> group, string why)
        {
            var excluded = (group[0].Excluded ?? []).ToHashSet();
            List<HostCandidate> Hosts() => [.. state.Candidates().Select(c => excluded.Contains(c.Host) ? c with { Status = HostStatus.Unreachable } : c)];
            // A policy's move goes to the host the policy chose when that host can take it (the planner
            // still checks its room and anti-affinity there); otherwise it is placed like any fail-over.
            var rest = new List<FailoverRecord>();
            foreach (var f in group)
            {
                var chosen = f.Preferred is { } preferred ? Hosts().Where(h => h.Host == preferred).ToList() : [];
                if (chosen.Count == 1 && FailoverPlanner.Plan([new PortToPlace(f.Port, f.From)], chosen, new PlannerPolicy(ReservedHostPolicy.Ignore))
                        .Placements is [var there])
                    Place(f, there with { Reason = $"the host {f.Preferred} chosen by the policy ({there.Reason})" }, why);
                else
                    rest.Add(f);
            }
            if (rest.Count == 0) return;
            group = rest;
            var hosts = Hosts();
            var plan = FailoverPlanner.Plan([.. group.Select(f => new PortToPlace(f.Port, f.From))], hosts, new PlannerPolicy(Settings.ReservedHosts));
            var byPort = group.ToDictionary(f => f.Port.Port);
            foreach (var placement in plan.Placements) Place(byPort[placement.Port], placement, why);
            foreach (var unplaced in plan.Unplaced) MarkUnplaced(byPort[unplaced.Port], unplaced.Reason);
        }

        private void Place(FailoverRecord f, Placement placement, string why)
        {
            var placed = Emit(new FailoverPlaced(f.Id, placement.Host, NewCommandId(), state.Epoch, placement.Reason, now));
            Info($"Fail-over {f.Id:Failover}: port {f.Port.Port:Port} -> {placement.Host:Host} (command {placed.Command:Command}, epoch {placed.Epoch:Epoch}; {why})");
            Deliver(state.PendingCommands[placed.Command]);
        }

        private void MarkUnplaced(FailoverRecord f, string reason)
        {
            if (f.Status == FailoverStatus.Unplaced && f.Steps[^1].What.EndsWith(reason, StringComparison.Ordinal)) return;
            Emit(new FailoverUnplaced(f.Id, reason, now));
            Error($"Fail-over {f.Id:Failover} of port {f.Port.Port:Port}: no host can take it ({reason}); retried when capacity appears");
        }
    }
}
