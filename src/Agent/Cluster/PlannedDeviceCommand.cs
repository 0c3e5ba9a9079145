using Replug.Agent.Devices;
using Replug.Agent.Ports;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;

namespace Replug.Agent.Cluster;

/// <summary>Which way a planned hot-plug command goes (DPDK's dev_detach / dev_attach, by an operator or a policy).</summary>
public enum PlannedChange
{
    Detach,
    Attach,
}

/// <summary>What a planned command does after it heard of its device.</summary>
public abstract record PlannedProgress
{
    /// <summary>The device is on its way: wait for its next state.</summary>
    public sealed record Wait : PlannedProgress;

    /// <summary>The device is where it should be; ask the next one (a PCI function after its net interfaces).</summary>
    public sealed record Next(DeviceId Device) : PlannedProgress;

    /// <summary>Every device is where it should be: acknowledge.</summary>
    public sealed record Done : PlannedProgress;

    /// <summary>The command cannot be carried out: refuse it with the reason.</summary>
    public sealed record Failed(string Reason) : PlannedProgress;

    public static readonly PlannedProgress Waiting = new Wait();
    public static readonly PlannedProgress Finished = new Done();
}

/// <summary>
/// One planned detach or attach, as a pure decision over what the device's supervisor says: the
/// devices it takes out or brings back one at a time, in order (a PCI function's net interfaces
/// before the function, so their ports remap before the function is removed), and when it is done.
/// A detach is done when the last device is Detached; an attach when it is Active, and failed when
/// its restore failed (Restoring -> Detached).
/// </summary>
public sealed class PlannedDeviceCommand
{
    private readonly IReadOnlyList<DeviceId> _order;
    private int _current;

    /// <param name="order">The devices to take out or bring back, in order; the last is <paramref name="device"/>.</param>
    public PlannedDeviceCommand(CommandId id, PlannedChange change, DeviceId device, IReadOnlyList<DeviceId> order)
    {
        if (order.Count == 0 || order[^1] != device) throw new ArgumentException($"the order must end with {device}", nameof(order));
        Id = id;
        Change = change;
        Device = device;
        _order = order;
    }

    public CommandId Id { get; }
    public PlannedChange Change { get; }
    /// <summary>The device the command names.</summary>
    public DeviceId Device { get; }
    /// <summary>The device asked now.</summary>
    public DeviceId Current => _order[_current];
    public IReadOnlyList<DeviceId> Order => _order;
    public DeviceState Target => Change == PlannedChange.Detach ? DeviceState.Detached : DeviceState.Active;

    /// <summary>The supervisor's state right after it was asked (to drain or undrain).</summary>
    public PlannedProgress OnAnswer(DeviceId device, DeviceState state, string lastReason)
    {
        if (device != Current) return PlannedProgress.Waiting; // a late answer about a device already done
        if (state == Target) return Advance();
        return (Change, state) switch
        {
            (PlannedChange.Detach, DeviceState.Draining or DeviceState.Faulted) => PlannedProgress.Waiting,
            (PlannedChange.Detach, DeviceState.Restoring) => new PlannedProgress.Failed($"{device} is being restored ({lastReason}): detach it once it is in service"),
            (PlannedChange.Attach, DeviceState.Restoring or DeviceState.Probed) => PlannedProgress.Waiting,
            (PlannedChange.Attach, DeviceState.Draining or DeviceState.Faulted) => new PlannedProgress.Failed($"{device} is being detached ({state}: {lastReason}): attach it once it is detached"),
            (PlannedChange.Attach, DeviceState.Detached) => new PlannedProgress.Failed($"{device} could not be restored: {lastReason}"),
            _ => new PlannedProgress.Failed($"{device} is {state} ({lastReason}): not a state it can be {(Change == PlannedChange.Detach ? "detached" : "attached")} from"),
        };
    }

    /// <summary>
    /// A state change of a device (as the watcher publishes them). Changes that lead elsewhere are
    /// waited out: a retry of the command asks the device again.
    /// </summary>
    public PlannedProgress OnChange(DeviceStateChanged change)
    {
        if (change.Device != Current) return PlannedProgress.Waiting;
        if (change.To == Target) return Advance();
        // Only the restore's own failure ends an attach: a stale "-> Detached" of the drain before it does not.
        if (Change == PlannedChange.Attach && change is { From: DeviceState.Restoring, To: DeviceState.Detached })
            return new PlannedProgress.Failed($"{change.Device} could not be restored: {change.Reason}");
        return PlannedProgress.Waiting;
    }

    /// <summary>The watcher has no supervisor for the device: it is not one this host knows.</summary>
    public PlannedProgress OnUnknown(DeviceId device) =>
        device == Current ? new PlannedProgress.Failed($"{device} is not a device this host knows") : PlannedProgress.Waiting;

    private PlannedProgress Advance()
    {
        if (_current == _order.Count - 1) return PlannedProgress.Finished;
        _current++;
        return new PlannedProgress.Next(Current);
    }

    /// <summary>
    /// Why taking <paramref name="leaving"/> out of service would leave a port of this host without
    /// a healthy device, or null when it would not. A port is affected when one of its healthy
    /// members leaves; it keeps its traffic when another healthy member stays, one that is neither
    /// leaving nor <paramref name="alsoLeaving"/> (devices other planned detaches are taking out).
    /// </summary>
    public static string? WhyNotDetach(IReadOnlyCollection<DeviceId> leaving, IEnumerable<PortStatus> ports, IReadOnlySet<DeviceId> alsoLeaving)
    {
        var stranded = ports
            .Where(p => p.Healthy.Any(leaving.Contains))
            .Where(p => !p.Healthy.Any(d => !leaving.Contains(d) && !alsoLeaving.Contains(d)))
            .OrderBy(p => p.Port.Value, StringComparer.Ordinal)
            .Select(p => $"port {p.Port} (healthy: {string.Join(", ", p.Healthy)}{Others(p, alsoLeaving)})")
            .ToList();
        return stranded.Count == 0 ? null
            : $"detaching {string.Join(", ", leaving)} would leave {string.Join("; ", stranded)} without a healthy device";
    }

    /// <summary>The ports that move their traffic off <paramref name="leaving"/> first (its active device leaves).</summary>
    public static IReadOnlyList<PortId> Remapped(IReadOnlyCollection<DeviceId> leaving, IEnumerable<PortStatus> ports) =>
        [.. ports.Where(p => p.Active is { } active && leaving.Contains(active)).Select(p => p.Port).OrderBy(p => p.Value, StringComparer.Ordinal)];

    private static string Others(PortStatus port, IReadOnlySet<DeviceId> alsoLeaving)
    {
        var going = port.Healthy.Where(alsoLeaving.Contains).ToList();
        return going.Count == 0 ? "" : $"; being detached by another command: {string.Join(", ", going)}";
    }
}
