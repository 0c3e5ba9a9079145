using Replug.Shared.Devices;

namespace Replug.Coordinator.Tests.Simulation;

/// <summary>
/// A host's data path as the kernel holds it: the NICs present and, per logical port, the device
/// enslaved to it. It outlives the agent's process: only a power-off, a device's removal or an
/// explicit switch / deactivation changes it. A port forwards here when its device is present.
/// </summary>
public sealed class SimKernel
{
    private readonly SortedDictionary<string, (DeviceId Device, NicIdentity Identity)> _nics = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, DeviceId> _active = new(StringComparer.Ordinal);
    // Links taken down on purpose (a planned detach): the device is present, nothing passes through it.
    private readonly SortedSet<string> _down = new(StringComparer.Ordinal);

    public bool PoweredOn { get; set; } = true;

    /// <summary>
    /// Raised whenever the data path lost what commands put in it without a command (power off,
    /// the agent's coordinated shutdown): re-applying a command after that is a repair, not a repeat.
    /// </summary>
    public int Generation { get; set; }

    /// <summary>Raised on every change that can change what forwards, so invariants are checked only then.</summary>
    public int Version { get; private set; }

    public IEnumerable<(DeviceId Device, NicIdentity Identity)> Nics => _nics.Values;
    public IEnumerable<KeyValuePair<string, DeviceId>> ActivePorts => _active;

    public bool Has(DeviceId device) => _nics.ContainsKey(device.Name);

    public NicIdentity? IdentityOf(DeviceId device) => _nics.TryGetValue(device.Name, out var n) ? n.Identity : null;

    public DeviceId? ActiveOf(PortId port) => _active.TryGetValue(port.Value, out var d) ? d : null;

    public bool Forwards(PortId port) => PoweredOn && _active.TryGetValue(port.Value, out var d) && Has(d) && !_down.Contains(d.Name);

    public bool IsDown(DeviceId device) => _down.Contains(device.Name);

    /// <summary>A planned detach takes the link down (the device stays, no uevent); an attach brings it up.</summary>
    public void SetLink(DeviceId device, bool up)
    {
        if (up ? _down.Remove(device.Name) : _down.Add(device.Name)) Version++;
    }

    public void Plug(DeviceId device, NicIdentity identity)
    {
        _nics[device.Name] = (device, identity);
        Version++;
    }

    /// <summary>A surprise removal: the device leaves every port it was enslaved to.</summary>
    public void Unplug(DeviceId device)
    {
        _nics.Remove(device.Name);
        _down.Remove(device.Name); // a device inserted again comes with its link up (the agent configures it)
        foreach (var port in _active.Where(a => a.Value == device).Select(a => a.Key).ToList()) _active.Remove(port);
        Version++;
    }

    /// <summary>
    /// Enslaves <paramref name="to"/> for the port and brings its link up; fails when the device is
    /// not here. The link comes up because the real data path does so in the same request
    /// (BridgeDataPath.Enslave: one RTM_SETLINK with IFLA_MASTER and IFF_UP): a device a planned
    /// detach took down, chosen again by an agent that restarted since and so does not know it was
    /// drained, forwards.
    /// </summary>
    public bool Switch(PortId port, DeviceId to)
    {
        if (!Has(to)) return false;
        var changed = !_active.TryGetValue(port.Value, out var before) || before != to;
        changed |= _down.Remove(to.Name);
        _active[port.Value] = to;
        if (changed) Version++;
        return changed;
    }

    /// <summary>Takes <paramref name="device"/> out of the port's path (nothing if another device carries it). True if the path changed.</summary>
    public bool Deactivate(PortId port, DeviceId device)
    {
        if (!_active.TryGetValue(port.Value, out var current) || current != device) return false;
        _active.Remove(port.Value);
        Version++;
        return true;
    }

    /// <summary>Power off: every port stops; the NICs stay in their slots.</summary>
    public void PowerOff()
    {
        PoweredOn = false;
        Generation++;
        _active.Clear();
        Version++;
    }

    public void PowerOn()
    {
        PoweredOn = true;
        Version++;
    }
}
