using System.Globalization;
using System.Text;
using Replug.Shared.Devices;

namespace Replug.Agent.Devices;

/// <summary>
/// <see cref="IDeviceBus"/> over a sysfs tree: "/sys" in production, a temporary tree
/// (tests' FakeSysfs) or a sysfs mounted from inside another network namespace.
/// <para>
/// Attributes are normalised as follows: PCI <c>vendor</c> and <c>device</c> become four
/// lower-case hex digits without "0x" ("8086", "10fb", as lspci -n and PCI_ID show them);
/// <c>class</c> becomes six lower-case hex digits without "0x" ("020000": base class,
/// subclass, programming interface); <c>numa_node</c> -1 ("no node") becomes null.
/// A net interface's <c>PermanentMac</c> is its address only when <c>addr_assign_type</c>
/// is 0 (NET_ADDR_PERM, include/uapi/linux/netdevice.h); random (1), stolen (2) and set (3)
/// addresses say nothing about the hardware. A net device's <c>Kind</c> tells NICs from bridges,
/// bonds and loopback (<see cref="NetDeviceKind"/>).
/// </para>
/// <para>
/// Nothing here throws for a device: a name that is unsafe or escapes the root, and an I/O
/// error, are a <see cref="BusResult.Fail"/> with the reason; a device that vanishes while
/// it is being read (hot-unplug races the scan: the kernel removes attributes, then the
/// directory) is left out of the scan and not found.
/// </para>
/// </summary>
public sealed class SysfsDeviceBus : IDeviceBus
{
    /// <summary>IFF_UP in include/uapi/linux/if.h; sysfs <c>flags</c> shows and takes dev->flags in hex.</summary>
    private const uint IffUp = 0x1;

    /// <summary>ARPHRD_LOOPBACK in include/uapi/linux/if_arp.h, as class/net/NAME/type shows it.</summary>
    private const string ArphrdLoopback = "772";

    private const string PciDevices = "bus/pci/devices";
    private const string NetClass = "class/net";

    private readonly SysfsPaths _paths;

    public SysfsDeviceBus(string root = "/sys") => _paths = new SysfsPaths(root);

    public string Root => _paths.Root;

    public DeviceInventory Scan()
    {
        var pci = new List<PciDeviceInfo>();
        foreach (var slot in ListNames(PciDevices))
            if (ReadPci(slot) is { } device) pci.Add(device);

        var net = new List<NetInterfaceInfo>();
        foreach (var name in ListNames(NetClass))
            if (ReadNet(name) is { } nic) net.Add(nic);

        return new DeviceInventory(pci, net);
    }

    public bool Exists(DeviceId device)
    {
        if (SysfsPaths.CheckName(device.Name, "device name") is not null) return false;
        return device.Subsystem switch
        {
            Subsystems.Net => _paths.Resolve($"{NetClass}/{device.Name}").IsValid,
            Subsystems.Pci => _paths.Resolve($"{PciDevices}/{device.Name}").IsValid,
            // Other subsystems (vfio, …) live either on a bus or in a class.
            var other when SysfsPaths.CheckName(other, "subsystem") is null =>
                _paths.Resolve($"bus/{other}/devices/{device.Name}").IsValid ||
                _paths.Resolve($"class/{other}/{device.Name}").IsValid,
            _ => false,
        };
    }

    public PciDeviceInfo? FindPci(string slot) =>
        SysfsPaths.CheckName(slot, "PCI slot") is null ? ReadPci(slot) : null;

    public NetInterfaceInfo? FindNet(string interfaceName) =>
        SysfsPaths.CheckName(interfaceName, "interface name") is null ? ReadNet(interfaceName) : null;

