using Replug.Coordinator.Planning;
using Replug.Coordinator.Policies;
using Replug.Coordinator.Singleton;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using static Replug.Coordinator.Singleton.CoordinatorEvents;
using static Replug.Shared.Protocol.HostProtocol;

namespace Replug.Coordinator.Deciding;

/// <summary>Planned hot plug (operators' detach / attach) and the policies, in the same decider as fail-over.</summary>
public sealed partial class CoordinatorDecider
{
    /// <summary>
    /// What the policies would decide now, on the state as it is (memory included), changing
    /// nothing: a dry run, and the first half of a policy round.
    /// </summary>
    public static IReadOnlyList<(PolicyDecision Decision, PolicyMode Mode)> Judge(CoordinatorState state, PolicySettings settings, DateTimeOffset now,
        out PowerSavingMemory memory)
    {
        var snapshot = ClusterLoad.Snapshot(state);
        var (saving, remembered) = PowerSaver.Decide(snapshot, state.PowerMemory, settings.PowerSaving, now);
        memory = remembered;
        // Load balancing weighs the cluster as power saving's verdicts leave it, so the two never undo each other in one round.
        var after = saving.Aggregate(snapshot, (current, d) => current.Apply(d.Action, now));
        var balancing = LoadBalancer.Decide(after, settings.LoadBalancing, now);
        return [.. saving.Select(d => (d, settings.PowerSaving.Mode)), .. balancing.Select(d => (d, settings.LoadBalancing.Mode))];
    }

    private sealed partial class Run
    {
        /// <summary>An advice already recorded is recorded again only after this long: advise mode shows verdicts, it does not flood the journal.</summary>
        private static readonly TimeSpan AdviceRepeat = TimeSpan.FromMinutes(10);

        private void OnNicLoad(NicLoadReported report)
        {
            // Figures of a process the coordinator has not registered (a predecessor, a restart not yet registered) are not this host's.
            if (state.Hosts.GetValueOrDefault(report.Host) is not { } host || host.Incarnation != report.Incarnation) return;
            state.Loads.Record(report.Host, report.Incarnation, report.Nics, now);
        }

        // ---- operators' requests ---------------------------------------------------------------

        private void OnRequest(ICoordinatorRequest request)
        {
            switch (request)
            {
                case CoordinatorRequests.DetachDevice d:
                    AnswerOperation(d.Host, DeviceOperationKind.Detach, d.Device, d.Reason);
                    break;
                case CoordinatorRequests.AttachDevice a:
                    AnswerOperation(a.Host, DeviceOperationKind.Attach, a.Device, a.Reason);
                    break;
                case CoordinatorRequests.ConfigurePolicies c:
                    if (c.Settings.Validate() is { Count: > 0 } problems)
                    {
                        Reply(new CoordinatorRequests.Refused(400, string.Join("; ", problems)));
                        break;
                    }
                    Emit(new PoliciesConfigured(c.Settings, c.By, now));
                    Info($"Policies configured by {c.By}: load balancing {c.Settings.LoadBalancing.Mode} level {c.Settings.LoadBalancing.Level}, " +
                        $"power saving {c.Settings.PowerSaving.Mode} level {c.Settings.PowerSaving.Level}, every {c.Settings.EffectiveInterval}");
                    Reply(PoliciesView(state));
                    break;
                case CoordinatorRequests.DryRunPolicy r:
                    Reply(DryRun(r.Policy));
                    break;
                case CoordinatorRequests.ForgetHost f:
                    Reply(ForgetHost(f.Host, f.By));
                    break;
                default:
                    Reply(new CoordinatorRequests.Refused(400, $"not a request: {request.GetType().Name}"));
                    break;
            }
        }

