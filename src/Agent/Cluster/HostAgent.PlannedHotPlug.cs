using Akka.Actor;
using Akka.Event;
using Replug.Agent.Devices;
using Replug.Agent.Ports;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using static Replug.Shared.Protocol.HostProtocol;

namespace Replug.Agent.Cluster;

/// <summary>
/// The coordinator's planned hot plug on this host (DPDK's dev_detach / dev_attach, an operator's or a
/// policy's): a device taken out of service after every port using it moved its traffic off it, or
/// brought back; and a port's traffic moved to another of its members. Each is acknowledged once
/// DONE (the device Detached or Active, the port switched), and a copy that arrives while it is under
/// way is neither refused nor acknowledged early.
/// </summary>
public sealed partial class HostAgent
{
    private sealed record DetachChecked(CommandId Id, IReadOnlyList<PortStatus> Ports, string? Error);
    private sealed record SwitchAnswered(SwitchPortDevice Command, PortProtocol.SwitchToDone? Answer);

    /// <summary>
    /// A planned detach or attach under way, and who to answer: the sender of the latest copy, with
    /// that copy's epoch (after a hand-over the new coordinator retries under its own epoch, and it
    /// judges only answers of its own epoch).
    /// </summary>
    private sealed class PlannedInFlight(PlannedDeviceCommand command, IActorRef replyTo, long epoch, string reason)
    {
        public PlannedDeviceCommand Command { get; } = command;
        public IActorRef ReplyTo { get; set; } = replyTo;
        public long Epoch { get; set; } = epoch;
        public string Reason { get; } = reason;
        /// <summary>Its ports were checked and its devices asked: it takes them out (or brings them back) now.</summary>
        public bool Started { get; set; }
    }

    /// <summary>How long a port may take to give its state for a detach's check.</summary>
    private static readonly TimeSpan PortStatusTimeout = TimeSpan.FromSeconds(3);
    /// <summary>How long a port may take to switch on request: past it the command is left unanswered, and the coordinator's retry asks again.</summary>
    private static readonly TimeSpan PortSwitchTimeout = TimeSpan.FromSeconds(15);

    private readonly Dictionary<CommandId, PlannedInFlight> _planned = [];
    // Switches under way: who to answer, with the epoch of the latest copy.
    private readonly Dictionary<CommandId, (IActorRef ReplyTo, long Epoch)> _switching = [];

    private void OnDetachDevice(DetachDevice detach)
    {
        if (!Admit(detach.Id, detach.Epoch, detach.Incarnation) || Retried(detach.Id, detach.Epoch)) return;
        // A PCI function takes its net interfaces with it: they are taken out first, so their ports
        // remap while the function is still there, and it is removed last.
        List<DeviceId> order = [.. BackedBy(detach.Device), detach.Device];
        var command = new PlannedDeviceCommand(detach.Id, PlannedChange.Detach, detach.Device, order);
        _planned[detach.Id] = new PlannedInFlight(command, Sender, detach.Epoch, detach.Reason);
        _log.Info("Host {0}, command {1}: detach {2} ({3}): checking that every port using {4} keeps a healthy device",
            _settings.Host, detach.Id, detach.Device, detach.Reason, string.Join(", ", order));
        // Fresh states, not the last reports: a standby that failed since moved no port, so no report said it.
        var asked = _ports.Where(p => !_members.TryGetValue(p.Key, out var members) || members.Any(order.Contains)).ToList();
        Task.WhenAll(asked.Select(p => p.Value.Ask<PortStatus>(new PortProtocol.GetPortStatus(), PortStatusTimeout)))
            .ContinueWith(t => t.IsCompletedSuccessfully
                    ? new DetachChecked(detach.Id, t.Result, null)
                    : new DetachChecked(detach.Id, [], $"port(s) {string.Join(", ", asked.Select(p => p.Key))} did not all give their state within {PortStatusTimeout.TotalSeconds:0} s"),
                TaskScheduler.Default)
            .PipeTo(Self);
    }

    private void OnDetachChecked(DetachChecked check)
    {
        if (!_planned.TryGetValue(check.Id, out var inFlight) || inFlight.Started) return;
        var command = inFlight.Command;
        var alsoLeaving = _planned.Values.Where(p => p.Started && p.Command.Change == PlannedChange.Detach)
            .SelectMany(p => p.Command.Order).ToHashSet();
        if ((check.Error ?? PlannedDeviceCommand.WhyNotDetach(command.Order, check.Ports, alsoLeaving)) is { } why)
        {
            Finish(inFlight, new PlannedProgress.Failed(why));
            return;
        }
        var remapped = PlannedDeviceCommand.Remapped(command.Order, check.Ports);
        _log.Info("Host {0}, command {1}: detach {2}: {3}; taking out {4}", _settings.Host, command.Id, command.Device,
            remapped.Count == 0 ? "no port carries traffic on it" : $"port(s) {string.Join(", ", remapped)} move their traffic off it first",
            command.Current);
        Start(inFlight);
    }

    private void OnAttachDevice(AttachDevice attach)
    {
        if (!Admit(attach.Id, attach.Epoch, attach.Incarnation) || Retried(attach.Id, attach.Epoch)) return;
        var command = new PlannedDeviceCommand(attach.Id, PlannedChange.Attach, attach.Device, [attach.Device]);
        var inFlight = _planned[attach.Id] = new PlannedInFlight(command, Sender, attach.Epoch, attach.Reason);
        _log.Info("Host {Host}, command {Command}: attach {Device} ({Reason}): restoring it", _settings.Host, attach.Id, attach.Device, attach.Reason);
        Start(inFlight);
    }