    /// <summary>
    /// Writes the driver's name to SLOT/driver_override (only that driver may then claim the
    /// device, Documentation/ABI/testing/sysfs-bus-pci), then SLOT to bus/pci/drivers_probe.
    /// drivers_probe leaves a device that already has a driver alone: unbind it first.
    /// </summary>
    public BusResult BindDriver(string slot, string driver)
    {
        var nameProblem = SysfsPaths.CheckName(slot, "PCI slot") ?? SysfsPaths.CheckName(driver, "driver name");
        var overridePath = _paths.Resolve($"{PciDevices}/{slot}/driver_override", nameProblem);
        if (!overridePath.IsValid) return Refused("bind", slot, overridePath);
        var written = Write(overridePath, driver);
        if (!written.Succeeded) return written;

        var probe = _paths.Resolve("bus/pci/drivers_probe");
        return probe.IsValid ? Write(probe, slot) : Refused("probe", slot, probe);
    }

    /// <summary>Writes SLOT to its driver's unbind file (SLOT/driver/unbind); a device without a driver is left as it is.</summary>
    public BusResult Unbind(string slot)
    {
        var device = _paths.Resolve($"{PciDevices}/{slot}", SysfsPaths.CheckName(slot, "PCI slot"));
        if (!device.IsValid) return Refused("unbind", slot, device);

        var unbind = _paths.Resolve($"{device.FullPath}/driver/unbind");
        if (unbind.Problem == SysfsPathProblem.NotFound) return BusResult.Ok; // no driver: nothing to unbind
        return unbind.IsValid ? Write(unbind, slot) : Refused("unbind", slot, unbind);
    }

    public BusResult Remove(string slot)
    {
        var remove = _paths.Resolve($"{PciDevices}/{slot}/remove", SysfsPaths.CheckName(slot, "PCI slot"));
        return remove.IsValid ? Write(remove, "1") : Refused("remove", slot, remove);
    }

    public BusResult Rescan()
    {
        var rescan = _paths.Resolve("bus/pci/rescan");
        return rescan.IsValid ? Write(rescan, "1") : Refused("rescan", "bus/pci", rescan);
    }

    /// <summary>
    /// Writes the MTU (when set) to class/net/NAME/mtu, then reads class/net/NAME/flags, sets or
    /// clears IFF_UP and writes the flags back: the kernel's store passes them to
    /// dev_change_flags, which ignores the read-only bits (net/core/net-sysfs.c, net/core/dev.c).
    /// </summary>
    public BusResult ConfigureNet(string interfaceName, NetConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var nameProblem = SysfsPaths.CheckName(interfaceName, "interface name");
        var device = _paths.Resolve($"{NetClass}/{interfaceName}", nameProblem);
        if (!device.IsValid) return Refused("configure", interfaceName, device);

        if (config.Mtu is { } mtu)
        {
            if (mtu <= 0) return BusResult.Fail($"cannot configure {interfaceName}: invalid MTU {mtu}");
            var mtuPath = _paths.Resolve($"{device.FullPath}/mtu");
            if (!mtuPath.IsValid) return Refused("set the MTU of", interfaceName, mtuPath);
            var written = Write(mtuPath, mtu.ToString(CultureInfo.InvariantCulture));
            if (!written.Succeeded) return written;
        }

        var flagsPath = _paths.Resolve($"{device.FullPath}/flags");
        if (!flagsPath.IsValid) return Refused("set the flags of", interfaceName, flagsPath);
        string? text;
        try { text = ReadSmallFile(flagsPath.FullPath!); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return BusResult.Fail($"cannot read {flagsPath.FullPath}: {e.Message}");
        }
        if (ParseHex(text) is not { } flags)
            return BusResult.Fail($"cannot configure {interfaceName}: unreadable flags '{text}' in {flagsPath.FullPath}");

        var wanted = config.Up ? flags | IffUp : flags & ~IffUp;
        return Write(flagsPath, "0x" + wanted.ToString("x", CultureInfo.InvariantCulture));
    }