        /// <summary>
        /// Forgets a Down host, or says why not: a host that is up or only unreachable may come back
        /// and forward; a port still placed on it (a fail-over that found no host yet) would be lost;
        /// an operation still open on it has yet to end.
        /// </summary>
        private object ForgetHost(HostId host, string by)
        {
            if (!state.Hosts.TryGetValue(host, out var record)) return new CoordinatorRequests.Refused(404, $"unknown host {host}");
            if (record.Status != HostStatus.Down)
                return new CoordinatorRequests.Refused(409, $"host {host} is {record.Status}: only a Down host can be forgotten (stop its agent first)");
            var stranded = state.Ports.Values.Where(p => p.Host == host).Select(p => p.Spec.Port.Value).Order(StringComparer.Ordinal).ToList();
            if (stranded.Count > 0)
                return new CoordinatorRequests.Refused(409, $"host {host} still holds port(s) {string.Join(", ", stranded)} (no other host took them yet): " +
                    "forgetting it would lose them; add a host they can fail over to, or bring the host back");
            if (state.OpenOperations.FirstOrDefault(o => o.Host == host) is { } open)
                return new CoordinatorRequests.Refused(409, $"host {host} has an open {open.Kind} of {open.Device} ({open.Id}): wait for it to end");
            Emit(new HostForgotten(host, by, now));
            Info($"Host {host:Host} forgotten by {by} (it was Down since {record.Since:u})");
            return new CoordinatorRequests.HostForgottenView(host, true);
        }

        private void AnswerOperation(HostId host, DeviceOperationKind kind, DeviceId device, string? reason)
        {
            var started = StartOperation(host, kind, device, null, DeviceOperation.Operator,
                string.IsNullOrWhiteSpace(reason) ? $"{kind.ToString().ToLowerInvariant()} asked by an operator" : reason.Trim());
            Reply(started.Refusal is { } refused ? refused : new CoordinatorRequests.OperationAccepted(state.Operations[started.Id!.Value]));
        }

        private object DryRun(string policy)
        {
            if (!PolicySettings.IsPolicy(policy))
                return new CoordinatorRequests.Refused(404, $"unknown policy '{policy}' (there are {LoadBalancer.Name} and {PowerSaver.Name})");
            var settings = state.Policies;
            // An off policy is judged as if it advised: the dry run says what it would do if it were on.
            var asked = settings with
            {
                LoadBalancing = settings.LoadBalancing with
                {
                    Mode = policy == LoadBalancer.Name ? OnMode(settings.LoadBalancing.Mode) : PolicyMode.Off,
                },
                PowerSaving = settings.PowerSaving with
                {
                    Mode = policy == PowerSaver.Name ? OnMode(settings.PowerSaving.Mode) : PolicyMode.Off,
                },
            };
            var verdicts = Judge(state, asked, now, out _);
            var mode = policy == LoadBalancer.Name ? settings.LoadBalancing.Mode : settings.PowerSaving.Mode;
            return new CoordinatorRequests.DryRunView(policy, mode, [.. verdicts.Select((v, i) =>
                new CoordinatorRequests.DecisionView(0, v.Decision.Policy, mode, v.Decision.Action.Describe(), v.Decision.Action, v.Decision.Reason,
                    v.Decision.Inputs, "dry run: nothing done", null, null, now))]);
        }

        private static PolicyMode OnMode(PolicyMode mode) => mode == PolicyMode.Off ? PolicyMode.Advise : mode;

        // ---- device operations ------------------------------------------------------------------

        private readonly record struct Started(CommandId? Id, CoordinatorRequests.Refused? Refusal);

        /// <summary>
        /// Journals and sends an operation, or says why not: the host must be up, the device one of
        /// its NICs with no other operation in flight, and (for a detach) every port that uses it
        /// must keep another device in service.
        /// </summary>
        private Started StartOperation(HostId hostId, DeviceOperationKind kind, DeviceId device, PortId? port, string by, string reason)
        {
            if (Refusal(hostId, kind, device, port) is { } refusal) return new Started(null, refusal);
            var operation = Launch(NewCommandId(), hostId, kind, device, port, by, reason);
            Info($"Operation {operation.Id:Operation}: {operation.Describe()} by {by} (epoch {state.Epoch:Epoch}; {reason})");
            return new Started(operation.Id, null);
        }