    /// <summary>
    /// A copy of a planned command still under way: not refused, not acknowledged early. The device
    /// is asked again (a drain or undrain is idempotent), so a state change this agent missed cannot
    /// leave the command waiting for ever; the answer goes to the sender of the latest copy.
    /// </summary>
    private bool Retried(CommandId id, long epoch)
    {
        if (!_planned.TryGetValue(id, out var inFlight)) return false;
        inFlight.ReplyTo = Sender;
        inFlight.Epoch = epoch;
        if (inFlight.Started) RequestDevice(inFlight);
        return true;
    }

    private void Start(PlannedInFlight inFlight)
    {
        inFlight.Started = true;
        RequestDevice(inFlight);
    }

    /// <summary>Asks the current device's supervisor (through the watcher) to go out or come back: it answers with its state.</summary>
    private void RequestDevice(PlannedInFlight inFlight)
    {
        var command = inFlight.Command;
        _watcher.Tell(command.Change == PlannedChange.Detach
            ? new DeviceProtocol.DrainDevice(command.Current, $"{inFlight.Reason} (command {command.Id})")
            : new DeviceProtocol.UndrainDevice(command.Current));
    }

    private void OnDeviceAnswer(DeviceStatus status) =>
        Progress(p => p.Command.OnAnswer(status.Device, status.State, status.History is [.., var last] ? last.Reason : status.State.ToString()));

    private void OnDeviceStateChanged(DeviceStateChanged change) => Progress(p => p.Command.OnChange(change));

    /// <summary>Moves every started planned command on by what was heard of its device.</summary>
    private void Progress(Func<PlannedInFlight, PlannedProgress> heard)
    {
        foreach (var inFlight in _planned.Values.Where(p => p.Started).ToList())
        {
            var before = inFlight.Command.Current;
            var progress = heard(inFlight);
            switch (progress)
            {
                case PlannedProgress.Next next:
                    _log.Info("Host {0}, command {1}: {2} {3}; taking out {4}", _settings.Host, inFlight.Command.Id, before,
                        inFlight.Command.Target.ToString().ToLowerInvariant(), next.Device);
                    RequestDevice(inFlight);
                    break;
                case PlannedProgress.Done or PlannedProgress.Failed:
                    Finish(inFlight, progress);
                    break;
            }
        }
    }

    private void Finish(PlannedInFlight inFlight, PlannedProgress outcome)
    {
        var command = inFlight.Command;
        _planned.Remove(command.Id);
        var verb = command.Change == PlannedChange.Detach ? "detach" : "attach";
        if (outcome is PlannedProgress.Failed failed)
        {
            _log.Warning("Host {0}, command {1}: {2} {3} refused: {4}", _settings.Host, command.Id, verb, command.Device, failed.Reason);
            RefuseCommand(command.Id, inFlight.Epoch, failed.Reason, inFlight.ReplyTo);
            return;
        }
        _log.Info("Host {0}, command {1}: {2} {3} done ({4}); acknowledged", _settings.Host, command.Id, verb, command.Device,
            command.Target.ToString().ToLowerInvariant());
        AcknowledgeCommand(command.Id, inFlight.Epoch, inFlight.ReplyTo);
    }

    /// <summary>The net interfaces this host knows on a PCI function (none for a net device).</summary>
    private IEnumerable<DeviceId> BackedBy(DeviceId device) =>
        device.Subsystem != Subsystems.Pci ? []
        : _nics.Values.Where(n => n.PciSlot == device.Name).Select(n => n.Device).OrderBy(d => d.Name, StringComparer.Ordinal);

    private void OnSwitchPortDevice(SwitchPortDevice command)
    {
        if (!Admit(command.Id, command.Epoch, command.Incarnation)) return;
        if (_switching.ContainsKey(command.Id))
        {
            _switching[command.Id] = (Sender, command.Epoch); // under way: answered once the port has switched
            return;
        }
        if (!_ports.TryGetValue(command.Port, out var port))
        {
            _log.Warning("Host {0}, command {1}: switch of port {2} to {3} refused: no such port here", _settings.Host, command.Id, command.Port, command.Device);
            RefuseCommand(command.Id, command.Epoch, $"port {command.Port} is not on this host", Sender);
            return;
        }
        _switching[command.Id] = (Sender, command.Epoch);
        _log.Info("Host {Host}, command {Command}: port {Port} moves its traffic to {Device}", _settings.Host, command.Id, command.Port, command.Device);
        port.Ask<PortProtocol.SwitchToDone>(new PortProtocol.SwitchTo(command.Device, $"by the coordinator (command {command.Id})"), PortSwitchTimeout)
            .ContinueWith(t => new SwitchAnswered(command, t.IsCompletedSuccessfully ? t.Result : null), TaskScheduler.Default)
            .PipeTo(Self);
    }

    private void OnSwitchAnswered(SwitchAnswered answered)
    {
        var command = answered.Command;
        if (!_switching.Remove(command.Id, out var answer)) return;
        var (replyTo, epoch) = answer;
        switch (answered.Answer)
        {
            case null:
                // Maybe still switching: no answer, so the coordinator's retry asks the port again.
                _log.Warning("Host {0}, command {1}: port {2} has not switched to {3} within {4} s; waiting for a retry",
                    _settings.Host, command.Id, command.Port, command.Device, PortSwitchTimeout.TotalSeconds);
                break;
            case { Error: { } error }:
                _log.Warning("Host {0}, command {1}: switch of port {2} to {3} refused: {4}", _settings.Host, command.Id, command.Port, command.Device, error);
                RefuseCommand(command.Id, epoch, error, replyTo);
                break;
            default:
                _log.Info("Host {Host}, command {Command}: port {Port} is on {Device}; acknowledged", _settings.Host, command.Id, command.Port, command.Device);
                AcknowledgeCommand(command.Id, epoch, replyTo);
                break;
        }
    }
}
