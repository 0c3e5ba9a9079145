using Replug.Shared.Devices;

namespace Replug.Agent.Devices;

/// <summary>The outcome of one device operation; a failure carries a reason an operator can act on.</summary>
public readonly record struct BusResult(bool Succeeded, string? Error)
{
    public static readonly BusResult Ok = new(true, null);
    public static BusResult Fail(string error) => new(false, error);
    public override string ToString() => Succeeded ? "ok" : $"failed: {Error}";
}

/// <summary>
/// The host's device operations over sysfs (the seed's bus layer: find_device_by_name,
/// dev_bind_driver, remove, rescan). Every path built from a device name is validated to
/// stay under <see cref="Root"/>, because names come from untrusted uevents.
/// Implementations are synchronous: sysfs writes are fast and callers bound them in time.
/// </summary>
public interface IDeviceBus
{
    /// <summary>The sysfs root ("/sys" in production, a temporary tree in tests).</summary>
    string Root { get; }

    /// <summary>Coldplug: every PCI device and net interface under the root now.</summary>
    DeviceInventory Scan();

    /// <summary>Whether the device exists under the root now.</summary>
    bool Exists(DeviceId device);

    PciDeviceInfo? FindPci(string slot);
    NetInterfaceInfo? FindNet(string interfaceName);

    /// <summary>Binds a PCI device to a driver: driver_override, then drivers_probe.</summary>
    BusResult BindDriver(string slot, string driver);

    /// <summary>Unbinds a PCI device from its current driver (no-op when it has none).</summary>
    BusResult Unbind(string slot);

    /// <summary>Removes a PCI device (bus/pci/devices/SLOT/remove).</summary>
    BusResult Remove(string slot);

    /// <summary>Asks the PCI bus to rescan (bus/pci/rescan).</summary>
    BusResult Rescan();

    /// <summary>Re-applies a net interface's configuration through sysfs (mtu, then flags with IFF_UP).</summary>
    BusResult ConfigureNet(string interfaceName, NetConfig config);
}

/// <summary>What "restore" re-applies to a net interface after it returns.</summary>
public sealed record NetConfig(int? Mtu, bool Up);
