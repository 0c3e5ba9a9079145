namespace Replug.Shared.Devices;

/// <summary>What a kernel DEVPATH says about a device's place in the device tree.</summary>
public static class DevPaths
{
    /// <summary>The last segment: the device's kernel name.</summary>
    public static ReadOnlySpan<char> KernelName(ReadOnlySpan<char> devPath)
    {
        var slash = devPath.LastIndexOf('/');
        return slash < 0 ? devPath : devPath[(slash + 1)..];
    }

    /// <summary>
    /// The name a device goes by within its subsystem: the kernel name for a net interface and a
    /// PCI function, whose names are unique there (class/net/NAME, bus/pci/devices/SLOT). Other
    /// kobjects that send uevents are often named only within their parent (every net device has
    /// its own queues/rx-0), so they go by their DEVPATH, without the leading '/'.
    /// </summary>
    public static string DeviceName(string subsystem, ReadOnlySpan<char> devPath) =>
        subsystem is Subsystems.Net or Subsystems.Pci ? KernelName(devPath).ToString() : devPath.TrimStart('/').ToString();

    /// <summary>
    /// The PCI function a device hangs under: the nearest ancestor segment shaped like a PCI
    /// address (DDDD:BB:DD.F), e.g. "0000:03:00.0" in
    /// /devices/pci0000:00/0000:00:1c.0/0000:03:00.0/net/eth1. Null for virtual devices.
    /// </summary>
    public static string? PciSlotOf(ReadOnlySpan<char> devPath)
    {
        var path = devPath;
        // Skip the device's own name: a PCI device is not its own parent.
        var slash = path.LastIndexOf('/');
        if (slash <= 0) return null;
        path = path[..slash];
        while (true)
        {
            slash = path.LastIndexOf('/');
            if (slash < 0) return null;
            var segment = path[(slash + 1)..];
            if (IsPciAddress(segment)) return segment.ToString();
            path = path[..slash];
        }
    }

    /// <summary>DDDD:BB:DD.F in lower-case hex, as sysfs names PCI functions.</summary>
    public static bool IsPciAddress(ReadOnlySpan<char> s)
    {
        if (s.Length != 12 || s[4] != ':' || s[7] != ':' || s[10] != '.') return false;
        for (var i = 0; i < 12; i++)
        {
            if (i is 4 or 7 or 10) continue;
            if (!char.IsAsciiHexDigitLower(s[i]) && !char.IsAsciiDigit(s[i])) return false;
        }
        return s[11] is >= '0' and <= '7';
    }
}
