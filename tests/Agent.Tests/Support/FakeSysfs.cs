using System.Globalization;

namespace Replug.Agent.Tests.Support;

/// <summary>
/// A fake sysfs tree in a temporary folder, laid out like the kernel's (relative symlinks
/// included), for hardware this machine lacks: PCI functions with drivers and SR-IOV links,
/// net interfaces backed by them. Deleted on Dispose.
/// <code>
/// devices/pci0000:00/SLOT/{vendor,device,class,numa_node,driver_override,remove}
/// devices/pci0000:00/SLOT/driver -> ../../../bus/pci/drivers/NAME
/// devices/pci0000:00/SLOT/physfn -> ../PF          (VF)   virtfnN -> ../VF   (PF)
/// devices/pci0000:00/SLOT[/virtioN]/net/IF/{ifindex,address,addr_assign_type,operstate,mtu,flags,type[,speed]}
/// devices/…/net/IF/statistics/{rx_bytes,tx_bytes}   (SetCounters)
/// devices/pci0000:00/SLOT[/virtioN]/net/IF/device -> ../../../SLOT (or virtioN)
/// devices/virtual/net/IF/…                          (no PCI function behind it)
/// devices/virtual/net/BR/{bridge/,brif/MEMBER}  MEMBER/{brport/,master}  (a bridge; a bond has bonding/)
/// bus/pci/devices/SLOT -> ../../../devices/pci0000:00/SLOT
/// bus/pci/drivers/NAME/{bind,unbind}  bus/pci/drivers_probe  bus/pci/rescan
/// class/net/IF -> ../../devices/…/net/IF
/// </code>
/// The files are plain files: a write that does not truncate (as sysfs writes must not)
/// overwrites from offset 0, so files a test expects to be written start empty.
/// </summary>
public sealed class FakeSysfs : IDisposable
{
    private const string PciParent = "devices/pci0000:00";
    private int _nextVirtio;

    public FakeSysfs()
    {
        Root = Directory.CreateTempSubdirectory("fake-sysfs-").FullName;
        foreach (var dir in new[] { PciParent, "devices/virtual/net", "bus/pci/devices", "bus/pci/drivers", "class/net" })
            Directory.CreateDirectory(PathOf(dir));
        WriteFile("bus/pci/drivers_probe", "");
        WriteFile("bus/pci/rescan", "");
    }

    /// <summary>The root to give the bus (what "/sys" is in production).</summary>
    public string Root { get; }

    /// <summary>The full path of <paramref name="relative"/> under the root.</summary>
    public string PathOf(string relative) => Path.Combine(Root, relative);

    /// <summary>The directory of PCI function <paramref name="slot"/> (the target of bus/pci/devices/SLOT).</summary>
    public string PciDirectory(string slot) => PathOf($"{PciParent}/{slot}");

    /// <summary>A file's content as written, exactly (no trimming).</summary>
    public string Read(string relative) => File.ReadAllText(PathOf(relative));

    /// <summary>
    /// A readable attribute's value, trimmed as the kernel's reader would see it: a write
    /// over "0x1003\n" of "0x1002" leaves "0x1002\n" in a plain file.
    /// </summary>
    public string ReadValue(string relative) => Read(relative).Trim();

    /// <summary>A driver directory with empty bind/unbind files (bus/pci/drivers/NAME).</summary>
    public FakeSysfs AddDriver(string name)
    {
        Directory.CreateDirectory(PathOf($"bus/pci/drivers/{name}"));
        WriteFile($"bus/pci/drivers/{name}/bind", "");
        WriteFile($"bus/pci/drivers/{name}/unbind", "");
        return this;
    }

