using Replug.Agent.Devices;
using Replug.Shared.Devices;

namespace Replug.Agent.Ports;

/// <summary>A port moved its traffic. Timestamps are Stopwatch ticks: trigger = when the causing uevent was received.</summary>
/// <param name="Prepared">The port prepared it and the uevent source's thread carried it out (<see cref="PreparedSwitch"/>).</param>
public sealed record PortSwitched(PortId Port, DeviceId? From, DeviceId To, string Reason,
    long TriggerTimestamp, long CompletedTimestamp, DateTimeOffset At, bool Prepared = false) : IAgentEvent
{
    public TimeSpan? Reaction => TriggerTimestamp == 0 ? null
        : System.Diagnostics.Stopwatch.GetElapsedTime(TriggerTimestamp, CompletedTimestamp);
}

/// <summary>The data path could not carry out a switch.</summary>
public sealed record PortSwitchFailed(PortId Port, DeviceId? From, DeviceId To, string Error, DateTimeOffset At) : IAgentEvent;

/// <summary>A port has no healthy sub-device left: the coordinator must move it to another host.</summary>
public sealed record PortEscalated(PortId Port, string Reason, DateTimeOffset At) : IAgentEvent;

/// <summary>A port that had escalated carries traffic again.</summary>
public sealed record PortRecovered(PortId Port, DeviceId Active, DateTimeOffset At) : IAgentEvent;

public sealed record PortStatus(PortId Port, DeviceId? Active, IReadOnlyList<DeviceId> Members,
    IReadOnlyList<DeviceId> Healthy, bool Revertive, bool Escalated, string DataPath, bool Fenced = false);

/// <summary>A port was fenced (its traffic taken down) or unfenced.</summary>
public sealed record PortFenced(PortId Port, bool Fenced, string Reason, DateTimeOffset At) : IAgentEvent;

public static class PortProtocol
{
    public sealed record GetPortStatus;

    /// <summary>Take the port's traffic down at once and keep it down (self-fencing, detach); health is still tracked.</summary>
    public sealed record Fence(string Reason);

    /// <summary>Carry traffic again on the device the port would choose now.</summary>
    public sealed record Unfence(string Reason);
    public sealed record FenceAck(PortId Port, bool Fenced);

    /// <summary>Move the port's traffic to <paramref name="Device"/>, one of its healthy members; answered with <see cref="SwitchToDone"/> once done.</summary>
    public sealed record SwitchTo(DeviceId Device, string Reason);

    /// <param name="Error">Null: the port's traffic is on <paramref name="Device"/> (a fenced port: it will be once unfenced); else why not.</param>
    public sealed record SwitchToDone(PortId Port, DeviceId Device, string? Error);
}
