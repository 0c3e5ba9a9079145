using Replug.Coordinator.Singleton;
using Replug.Shared.Protocol;
using static Replug.Shared.Protocol.HostProtocol;

namespace Replug.Coordinator.Tests.Simulation;

/// <summary>Messages and events in one short line each, naming hosts, ports and devices as the trace filter expects.</summary>
public static class SimText
{
    public static string Of(object message) => message switch
    {
        RegisterHost r => $"RegisterHost({r.Host} inc {r.Incarnation}, nics {r.Inventory.Nics.Count}, ports [{string.Join(" ", r.Inventory.Ports.Select(p => p.Port))}], capacity {r.Inventory.Capacity})",
        HostRegistered r => $"HostRegistered({r.Host} epoch {r.Epoch}, owned [{string.Join(" ", r.OwnedPorts)}])",
        NicAdded a => $"NicAdded({a.Host} {a.Nic.Device.Name} {a.Nic.Identity.Value})",
        NicRemoved r => $"NicRemoved({r.Host} {r.Device.Name} {r.Identity.Value})",
        PortChanged c => $"PortChanged({c.Host} {Port(c.Port)})",
        PortEscalated e => $"PortEscalated({e.Host} {e.Port}: {e.Reason})",
        AttachPort a => $"AttachPort({a.Id} epoch {a.Epoch} {a.Port.Port}{(a.Devices is { } d ? $" over [{string.Join(" ", d.Select(x => x.Name))}]" : "")})",
        DetachPort d => $"DetachPort({d.Id} epoch {d.Epoch} {d.Port})",
        CommandAcknowledged a => $"CommandAcknowledged({a.Id} {a.Host} epoch {a.Epoch})",
        CommandRefused r => $"CommandRefused({r.Id} {r.Host}: {r.Reason}; newest {r.NewestEpoch})",
        OperatorProtocol.MigrationNotice m => $"MigrationNotice({m.Nic.Value} {m.From}->{m.To} {m.Phase})",
        CoordinatorEvents.HostRegistered r => $"HostRegistered({r.Host} inc {r.Incarnation}, ports [{string.Join(" ", r.Inventory.Ports.Select(p => p.Port))}])",
        CoordinatorEvents.PortReported p => $"PortReported({p.Host} {Port(p.Port)})",
        CoordinatorEvents.NicAdded a => $"NicAdded({a.Host} {a.Nic.Device.Name} {a.Nic.Identity.Value})",
        CoordinatorEvents.NicRemoved r => $"NicRemoved({r.Host} {r.Device.Name} {r.Identity.Value})",
        ICoordinatorEvent e => Trim(e.ToString() ?? e.GetType().Name),
        _ => Trim(message.ToString() ?? message.GetType().Name),
    };

    private static string Port(PortReport p) =>
        $"{p.Port} [{string.Join(" ", p.Members.Select(m => m.Name))}] active {p.Active?.Name ?? "none"}{(p.Escalated ? " escalated" : "")}";

    /// <summary>A record's text without its timestamp (the trace has its own) and its namespace noise.</summary>
    private static string Trim(string text)
    {
        var at = text.IndexOf(", At = ", StringComparison.Ordinal);
        if (at >= 0)
        {
            var end = text.IndexOf(" }", at, StringComparison.Ordinal);
            text = end > at ? text[..at] + text[end..] : text[..at];
        }
        return text.Replace("Replug.Shared.Devices.", "", StringComparison.Ordinal);
    }
}