    /// <summary>
    /// A PCI function. <paramref name="driver"/> links it to that driver (created when missing);
    /// <paramref name="physFn"/> makes it a virtual function of that (existing) physical function,
    /// linking VF/physfn and PF/virtfnN as the kernel's SR-IOV code does (drivers/pci/iov.c).
    /// </summary>
    public FakeSysfs AddPci(string slot, ushort vendor = 0x8086, ushort device = 0x10fb, uint classCode = 0x020000,
        int numaNode = -1, string? driver = null, string? physFn = null)
    {
        var dir = $"{PciParent}/{slot}";
        Directory.CreateDirectory(PathOf(dir));
        WriteFile($"{dir}/vendor", $"0x{vendor:x4}\n");
        WriteFile($"{dir}/device", $"0x{device:x4}\n");
        WriteFile($"{dir}/class", $"0x{classCode:x6}\n");
        WriteFile($"{dir}/numa_node", $"{numaNode.ToString(CultureInfo.InvariantCulture)}\n");
        WriteFile($"{dir}/driver_override", "");
        WriteFile($"{dir}/remove", "");
        Link($"bus/pci/devices/{slot}", $"../../../{dir}");

        if (driver is not null)
        {
            if (!Directory.Exists(PathOf($"bus/pci/drivers/{driver}"))) AddDriver(driver);
            Link($"{dir}/driver", $"../../../bus/pci/drivers/{driver}");
        }
        if (physFn is not null)
        {
            Link($"{dir}/physfn", $"../{physFn}");
            var pfDir = PciDirectory(physFn);
            var index = Directory.EnumerateFileSystemEntries(pfDir, "virtfn*").Count();
            Link($"{PciParent}/{physFn}/virtfn{index}", $"../{slot}");
        }
        return this;
    }

    /// <summary>
    /// A net interface; with <paramref name="pciSlot"/> it sits under that PCI function (or
    /// under a virtioN child of it, as virtio-net does, when <paramref name="viaVirtio"/>),
    /// else under devices/virtual/net.
    /// </summary>
    public FakeSysfs AddNet(string name, int ifIndex, string mac = "52:54:00:12:34:56", int addrAssignType = 0,
        string operState = "up", int mtu = 1500, uint flags = 0x1003, string? pciSlot = null, bool viaVirtio = false,
        int type = ArphrdEther)
    {
        string dir;
        if (pciSlot is null)
        {
            dir = $"devices/virtual/net/{name}";
            Directory.CreateDirectory(PathOf(dir));
        }
        else
        {
            var parent = $"{PciParent}/{pciSlot}";
            if (viaVirtio)
            {
                parent = $"{parent}/virtio{_nextVirtio++}";
                Directory.CreateDirectory(PathOf(parent));
            }
            dir = $"{parent}/net/{name}";
            Directory.CreateDirectory(PathOf(dir));
            Link($"{dir}/device", $"../../../{Path.GetFileName(parent)}");
        }
        WriteFile($"{dir}/ifindex", $"{ifIndex}\n");
        WriteFile($"{dir}/address", $"{mac}\n");
        WriteFile($"{dir}/addr_assign_type", $"{addrAssignType}\n");
        WriteFile($"{dir}/operstate", $"{operState}\n");
        WriteFile($"{dir}/mtu", $"{mtu}\n");
        WriteFile($"{dir}/flags", $"0x{flags:x}\n");
        WriteFile($"{dir}/type", $"{type}\n");
        Link($"class/net/{name}", $"../../{dir}");
        return this;
    }

    /// <summary>A net interface's byte counters (class/net/NAME/statistics/{rx,tx}_bytes), as its driver would show them now.</summary>
    public FakeSysfs SetCounters(string name, ulong rxBytes, ulong txBytes)
    {
        WriteFile($"class/net/{name}/statistics/rx_bytes", $"{rxBytes.ToString(CultureInfo.InvariantCulture)}\n");
        WriteFile($"class/net/{name}/statistics/tx_bytes", $"{txBytes.ToString(CultureInfo.InvariantCulture)}\n");
        return this;
    }

    /// <summary>A net interface's class/net/NAME/speed (Mb/s, or "-1" where the driver knows none).</summary>
    public FakeSysfs SetSpeed(string name, string mbps) => WriteFile($"class/net/{name}/speed", mbps + "\n");

    /// <summary>ARPHRD_ETHER and ARPHRD_LOOPBACK (include/uapi/linux/if_arp.h): what class/net/NAME/type shows.</summary>
    public const int ArphrdEther = 1, ArphrdLoopback = 772;

