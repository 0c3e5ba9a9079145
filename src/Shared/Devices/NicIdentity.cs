namespace Replug.Shared.Devices;

public enum NicIdentityKind
{
    /// <summary>The burnt-in MAC address (sysfs addr_assign_type 0): survives moves and re-plugs.</summary>
    PermanentMac = 0,
    /// <summary>The current MAC address: stable unless someone changes it.</summary>
    Mac = 1,
    /// <summary>PCI vendor:device plus slot, for devices without a usable MAC.</summary>
    Pci = 2,
}

/// <summary>
/// The stable identity of a NIC, used to pair a removal on one host with an add on another
/// (live migration) the way the kernel's net_failover pairs primary and standby: permanent
/// MAC first, then MAC, then PCI identity.
/// </summary>
public readonly record struct NicIdentity(NicIdentityKind Kind, string Value)
{
    /// <summary>
    /// The identity of a NIC; null when it has none, or when the device is not a NIC at all
    /// (a bridge or bond, whose MAC is a member's, or loopback): see <see cref="NetInterfaceInfo.IsNic"/>.
    /// </summary>
    public static NicIdentity? For(NetInterfaceInfo nic, PciDeviceInfo? backing = null)
    {
        ArgumentNullException.ThrowIfNull(nic);
        if (!nic.IsNic) return null;
        if (!string.IsNullOrEmpty(nic.PermanentMac) && !IsZeroMac(nic.PermanentMac))
            return new NicIdentity(NicIdentityKind.PermanentMac, nic.PermanentMac.ToLowerInvariant());
        if (!string.IsNullOrEmpty(nic.Mac) && !IsZeroMac(nic.Mac))
            return new NicIdentity(NicIdentityKind.Mac, nic.Mac.ToLowerInvariant());
        if (backing is not null)
            return new NicIdentity(NicIdentityKind.Pci, $"{backing.VendorId}:{backing.DeviceId}@{backing.Slot}");
        return null;
    }

    private static bool IsZeroMac(string mac) => mac.Replace(":", "").All(c => c == '0');

    public override string ToString() => $"{Kind}:{Value}";
}