        /// <summary>Journals an operation and sends it: every start of one (an operator's, a policy's, a detach told again) goes through here.</summary>
        private DeviceOperation Launch(CommandId id, HostId host, DeviceOperationKind kind, DeviceId device, PortId? port, string by, string reason)
        {
            Emit(new DeviceOperationStarted(id, host, kind, device, port, by, reason, now));
            var operation = state.Operations[id];
            DeliverOperation(operation);
            return operation;
        }

        private CoordinatorRequests.Refused? Refusal(HostId hostId, DeviceOperationKind kind, DeviceId device, PortId? port)
        {
            if (state.Hosts.GetValueOrDefault(hostId) is not { } host) return new(404, $"unknown host {hostId}");
            if (host.Status != HostStatus.Up) return new(409, $"host {hostId} is {host.Status.ToString().ToLowerInvariant()}: nothing can be done on it now");
            var nets = NetDevicesOf(host, device);
            if (nets.Count == 0 && !state.Unplugged.ContainsKey((hostId, device)))
                return new(404, $"host {hostId} has no device {device} (its NICs: {string.Join(", ", host.Inventory.Nics.Select(n => n.Device))})");
            if (kind != DeviceOperationKind.SwitchPort && state.OpenOperationOn(hostId, device) is { } open)
                return new(409, $"{device} on {hostId}: operation {open.Id} ({open.Kind.ToString().ToLowerInvariant()}) is still in progress");
            switch (kind)
            {
                case DeviceOperationKind.Detach:
                    if (state.Unplugged.TryGetValue((hostId, device), out var gone))
                        return new(409, $"{device} on {hostId} is detached already (by {gone.By} at {gone.At:u})");
                    foreach (var record in state.Ports.Values.Where(p => p.Host == hostId && p.State == PortState.Active && p.LastReport is not null)
                                 .OrderBy(p => p.Spec.Port.Value, StringComparer.Ordinal))
                    {
                        var members = record.LastReport!.Members;
                        if (!members.Any(nets.Contains) && !members.Contains(device)) continue;
                        var others = members.Where(m => m != device && !nets.Contains(m) && state.InService(hostId, m)).ToList();
                        if (others.Count == 0)
                            return new(409, $"detaching {device} would leave port {record.Spec.Port} on {hostId} without a healthy device " +
                                $"(its members: {string.Join(", ", members)}); detach another one, or move the port first");
                    }
                    return null;
                case DeviceOperationKind.Attach:
                    if (!state.Unplugged.ContainsKey((hostId, device)) && nets.All(n => state.InService(hostId, n)))
                        return new(409, $"{device} on {hostId} is in service already");
                    return null;
                default:
                    if (port is not { } p || state.Ports.GetValueOrDefault(p) is not { State: PortState.Active } target || target.Host != hostId)
                        return new(409, $"port {port} is not active on {hostId}");
                    if (target.LastReport?.Members.Contains(device) != true || !state.InService(hostId, device))
                        return new(409, $"{device} is not a member in service of port {p} on {hostId}");
                    return null;
            }
        }

        /// <summary>The host's net devices <paramref name="device"/> names: itself, or every NIC of a PCI function.</summary>
        private static HashSet<DeviceId> NetDevicesOf(HostRecord host, DeviceId device) =>
        [
            .. host.Inventory.Nics.Where(n => n.Device == device
                || (device.Subsystem == Subsystems.Pci && string.Equals(n.PciSlot, device.Name, StringComparison.OrdinalIgnoreCase)))
                .Select(n => n.Device),
        ];

