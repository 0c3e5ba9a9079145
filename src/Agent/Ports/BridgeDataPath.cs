using System.Collections.Concurrent;
using System.Diagnostics;
using Replug.Agent.Linux;
using Replug.Shared.Devices;

namespace Replug.Agent.Ports;

/// <summary>
/// A data path where each logical port is a Linux bridge (the VM's tap on one side, the
/// active sub-device on the other): switching = enslaving the next net device to the port's
/// bridge and releasing the previous one, through rtnetlink in one round trip each.
/// <para>
/// Make before break: the next device is enslaved and brought up before the previous one is
/// released, so a moment with both beats a moment with none. Devices are addressed by name
/// (a re-created veth gets a new ifindex; the kernel resolves the name itself); the bridge's
/// ifindex, which IFLA_MASTER needs, is cached and looked up again by name when the kernel
/// refuses it (the bridge was re-created).
/// </para>
/// <para>
/// Make before break holds for traffic, not only for membership: a port of a bridge forwards
/// only once its link is operationally up (netif_oper_up; without STP the port forwards from
/// then on), and a device just brought up gets there asynchronously (the kernel's linkwatch,
/// after its peer or carrier). So while the previous device is still present, it is released
/// only once the next one is up, or after <see cref="OperUpWait"/> (a device that never comes up
/// must not keep the port on both). A previous device already gone costs one lookup.
/// </para>
/// <para>
/// The work is a few syscalls, so the tasks returned are already completed. A device that
/// is gone (ENODEV) counts as released: a removed device is in no bridge. Releasing does not
/// check which bridge the previous device is in: a sub-device belongs to one port.
/// </para>
/// <para>
/// Cost, measured here (kernel 6.18, veths in a namespace): one rtnetlink round trip is
/// ~4 µs; the kernel's own work dominates: enslaving ~80 µs (br_add_if builds the brport
/// sysfs entries and links), releasing ~120 µs with millisecond tails, because br_del_if
/// ends in netdev_rx_handler_unregister, which waits for an RCU grace period
/// (synchronize_net, net/core/dev.c). Traffic moves when the enslave returns; the release
/// comes after.
/// </para>
/// </summary>
public sealed class BridgeDataPath : IDataPath, IDisposable
{
    private readonly Func<PortId, string?> _bridgeOf;
    private readonly string? _networkNamespace;
    private readonly ConcurrentDictionary<string, int> _bridgeIndexes = new(StringComparer.Ordinal);
    private readonly Lock _openGate = new();
    private readonly TimeSpan _operUpWait;
    private Rtnetlink? _rtnetlink;
    private bool _disposed;

    /// <summary>
    /// How long a switch keeps the previous device while the next one is not yet operationally up
    /// (default). Above a second: the kernel's linkwatch turns a NIC's carrier into "up" at most once
    /// a second for all but stacked devices (net/core/link_watch.c, non-urgent events), so a
    /// returning physical NIC can read down for up to a second after it has carrier. Only a revert
    /// or a planned move waits here; a lost device's switch finds the previous one gone and does not.
    /// </summary>
    public static readonly TimeSpan DefaultOperUpWait = TimeSpan.FromMilliseconds(1500);

    /// <summary>A data path over a fixed map of ports to bridge names.</summary>
    public BridgeDataPath(IReadOnlyDictionary<PortId, string> bridges, string? networkNamespace = null, TimeSpan? operUpWait = null)
        : this(port => bridges.TryGetValue(port, out var bridge) ? bridge : null, networkNamespace, operUpWait)
    {
        ArgumentNullException.ThrowIfNull(bridges);
    }

    /// <summary>
    /// A data path that asks <paramref name="bridgeOf"/> for a port's bridge (null: none), in
    /// network namespace <paramref name="networkNamespace"/> (null: the agent's own). The
    /// rtnetlink socket is opened on first use, so a namespace may appear after construction.
    /// </summary>
    /// <param name="operUpWait">How long a switch keeps the previous device while the next is not operationally up (<see cref="DefaultOperUpWait"/>).</param>
    public BridgeDataPath(Func<PortId, string?> bridgeOf, string? networkNamespace = null, TimeSpan? operUpWait = null)
    {
        _operUpWait = operUpWait ?? DefaultOperUpWait;
        if (_operUpWait < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(operUpWait), _operUpWait, "must not be negative");
        _bridgeOf = bridgeOf ?? throw new ArgumentNullException(nameof(bridgeOf));
        if (!string.IsNullOrEmpty(networkNamespace) && !DeviceNames.IsSafe(networkNamespace))
            throw new ArgumentException($"invalid network namespace name '{networkNamespace}'", nameof(networkNamespace));
        _networkNamespace = string.IsNullOrEmpty(networkNamespace) ? null : networkNamespace;
    }

    public string Kind => "bridge";

    /// <inheritdoc cref="DefaultOperUpWait"/>
    public TimeSpan OperUpWait => _operUpWait;

    /// <summary>A few syscalls on the caller's thread (the rtnetlink socket is shared under a lock).</summary>
    public bool SwitchesInline => true;