    private PciDeviceInfo? ReadPci(string slot)
    {
        var device = _paths.Resolve($"{PciDevices}/{slot}");
        if (!device.IsValid) return null;
        var dir = device.FullPath!;

        // vendor, device and class exist for every PCI function; when one is missing the
        // device is being removed under us.
        if (ParseHex(ReadAttribute(dir, "vendor")) is not { } vendor) return null;
        if (ParseHex(ReadAttribute(dir, "device")) is not { } product) return null;
        if (ParseHex(ReadAttribute(dir, "class")) is not { } classCode) return null;

        int? numa = int.TryParse(ReadAttribute(dir, "numa_node"), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var node) && node >= 0
            ? node
            : null;

        return new PciDeviceInfo(
            Slot: slot,
            VendorId: vendor.ToString("x4", CultureInfo.InvariantCulture),
            DeviceId: product.ToString("x4", CultureInfo.InvariantCulture),
            ClassCode: classCode.ToString("x6", CultureInfo.InvariantCulture),
            Driver: LinkName(dir, "driver"),
            NumaNode: numa,
            PhysFn: LinkName(dir, "physfn"),
            VirtFns: VirtualFunctions(dir),
            DevPath: _paths.DevPathOf(dir));
    }

    private NetInterfaceInfo? ReadNet(string name)
    {
        var device = _paths.Resolve($"{NetClass}/{name}");
        if (!device.IsValid) return null;
        var dir = device.FullPath!;

        if (!int.TryParse(ReadAttribute(dir, "ifindex"), NumberStyles.None, CultureInfo.InvariantCulture, out var ifIndex))
            return null; // every net device has one; missing = being unregistered

        var mac = NullIfEmpty(ReadAttribute(dir, "address"));
        var permanent = ReadAttribute(dir, "addr_assign_type") == "0" ? mac : null;
        return new NetInterfaceInfo(
            Name: name,
            IfIndex: ifIndex,
            Mac: mac,
            PermanentMac: permanent,
            OperState: NullIfEmpty(ReadAttribute(dir, "operstate")),
            PciSlot: BackingPciSlot(dir),
            DevPath: _paths.DevPathOf(dir),
            Kind: KindOf(dir));
    }

    /// <summary>
    /// Bridges and bonds by the directory their drivers add (bridge/, bonding/; their members
    /// have brport/ and bonding_slave/ instead, and stay interfaces), loopback by its type.
    /// </summary>
    private NetDeviceKind KindOf(string netDir)
    {
        if (IsDirectory($"{netDir}/bridge")) return NetDeviceKind.Bridge;
        if (IsDirectory($"{netDir}/bonding")) return NetDeviceKind.Bond;
        return ReadAttribute(netDir, "type") == ArphrdLoopback ? NetDeviceKind.Loopback : NetDeviceKind.Interface;
    }

    private bool IsDirectory(string path)
    {
        var resolved = _paths.Resolve(path);
        return resolved.IsValid && Directory.Exists(resolved.FullPath);
    }

    /// <summary>
    /// The PCI function behind a net interface: its <c>device</c> link resolves to the PCI
    /// device itself, or, for virtio-net, to a "virtioN" device whose parent is the PCI
    /// function (drivers/virtio/virtio.c names them "virtio%u"; virtio-pci makes the PCI
    /// function their parent). Anything else (a USB NIC, a virtual device) has no slot.
    /// </summary>
    private string? BackingPciSlot(string netDir)
    {
        var device = _paths.Resolve($"{netDir}/device");
        if (!device.IsValid) return null;
        var candidate = device.FullPath!;
        if (IsVirtioDevice(Path.GetFileName(candidate)))
            candidate = Path.GetDirectoryName(candidate) ?? candidate;

        var slot = Path.GetFileName(candidate);
        if (SysfsPaths.CheckName(slot, "PCI slot") is not null) return null;
        // It is a PCI function exactly when the bus lists it under that name.
        var listed = _paths.Resolve($"{PciDevices}/{slot}");
        return listed.IsValid && listed.FullPath == candidate ? slot : null;
    }

    private static bool IsVirtioDevice(string name) =>
        name.StartsWith("virtio", StringComparison.Ordinal) &&
        uint.TryParse(name.AsSpan("virtio".Length), NumberStyles.None, CultureInfo.InvariantCulture, out _);