        private void DeliverOperation(DeviceOperation operation)
        {
            if (!state.Cluster.Known) return;
            if (state.Hosts.GetValueOrDefault(operation.Host) is { Status: HostStatus.Up } host)
                Send(operation.Host, operation.ToMessage(state.Epoch, host.Incarnation));
        }

        /// <summary>
        /// A new agent process knows nothing of what was detached on purpose (a link left down looks
        /// healthy to its probe, and a port could take it): every device the coordinator holds
        /// detached there is detached again, and what was owed to its predecessor is sent to it.
        /// </summary>
        private void ReassertDetached(HostId host)
        {
            foreach (var owed in state.OpenOperations.Where(o => o.Host == host).OrderBy(o => o.Id.Value).ToList()) DeliverOperation(owed);
            foreach (var unplugged in state.Unplugged.Values.Where(u => u.Host == host && state.OpenOperationOn(host, u.Device) is null)
                         .OrderBy(u => u.Device.Name, StringComparer.Ordinal).ToList())
            {
                var again = Launch(NewCommandId(), host, DeviceOperationKind.Detach, unplugged.Device, null, unplugged.By,
                    $"detached by {unplugged.By} at {unplugged.At:u}; told again to the agent's new process");
                Info($"Operation {again.Id:Operation}: detach {unplugged.Device:Device} on {host:Host} again (its agent restarted; detached by {unplugged.By})");
            }
        }

        private void RetryOperations()
        {
            foreach (var op in state.OpenOperations.Where(o => o.NextAttemptAt <= now).OrderBy(o => o.NextAttemptAt).ThenBy(o => o.Id.Value).ToList())
            {
                if (state.Hosts.GetValueOrDefault(op.Host)?.Status != HostStatus.Up) continue;
                Emit(new CommandRetried(op.Id, op.Attempt + 1, now));
                if (op.Attempt + 1 == Settings.CommandAttempts + 1)
                    Warn($"Operation {op.Id:Operation} ({op.Describe()}): no answer after {op.Attempt} attempts; still owed until the host answers or is lost");
                DeliverOperation(state.Operations[op.Id]);
            }
        }

        /// <summary>An agent's answer to an operation: true when <paramref name="id"/> was one.</summary>
        private bool SettleOperation(CommandId id, HostId from, CommandOutcome outcome, string reason)
        {
            if (!state.Operations.TryGetValue(id, out var op)) return false;
            if (!op.IsOpen) return true; // a duplicate answer
            Emit(new CommandSettled(id, from, outcome, reason, now));
            if (outcome == CommandOutcome.Acknowledged) Info($"Operation {id:Operation} done: {op.Describe()} ({op.By})");
            else Warn($"Operation {id:Operation} ({op.Describe()}, by {op.By}) {(outcome == CommandOutcome.Refused ? "refused" : "ended")}: {reason}");
            // A port that waited for a device to come back may now fail over (a refused re-plug), or stop waiting.
            ReleaseDeferredEscalations();
            return true;
        }

        private void SettleOperationsOf(HostId host, string reason)
        {
            foreach (var op in state.OpenOperations.Where(o => o.Host == host).OrderBy(o => o.Id.Value).ToList())
                Emit(new CommandSettled(op.Id, host, CommandOutcome.HostLost, reason, now));
        }

