using Akka.Actor;
using Replug.Shared.Devices;
using Replug.Shared.Uevents;

namespace Replug.Agent.Devices;

/// <summary>
/// Messages between the agent's local actors. They never leave the process (what crosses the
/// network is in Replug.Shared.Protocol with its own serializer), so they may carry actor refs
/// and the parsed <see cref="Uevent"/>.
/// </summary>
public static class DeviceProtocol
{
    // From the source (on its thread) to the watcher.
    public sealed record UeventRejected(UeventRejection Reason, string Detail);
    public sealed record SourceOverflowed;
    public sealed record SourceCompleted(Exception? Error);

    /// <summary>Rescan sysfs and publish the difference as events (start-up, overflow, or on demand).</summary>
    public sealed record Resync(string Reason);
    public sealed record ResyncCompleted(int Added, int Removed, int Changed);

    // Subscriptions (the seed's rte_dev_callback_register / unregister).
    public sealed record Subscribe(IActorRef Subscriber, DeviceEventFilter Filter);
    public sealed record Unsubscribe(IActorRef Subscriber);
    public sealed record SubscriptionAck(DeviceEventFilter Filter);

    /// <summary>A port wants to hear of a device's health: sent to the watcher, which tells that device's supervisor.</summary>
    public sealed record RegisterPortMember(PortId Port, DeviceId Member, IActorRef Group);

    // Operator requests, routed by the watcher to the device's supervisor.
    public sealed record DrainDevice(DeviceId Device, string Reason);
    public sealed record UndrainDevice(DeviceId Device);
    public sealed record UnknownDevice(DeviceId Device);

    public sealed record GetDevices;
    public sealed record DeviceList(IReadOnlyList<DeviceStatus> Devices);
    public sealed record GetDeviceStatus;
    public sealed record GetWatcherStats;

    // Supervisor <-> its ports.
    /// <param name="TriggerTimestamp">Stopwatch timestamp of the event that caused it (0 if none), to measure reaction time.</param>
    public sealed record MemberHealthy(DeviceId Device, long TriggerTimestamp = 0);
    public sealed record MemberUnhealthy(DeviceId Device, string Reason, long RemapId, long TriggerTimestamp = 0);
    public sealed record RemapCompleted(DeviceId Device, PortId Port, long RemapId);

    // Watcher -> supervisor.
    public sealed record Signal(DeviceSignal What, string Reason, Uevent? Uevent = null);
    public sealed record AddInterest(PortId Port, IActorRef Group);
}

/// <summary>Which device events a subscriber wants: one device, one subsystem, or all.</summary>
public sealed record DeviceEventFilter(DeviceId? Device = null, string? Subsystem = null)
{
    public static readonly DeviceEventFilter All = new();
    public static DeviceEventFilter ForDevice(DeviceId device) => new(device);
    public static DeviceEventFilter ForSubsystem(string subsystem) => new(null, subsystem);

    public bool Matches(DeviceId device) =>
        (Device is null || Device == device) && (Subsystem is null || Subsystem == device.Subsystem);
}

/// <summary>Something that happened on this host, for subscribers and the bounded history.</summary>
public interface IAgentEvent
{
    DateTimeOffset At { get; }
}

/// <summary>A uevent (or a resync's synthesised event) about a device, after filtering and de-duplication.</summary>
public sealed record DeviceEvent(DeviceId Device, Uevent Uevent, DateTimeOffset At) : IAgentEvent;

/// <summary>A supervisor's state changed.</summary>
public sealed record DeviceStateChanged(DeviceId Device, DeviceState From, DeviceState To, string Reason, DateTimeOffset At) : IAgentEvent
{
    public override string ToString() => $"{Device}: {From} -> {To} ({Reason})";
}

public sealed record DeviceStatus(DeviceId Device, DeviceState State, bool Present, IReadOnlyList<PortId> Ports,
    IReadOnlyList<DeviceStateChanged> History);

public sealed record WatcherStats(long Received, long Filtered, long Duplicates, long Rejected, long Overflows,
    long Resyncs, long Synthesised, ulong LastSeqNum, int Devices, int Subscribers);