    /// <summary>SLOT/virtfnN links (SR-IOV PF → VFs), in N order, as VF slots.</summary>
    private static IReadOnlyList<string> VirtualFunctions(string dir)
    {
        List<(int Index, string Slot)>? found = null;
        try
        {
            foreach (var entry in Directory.EnumerateFileSystemEntries(dir, "virtfn*"))
            {
                var name = Path.GetFileName(entry);
                if (!int.TryParse(name.AsSpan("virtfn".Length), NumberStyles.None, CultureInfo.InvariantCulture, out var index)) continue;
                if (LinkName(dir, name) is { } slot) (found ??= []).Add((index, slot));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        if (found is null) return [];
        found.Sort((a, b) => a.Index.CompareTo(b.Index));
        return found.ConvertAll(f => f.Slot);
    }

    /// <summary>
    /// The last segment of a symlink's target (driver, physfn, virtfnN), without following it:
    /// only the name is wanted, so where the link points is never touched.
    /// </summary>
    private static string? LinkName(string dir, string link)
    {
        try
        {
            var target = new FileInfo(Path.Combine(dir, link)).LinkTarget;
            if (target is null) return null;
            var name = Path.GetFileName(target.TrimEnd('/'));
            return SysfsPaths.CheckName(name, "link target") is null ? name : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>An attribute's value, trimmed; null when it cannot be read (absent, vanished, refused, escapes).</summary>
    private string? ReadAttribute(string dir, string attribute)
    {
        var path = _paths.Resolve($"{dir}/{attribute}");
        if (!path.IsValid) return null;
        try { return ReadSmallFile(path.FullPath!); }
        // ENOENT/ENODEV when the device went away between resolve and read; some attributes
        // refuse reads in some states (EINVAL, EOPNOTSUPP): an unreadable value is "unknown".
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>
    /// A sysfs attribute's text, trimmed. The kernel shows an attribute in one page at most
    /// (Documentation/filesystems/sysfs.rst), so one read into a stack buffer has it all:
    /// File.ReadAllText's stream and reader buffers cost about 16 KiB per read, and a start-up scan
    /// of 10,000 devices reads 60,000 attributes.
    /// </summary>
    private static string ReadSmallFile(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        Span<byte> page = stackalloc byte[4096];
        var read = RandomAccess.Read(handle, page, 0);
        return System.Text.Encoding.UTF8.GetString(page[..read].Trim(" \t\r\n\0"u8));
    }

    private IEnumerable<string> ListNames(string relativeDir)
    {
        var dir = _paths.Resolve(relativeDir);
        if (!dir.IsValid) return [];
        try
        {
            return Directory.EnumerateFileSystemEntries(dir.FullPath!)
                .Select(Path.GetFileName)
                .Where(name => name is not null && DeviceNames.IsSafe(name))
                .Select(name => name!)
                .Order(StringComparer.Ordinal)
                .ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
    }

    /// <summary>
    /// One write(2) of the whole value to an existing attribute: sysfs stores act on each
    /// write call, cannot be created, and ignore truncation, so open without O_CREAT/O_TRUNC.
    /// </summary>
    private static BusResult Write(SysfsPath path, string value)
    {
        try
        {
            using var handle = File.OpenHandle(path.FullPath!, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
            RandomAccess.Write(handle, Encoding.ASCII.GetBytes(value), fileOffset: 0);
            return BusResult.Ok;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return BusResult.Fail($"cannot write '{value}' to {path.FullPath}: {e.Message}");
        }
    }

    private static BusResult Refused(string operation, string target, SysfsPath path) =>
        BusResult.Fail($"cannot {operation} {target}: {path.Reason}");

    private static uint? ParseHex(string? text)
    {
        if (string.IsNullOrEmpty(text)) return null;
        var digits = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? text.AsSpan(2) : text.AsSpan();
        return uint.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var value) ? value : null;
    }

    private static string? NullIfEmpty(string? text) => string.IsNullOrEmpty(text) ? null : text;
}