        /// <summary>
        /// A fault wins over power saving: a port that lost its last device in service on its host,
        /// while a policy keeps one of its members unplugged there, gets that member back at once and
        /// waits for it (persisted, as for a migration) instead of failing over.
        /// </summary>
        private bool ReplugFor(PortEscalated escalated)
        {
            if (state.Ports.GetValueOrDefault(escalated.Port)?.LastReport is not { } report) return false;
            if (state.Hosts.GetValueOrDefault(escalated.Host) is not { Status: HostStatus.Up }) return false;
            // Once per escalation: a member whose re-plug failed since the port escalated is not tried again (the port fails over).
            var since = state.DeferredEscalations.GetValueOrDefault((escalated.Host, escalated.Port))?.At ?? now;
            var unplugged = report.Members.Select(m => state.Unplugged.GetValueOrDefault((escalated.Host, m)))
                .FirstOrDefault(u => u is { ByPolicy: true } && state.OpenOperationOn(escalated.Host, u.Device) is null
                    && !state.Operations.Values.Any(o => o.Host == escalated.Host && o.Device == u.Device && o.Kind == DeviceOperationKind.Attach
                        && o.Status is OperationStatus.Refused or OperationStatus.HostLost && o.Started >= since));
            if (unplugged is null) return false;
            var started = StartOperation(escalated.Host, DeviceOperationKind.Attach, unplugged.Device, null, DeviceOperation.Policy(PowerSaver.Name),
                $"fault wins: port {escalated.Port} lost its device in service ({escalated.Reason})");
            if (started.Id is null) return false;
            if (!state.DeferredEscalations.ContainsKey((escalated.Host, escalated.Port)))
                Emit(new EscalationDeferred(escalated.Host, escalated.Port, $"{escalated.Reason}; re-plugging {unplugged.Device}", now));
            Warn($"Port {escalated.Port:Port} on {escalated.Host:Host} escalated ({escalated.Reason}): plugging {unplugged.Device:Device} back before any fail-over");
            return true;
        }

        // ---- policies ---------------------------------------------------------------------------

        private void OnPolicyTick()
        {
            var settings = state.Policies;
            if (!settings.AnyOn)
            {
                state.PowerMemory = PowerSavingMemory.Empty;
                return;
            }
            // A coordinator on a minority side knows nothing it may act on; its verdicts would be on a stale cluster.
            if (!state.Cluster.HasMajority) return;
            var verdicts = Judge(state, settings, now, out var memory);
            state.PowerMemory = memory;
            // Capacity comes back at any time; anything that takes capacity away or moves traffic waits for a settled cluster.
            var settled = !state.OpenFailovers.Any() && !state.OpenOperations.Any() && state.PendingCommands.Count == 0;
            foreach (var (decision, mode) in verdicts)
            {
                if (mode == PolicyMode.Advise) Advise(decision);
                else if (mode == PolicyMode.Auto && (settled || decision.Action is PolicyAction.PlugNic or PolicyAction.WakeHost)) CarryOut(decision);
            }
        }

        private void Advise(PolicyDecision decision)
        {
            var recent = state.Decisions.LastOrDefault(d => d.Policy == decision.Policy && d.Action == decision.Action);
            if (recent is not null && now - recent.At < AdviceRepeat) return;
            Emit(new PolicyDecided(decision.Policy, PolicyMode.Advise, decision.Action, decision.Reason, decision.Inputs, null, null, now));
            Info($"Policy {decision.Policy} advises: {decision.Action.Describe()} ({decision.Reason})");
            Recommend(decision, PolicyMode.Advise);
        }

        /// <summary>Journals the verdict with what carries it out, then starts that: a fenced move, a device operation, or a recommendation.</summary>
        private void CarryOut(PolicyDecision decision)
        {
            var by = DeviceOperation.Policy(decision.Policy);
            switch (decision.Action)
            {
                case PolicyAction.MovePort m:
                    if (state.Ports.GetValueOrDefault(m.Port) is not { State: PortState.Active } port || port.Host != m.From) return;
                    var id = new FailoverId(decider._newId());
                    Emit(new PolicyDecided(decision.Policy, PolicyMode.Auto, decision.Action, decision.Reason, decision.Inputs, null, id, now));
                    Info($"Policy {decision.Policy}: {decision.Action.Describe()} ({decision.Reason}); fail-over {id:Failover}, detached on {m.From:From} first");
                    StartFailovers([(port.Spec, m.From)], $"{decision.Policy}: {decision.Reason}", m.To, id);
                    break;
                case PolicyAction.SwitchActive s:
                    CarryOutOperation(decision, s.Host, DeviceOperationKind.SwitchPort, s.To, s.Port, by);
                    break;
                case PolicyAction.UnplugNic u:
                    CarryOutOperation(decision, u.Host, DeviceOperationKind.Detach, u.Nic, null, by);
                    break;
                case PolicyAction.PlugNic p:
                    CarryOutOperation(decision, p.Host, DeviceOperationKind.Attach, p.Nic, null, by);
                    break;
                default:
                    Emit(new PolicyDecided(decision.Policy, PolicyMode.Auto, decision.Action, decision.Reason, decision.Inputs, null, null, now));
                    Info($"Policy {decision.Policy}: {decision.Action.Describe()} ({decision.Reason}); recommended to the orchestrator");
                    Recommend(decision, PolicyMode.Auto);
                    break;
            }
        }

