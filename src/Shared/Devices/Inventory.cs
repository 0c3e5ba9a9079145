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

/// <summary>
/// What a net device is, as far as sysfs shows it clearly. Only an <see cref="Interface"/> is a
/// NIC: the others carry no traffic of their own, and a bridge or a bond shows a MAC address
/// borrowed from one of its members, so taking it for a NIC would give two devices one identity.
/// </summary>
public enum NetDeviceKind
{
    /// <summary>A device that sends and receives itself: a physical port, an SR-IOV VF, virtio-net, a veth, a tap.</summary>
    Interface = 0,
    /// <summary>A Linux bridge: class/net/NAME/bridge exists (net/bridge/br_sysfs_br.c).</summary>
    Bridge = 1,
    /// <summary>A bonding master: class/net/NAME/bonding exists (drivers/net/bonding/bond_sysfs.c).</summary>
    Bond = 2,
    /// <summary>The loopback device: class/net/NAME/type is 772 (ARPHRD_LOOPBACK, include/uapi/linux/if_arp.h).</summary>
    Loopback = 3,
}

/// <summary>A net interface as sysfs shows it under class/net/NAME.</summary>
public sealed record NetInterfaceInfo(
    string Name,
    int IfIndex,
    string? Mac,
    string? PermanentMac,
    string? OperState,
    string? PciSlot,
    string DevPath,
    NetDeviceKind Kind = NetDeviceKind.Interface)
{
    public DeviceId Id => DeviceId.Net(Name);

    /// <summary>A NIC the agent reports and pairs by identity; bridges, bonds and loopback are not.</summary>
    public bool IsNic => Kind == NetDeviceKind.Interface;
}

/// <summary>Everything a coldplug scan found, at one moment.</summary>
public sealed record DeviceInventory(IReadOnlyList<PciDeviceInfo> Pci, IReadOnlyList<NetInterfaceInfo> Net)
{
    public static readonly DeviceInventory Empty = new([], []);

    public IEnumerable<DeviceId> DeviceIds => Pci.Select(p => p.Id).Concat(Net.Select(n => n.Id));
}