    /// <summary>
    /// A Linux bridge over existing interfaces, laid out as net/bridge/br_sysfs_br.c and
    /// br_sysfs_if.c do: BR/bridge/ (its settings), BR/brif/MEMBER -> the member's brport/,
    /// MEMBER/brport/ and MEMBER/master -> BR. Like a real bridge it shows a member's MAC,
    /// not its own (addr_assign_type 3, set), the trap that made bridges look like NICs.
    /// </summary>
    public FakeSysfs AddBridge(string name, int ifIndex, params string[] members) =>
        AddMaster(name, ifIndex, "bridge", "brif", "brport", members);

    /// <summary>A bonding master over existing interfaces: BOND/bonding/ (drivers/net/bonding/bond_sysfs.c), MEMBER/bonding_slave/.</summary>
    public FakeSysfs AddBond(string name, int ifIndex, params string[] members) =>
        AddMaster(name, ifIndex, "bonding", null, "bonding_slave", members);

    private FakeSysfs AddMaster(string name, int ifIndex, string masterDir, string? membersDir, string memberDir, string[] members)
    {
        var mac = members.Length > 0 ? ReadValue($"class/net/{members[0]}/address") : "02:00:00:00:00:01";
        AddNet(name, ifIndex, mac, addrAssignType: 3, pciSlot: null);
        var dir = $"devices/virtual/net/{name}";
        Directory.CreateDirectory(PathOf($"{dir}/{masterDir}"));
        foreach (var member in members)
        {
            var memberPath = $"class/net/{member}";
            Directory.CreateDirectory(PathOf($"{memberPath}/{memberDir}"));
            Link($"{memberPath}/master", Path.GetRelativePath(Path.GetDirectoryName(ResolvedPathOf(memberPath + "/master"))!, PathOf(dir)));
            if (membersDir is not null)
                Link($"{dir}/{membersDir}/{member}", Path.GetRelativePath(PathOf($"{dir}/{membersDir}"), ResolvedPathOf($"{memberPath}/{memberDir}")));
        }
        return this;
    }

    /// <summary>A path under the root with its directory symlinks followed (class/net/IF/x → devices/…/IF/x).</summary>
    private string ResolvedPathOf(string relative)
    {
        var parent = new DirectoryInfo(PathOf(Path.GetDirectoryName(relative)!));
        var real = parent.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? parent.FullName;
        return Path.Combine(real, Path.GetFileName(relative));
    }

    /// <summary>
    /// Any symlink, e.g. one that points outside the root (relative targets are relative to the
    /// link's folder). An existing symlink there is replaced, so a device can be re-added after
    /// its directory was removed.
    /// </summary>
    public FakeSysfs Link(string relative, string target)
    {
        var path = PathOf(relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (new FileInfo(path).LinkTarget is not null) File.Delete(path);
        File.CreateSymbolicLink(path, target);
        return this;
    }

    /// <summary>Writes (creates or replaces) a file under the root.</summary>
    public FakeSysfs WriteFile(string relative, string content)
    {
        var path = PathOf(relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return this;
    }

    /// <summary>
    /// What a hot-unplug looks like to a reader that listed the device a moment ago: its
    /// directory is gone, the bus/class link still there (dangling).
    /// </summary>
    public void RemovePciDirectory(string slot) => Directory.Delete(PciDirectory(slot), recursive: true);

    /// <summary>Deletes a net interface's directory, leaving class/net/NAME dangling.</summary>
    public void RemoveNetDirectory(string name)
    {
        var link = new FileInfo(PathOf($"class/net/{name}"));
        var target = Path.GetFullPath(Path.Combine(link.DirectoryName!, link.LinkTarget!));
        Directory.Delete(target, recursive: true);
    }

    /// <summary>A completed removal of a PCI function: its directory and its bus/pci/devices link are gone.</summary>
    public void RemovePci(string slot)
    {
        RemovePciDirectory(slot);
        File.Delete(PathOf($"bus/pci/devices/{slot}"));
    }

    /// <summary>A completed removal of a net interface: its directory and its class/net link are gone.</summary>
    public void RemoveNet(string name)
    {
        RemoveNetDirectory(name);
        File.Delete(PathOf($"class/net/{name}"));
    }

    public void Dispose()
    {
        // Directory.Delete removes symlinks without following them, so links that point
        // outside the root (the escape tests) never take their targets along.
        try { Directory.Delete(Root, recursive: true); }
        catch (DirectoryNotFoundException) { }
    }
}