        private void CarryOutOperation(PolicyDecision decision, HostId host, DeviceOperationKind kind, DeviceId device, PortId? port, string by)
        {
            // The same checks as an operator's request: a verdict the coordinator cannot carry out safely is not recorded as done.
            if (Refusal(host, kind, device, port) is { } refusal)
            {
                Info($"Policy {decision.Policy}: {decision.Action.Describe()} not carried out: {refusal.Reason}");
                return;
            }
            var id = NewCommandId();
            Emit(new PolicyDecided(decision.Policy, PolicyMode.Auto, decision.Action, decision.Reason, decision.Inputs, id, null, now));
            Launch(id, host, kind, device, port, by, decision.Reason);
            Info($"Policy {decision.Policy}: {decision.Action.Describe()} ({decision.Reason}); operation {id:Operation}");
        }

        private void Recommend(PolicyDecision decision, PolicyMode mode) => _messages.Add(new Outbound.Recommend(decision, mode));
    }

    /// <summary>The policies' settings and state as <c>GET /policies</c> shows them.</summary>
    public static CoordinatorRequests.PoliciesView PoliciesView(CoordinatorState state) =>
        new(state.Policies, state.PoliciesChangedAtRunTime, state.DecisionsMade, [.. state.Standby.OrderBy(h => h.Value, StringComparer.Ordinal)],
            [.. state.Unplugged.Values.OrderBy(u => u.Host.Value, StringComparer.Ordinal).ThenBy(u => u.Device.Name, StringComparer.Ordinal)]);

    /// <summary>A recorded verdict with its outcome now: advised, or the state of what carries it out.</summary>
    public static CoordinatorRequests.DecisionView View(CoordinatorState state, PolicyDecisionRecord d) =>
        new(d.Number, d.Policy, d.Mode, d.Action.Describe(), d.Action, d.Reason, d.Inputs, Outcome(state, d), d.Operation, d.Failover, d.At);

    private static string Outcome(CoordinatorState state, PolicyDecisionRecord d)
    {
        if (d.Mode == PolicyMode.Advise) return "advised";
        if (d.Operation is { } op)
            return state.Operations.TryGetValue(op, out var o)
                ? o.Status switch
                {
                    OperationStatus.Pending => $"in progress (attempt {o.Attempt})",
                    OperationStatus.Done => "done",
                    OperationStatus.Refused => $"refused: {o.Outcome}",
                    _ => $"host lost: {o.Outcome}",
                }
                : "ended (no longer kept)";
        if (d.Failover is { } f)
            return state.Failovers.TryGetValue(f, out var r)
                ? r.Status switch
                {
                    FailoverStatus.Completed => $"done: on {r.Target}",
                    FailoverStatus.Commanded => $"attaching on {r.Target}",
                    FailoverStatus.Unplaced => $"unplaced: {r.Steps[^1].What}",
                    FailoverStatus.Cancelled => $"cancelled: {r.Steps[^1].What}",
                    _ => "detaching from its host",
                }
                : "ended (no longer kept)";
        return "recommended to the orchestrator";
    }
}
