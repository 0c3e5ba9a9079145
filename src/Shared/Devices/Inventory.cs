namespace Replug.Shared.Devices;

/// <summary>A PCI function as sysfs shows it under bus/pci/devices/SLOT.</summary>
public sealed record PciDeviceInfo(
    string Slot,
    string VendorId,
    string DeviceId,
    string ClassCode,
    string? Driver,
    int? NumaNode,
    string? PhysFn,
    IReadOnlyList<string> VirtFns,
    string DevPath)
{
    public DeviceId Id => Devices.DeviceId.Pci(Slot);
}

/// <summary>A net interface as sysfs shows it under class/net/NAME.</summary>
public sealed record NetInterfaceInfo(
    string Name,
    int IfIndex,
    string? Mac,
    string? PermanentMac,
    string? OperState,
    string? PciSlot,
    string DevPath)
{
    public DeviceId Id => DeviceId.Net(Name);
}

/// <summary>Everything a coldplug scan found, at one moment.</summary>
public sealed record DeviceInventory(IReadOnlyList<PciDeviceInfo> Pci, IReadOnlyList<NetInterfaceInfo> Net)
{
    public static readonly DeviceInventory Empty = new([], []);

    public IEnumerable<DeviceId> DeviceIds => Pci.Select(p => p.Id).Concat(Net.Select(n => n.Id));
}