    public Task<DataPathResult> SwitchAsync(PortId port, DeviceId? previous, DeviceId next, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested) return Task.FromCanceled<DataPathResult>(cancellationToken);
        return Task.FromResult(Switch(port, previous, next));
    }

    public Task<DataPathResult> DeactivateAsync(PortId port, DeviceId device, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested) return Task.FromCanceled<DataPathResult>(cancellationToken);
        return Task.FromResult(Deactivate(port, device));
    }

    private DataPathResult Switch(PortId port, DeviceId? previous, DeviceId next)
    {
        if (BridgeOf(port, out var bridge) is { } noBridge) return noBridge;
        if (CheckNetDevice(next) is { } badNext) return badNext;
        if (Socket(out var rtnl) is { } noSocket) return noSocket;

        var enslaved = Enslave(rtnl, bridge, next.Name);
        if (!enslaved.Succeeded)
            return DataPathResult.Fail($"cannot enslave {next.Name} to bridge {bridge} for port {port}: {enslaved}");

        // A previous device that is not a net device (a VF handed to vfio) was never in the bridge.
        if (previous is not { Subsystem: Subsystems.Net } old || old.Name == next.Name) return DataPathResult.Ok;
        if (CheckNetDevice(old) is { } badPrevious) return badPrevious;

        AwaitOperationallyUp(rtnl, next.Name, old.Name);
        var released = Release(rtnl, old.Name);
        return released.Succeeded
            ? DataPathResult.Ok
            : DataPathResult.Fail($"{next.Name} now carries port {port} on bridge {bridge}, but {old.Name} could not be released: {released}");
    }

    private DataPathResult Deactivate(PortId port, DeviceId device)
    {
        if (device.Subsystem != Subsystems.Net) return DataPathResult.Ok; // never in a bridge
        if (CheckNetDevice(device) is { } bad) return bad;
        if (Socket(out var rtnl) is { } noSocket) return noSocket;

        var released = Release(rtnl, device.Name);
        return released.Succeeded
            ? DataPathResult.Ok
            : DataPathResult.Fail($"cannot release {device.Name} from the bridge of port {port}: {released}");
    }

    /// <summary>
    /// Enslaves and brings up <paramref name="device"/> in one RTM_SETLINK. With a cached
    /// bridge index that the kernel refuses (EINVAL: no such master; EOPNOTSUPP: the index now
    /// names a device that takes no ports), the bridge is looked up again and, if its index
    /// changed, the request is retried once.
    /// </summary>
    private RtnlResult Enslave(Rtnetlink rtnl, string bridge, string device)
    {
        var cached = _bridgeIndexes.TryGetValue(bridge, out var index);
        if (!cached)
        {
            var lookup = ResolveBridge(rtnl, bridge, out index);
            if (!lookup.Succeeded) return lookup;
        }

        var result = rtnl.SetLink(device, masterIfIndex: index, up: true);
        if (result.Succeeded || !cached || result.Errno == Libc.ENODEV) return result; // ENODEV: the device, not the bridge

        var again = ResolveBridge(rtnl, bridge, out var current);
        if (!again.Succeeded) return again;
        return current == index ? result : rtnl.SetLink(device, masterIfIndex: current, up: true);
    }

    private RtnlResult ResolveBridge(Rtnetlink rtnl, string bridge, out int index)
    {
        var lookup = rtnl.GetLinkIndex(bridge, out index);
        if (lookup.Succeeded) _bridgeIndexes[bridge] = index;
        else _bridgeIndexes.TryRemove(bridge, out _);
        return lookup.Succeeded ? lookup : RtnlResult.Fail(lookup.Errno, $"bridge {bridge} not found");
    }

    /// <summary>
    /// Returns once <paramref name="next"/> is operationally up, <paramref name="previous"/> is
    /// gone (nothing left to keep forwarding: a surprise removal pays one lookup here), or
    /// <see cref="OperUpWait"/> has passed. Polled: the state comes from the kernel's linkwatch
    /// within milliseconds for a veth or a NIC with carrier.
    /// </summary>
    private void AwaitOperationallyUp(Rtnetlink rtnl, string next, string previous)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(_operUpWait.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            if (!rtnl.GetLink(next, out var link).Succeeded || link.IsOperationallyUp) return;
            if (rtnl.GetLinkIndex(previous, out _).Errno == Libc.ENODEV) return;
            if (Stopwatch.GetTimestamp() >= deadline) return;
            Thread.Sleep(1);
        }
    }

    /// <summary>Sets "nomaster" (IFLA_MASTER 0); a device that no longer exists is released already.</summary>
    private static RtnlResult Release(Rtnetlink rtnl, string device)
    {
        var result = rtnl.SetMaster(device, 0);
        return result.Errno == Libc.ENODEV ? RtnlResult.Ok : result;
    }

    private DataPathResult? BridgeOf(PortId port, out string bridge)
    {
        bridge = _bridgeOf(port) ?? "";
        if (bridge.Length == 0) return DataPathResult.Fail($"port {port} has no bridge configured");
        if (!DeviceNames.IsSafe(bridge)) return DataPathResult.Fail($"port {port} has an invalid bridge name '{bridge}'");
        return null;
    }

    private static DataPathResult? CheckNetDevice(DeviceId device)
    {
        if (device.Subsystem != Subsystems.Net)
            return DataPathResult.Fail($"the bridge data path carries net interfaces; {device} is not one");
        if (!Rtnetlink.IsInterfaceName(device.Name))
            return DataPathResult.Fail($"invalid interface name '{device.Name}'");
        return null;
    }

    private DataPathResult? Socket(out Rtnetlink rtnl)
    {
        lock (_openGate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_rtnetlink is null)
            {
                try { _rtnetlink = Rtnetlink.Open(_networkNamespace); }
                catch (Exception e) when (e is IOException or ArgumentException)
                {
                    rtnl = null!;
                    var where = _networkNamespace is null ? "" : $" in network namespace {_networkNamespace}";
                    return DataPathResult.Fail($"cannot open rtnetlink{where}: {e.Message}");
                }
            }
            rtnl = _rtnetlink;
            return null;
        }
    }

    public void Dispose()
    {
        lock (_openGate)
        {
            _disposed = true;
            _rtnetlink?.Dispose();
            _rtnetlink = null;
        }
    }
}
