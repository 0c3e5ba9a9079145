using System.Text.Json;
using Replug.Agent.Devices;
using Replug.Agent.Tests.Support;
using Replug.Shared.Devices;

namespace Replug.Agent.Tests.Devices;

/// <summary>SysfsDeviceBus on a fake tree: what it reads, what it writes, what it refuses.</summary>
public sealed class SysfsDeviceBusTests : IDisposable
{
    private const string Pf = "0000:03:00.0";
    private const string Vf0 = "0000:03:10.0";
    private const string Vf1 = "0000:03:10.2";

    private readonly FakeSysfs _sysfs = new();
    private readonly string _outside = Directory.CreateTempSubdirectory("outside-sysfs-").FullName;
    private readonly SysfsDeviceBus _bus;

    public SysfsDeviceBusTests() => _bus = new SysfsDeviceBus(_sysfs.Root);

    public void Dispose()
    {
        _sysfs.Dispose();
        Directory.Delete(_outside, recursive: true);
    }

    // ---- reading ----

    [Fact]
    public void Scan_finds_a_pci_device_with_normalised_ids_class_driver_numa_node_and_devpath()
    {
        _sysfs.AddPci(Pf, vendor: 0x8086, device: 0x10FB, classCode: 0x020000, numaNode: 1, driver: "ixgbe");

        var pci = Assert.Single(_bus.Scan().Pci);

        Assert.Equal(Pf, pci.Slot);
        Assert.Equal("8086", pci.VendorId);
        Assert.Equal("10fb", pci.DeviceId);
        Assert.Equal("020000", pci.ClassCode);
        Assert.Equal("ixgbe", pci.Driver);
        Assert.Equal(1, pci.NumaNode);
        Assert.Null(pci.PhysFn);
        Assert.Empty(pci.VirtFns);
        Assert.Equal($"/devices/pci0000:00/{Pf}", pci.DevPath);
    }

    [Fact]
    public void A_pci_device_without_driver_or_numa_node_has_nulls()
    {
        _sysfs.AddPci(Pf, numaNode: -1);

        var pci = Assert.Single(_bus.Scan().Pci);

        Assert.Null(pci.Driver);
        Assert.Null(pci.NumaNode);
    }

    [Fact]
    public void Scan_links_sriov_physical_and_virtual_functions_both_ways()
    {
        _sysfs.AddPci(Pf, driver: "ixgbe")
            .AddPci(Vf0, device: 0x10ed, driver: "vfio-pci", physFn: Pf)
            .AddPci(Vf1, device: 0x10ed, physFn: Pf);

        var pci = _bus.Scan().Pci.ToDictionary(p => p.Slot);

        Assert.Equal([Vf0, Vf1], pci[Pf].VirtFns);
        Assert.Equal(Pf, pci[Vf0].PhysFn);
        Assert.Equal(Pf, pci[Vf1].PhysFn);
        Assert.Equal("vfio-pci", pci[Vf0].Driver);
        Assert.Empty(pci[Vf0].VirtFns);
    }

    [Fact]
    public void Scan_finds_net_interfaces_with_ifindex_mac_operstate_and_backing_pci_slot()
    {
        _sysfs.AddPci(Pf, driver: "ixgbe")
            .AddNet("enp3s0f0", ifIndex: 4, mac: "90:e2:ba:00:00:01", operState: "up", pciSlot: Pf)
            .AddNet("br0", ifIndex: 7, mac: "02:aa:bb:cc:dd:ee", addrAssignType: 3, operState: "down");

        var net = _bus.Scan().Net.ToDictionary(n => n.Name);

        var nic = net["enp3s0f0"];
        Assert.Equal(4, nic.IfIndex);
        Assert.Equal("90:e2:ba:00:00:01", nic.Mac);
        Assert.Equal("up", nic.OperState);
        Assert.Equal(Pf, nic.PciSlot);
        Assert.Equal($"/devices/pci0000:00/{Pf}/net/enp3s0f0", nic.DevPath);

        var bridge = net["br0"];
        Assert.Equal(7, bridge.IfIndex);
        Assert.Equal("down", bridge.OperState);
        Assert.Null(bridge.PciSlot);
        Assert.Equal("/devices/virtual/net/br0", bridge.DevPath);
    }

    [Fact]
    public void A_bridge_a_bond_and_loopback_are_told_from_nics_and_their_members_stay_nics()
    {
        _sysfs.AddPci(Pf, driver: "ixgbe")
            .AddNet("enp3s0f0", ifIndex: 4, mac: "90:e2:ba:00:00:01", pciSlot: Pf)
            .AddNet("eth1", ifIndex: 5, mac: "90:e2:ba:00:00:02")
            .AddNet("eth2", ifIndex: 6, mac: "90:e2:ba:00:00:03")
            .AddNet("lo", ifIndex: 1, mac: "00:00:00:00:00:00", type: FakeSysfs.ArphrdLoopback)
            .AddBridge("br0", ifIndex: 7, "enp3s0f0")
            .AddBond("bond0", ifIndex: 8, "eth1", "eth2");

        var net = _bus.Scan().Net.ToDictionary(n => n.Name);

        Assert.Equal(NetDeviceKind.Bridge, net["br0"].Kind);
        Assert.Equal("90:e2:ba:00:00:01", net["br0"].Mac); // borrowed from its member, as the kernel does
        Assert.Equal(NetDeviceKind.Bond, net["bond0"].Kind);
        Assert.Equal(NetDeviceKind.Loopback, net["lo"].Kind);
        Assert.All(new[] { "enp3s0f0", "eth1", "eth2" }, name => Assert.Equal(NetDeviceKind.Interface, net[name].Kind));
        Assert.Equal(["enp3s0f0", "eth1", "eth2"], net.Values.Where(n => n.IsNic).Select(n => n.Name).Order());
        Assert.Equal(NetDeviceKind.Bridge, _bus.FindNet("br0")!.Kind);
        // The fake's links lead where the kernel's do.
        Assert.True(Directory.Exists(_sysfs.PathOf("class/net/enp3s0f0/master/bridge")));
        Assert.True(Directory.Exists(_sysfs.PathOf("class/net/br0/brif/enp3s0f0")));
        Assert.True(Directory.Exists(_sysfs.PathOf("class/net/eth2/master/bonding")));
    }

    [Theory]
    [InlineData(0, true)]   // NET_ADDR_PERM
    [InlineData(1, false)]  // NET_ADDR_RANDOM
    [InlineData(2, false)]  // NET_ADDR_STOLEN
    [InlineData(3, false)]  // NET_ADDR_SET
    public void The_permanent_mac_is_the_address_only_when_addr_assign_type_is_permanent(int addrAssignType, bool permanent)
    {
        _sysfs.AddNet("eth0", ifIndex: 2, mac: "52:54:00:00:00:01", addrAssignType: addrAssignType);

        var nic = _bus.FindNet("eth0");

        Assert.NotNull(nic);
        Assert.Equal("52:54:00:00:00:01", nic.Mac);
        Assert.Equal(permanent ? "52:54:00:00:00:01" : null, nic.PermanentMac);
    }

    [Fact]
    public void A_virtio_net_interface_is_backed_by_the_pci_function_above_its_virtio_device()
    {
        _sysfs.AddPci("0000:00:03.0", vendor: 0x1af4, device: 0x1000, driver: "virtio-pci")
            .AddNet("eth0", ifIndex: 2, pciSlot: "0000:00:03.0", viaVirtio: true);

        var nic = _bus.FindNet("eth0");

        Assert.NotNull(nic);
        Assert.Equal("0000:00:03.0", nic.PciSlot);
        Assert.Equal("/devices/pci0000:00/0000:00:03.0/virtio0/net/eth0", nic.DevPath);
    }

    [Fact]
    public void A_device_link_to_something_that_is_not_a_pci_function_gives_no_slot()
    {
        _sysfs.WriteFile("devices/platform/usb1/1-1/1-1:1.0/ignored", "")
            .AddNet("usb0", ifIndex: 3)
            .Link("devices/virtual/net/usb0/device", "../../../platform/usb1/1-1/1-1:1.0");

        Assert.Null(_bus.FindNet("usb0")!.PciSlot);
    }

    [Fact]
    public void Find_and_exists_answer_for_present_and_absent_devices()
    {
        _sysfs.AddPci(Pf).AddNet("eth0", ifIndex: 2, pciSlot: Pf);

        Assert.Equal(Pf, _bus.FindPci(Pf)?.Slot);
        Assert.Equal("eth0", _bus.FindNet("eth0")?.Name);
        Assert.Null(_bus.FindPci("0000:99:00.0"));
        Assert.Null(_bus.FindNet("eth9"));
        Assert.True(_bus.Exists(DeviceId.Pci(Pf)));
        Assert.True(_bus.Exists(DeviceId.Net("eth0")));
        Assert.False(_bus.Exists(DeviceId.Net("eth9")));
        Assert.False(_bus.Exists(DeviceId.Pci("../../..")));
        Assert.False(_bus.Exists(new DeviceId("../bus", "pci")));
    }

    [Fact]
    public void Exists_looks_up_other_subsystems_on_their_bus_or_in_their_class()
    {
        _sysfs.WriteFile("devices/virtual/vfio/vfio0/dev", "")
            .Link("class/vfio/vfio0", "../../devices/virtual/vfio/vfio0");

        Assert.True(_bus.Exists(new DeviceId(Subsystems.Vfio, "vfio0")));
        Assert.False(_bus.Exists(new DeviceId(Subsystems.Vfio, "vfio1")));
    }

    // ---- writing ----

    [Fact]
    public void BindDriver_writes_the_driver_to_driver_override_then_the_slot_to_drivers_probe()
    {
        _sysfs.AddPci(Pf);

        var result = _bus.BindDriver(Pf, "vfio-pci");

        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal("vfio-pci", _sysfs.Read($"devices/pci0000:00/{Pf}/driver_override"));
        Assert.Equal(Pf, _sysfs.Read("bus/pci/drivers_probe"));
    }

    [Fact]
    public void Unbind_writes_the_slot_to_the_bound_drivers_unbind_file()
    {
        _sysfs.AddPci(Pf, driver: "ixgbe").AddDriver("vfio-pci");

        var result = _bus.Unbind(Pf);

        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal(Pf, _sysfs.Read("bus/pci/drivers/ixgbe/unbind"));
        Assert.Equal("", _sysfs.Read("bus/pci/drivers/vfio-pci/unbind"));
    }

    [Fact]
    public void Unbind_of_a_device_without_a_driver_succeeds_and_writes_nothing()
    {
        _sysfs.AddPci(Pf).AddDriver("ixgbe");

        Assert.True(_bus.Unbind(Pf).Succeeded);
        Assert.Equal("", _sysfs.Read("bus/pci/drivers/ixgbe/unbind"));
    }

    [Fact]
    public void Remove_writes_1_to_the_devices_remove_file()
    {
        _sysfs.AddPci(Pf);

        Assert.True(_bus.Remove(Pf).Succeeded);
        Assert.Equal("1", _sysfs.Read($"devices/pci0000:00/{Pf}/remove"));
    }

    [Fact]
    public void Rescan_writes_1_to_the_bus_rescan_file()
    {
        Assert.True(_bus.Rescan().Succeeded);
        Assert.Equal("1", _sysfs.Read("bus/pci/rescan"));
    }

    [Fact]
    public void ConfigureNet_writes_the_mtu_then_the_flags_with_iff_up_set()
    {
        _sysfs.AddNet("eth0", ifIndex: 2, mtu: 1500, flags: 0x1002);

        var result = _bus.ConfigureNet("eth0", new NetConfig(Mtu: 9000, Up: true));

        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal("9000", _sysfs.ReadValue("devices/virtual/net/eth0/mtu"));
        Assert.Equal("0x1003", _sysfs.ReadValue("devices/virtual/net/eth0/flags"));
    }

    [Fact]
    public void ConfigureNet_clears_iff_up_and_leaves_the_mtu_alone_when_none_is_given()
    {
        _sysfs.AddNet("eth0", ifIndex: 2, mtu: 1500, flags: 0x1003);

        var result = _bus.ConfigureNet("eth0", new NetConfig(Mtu: null, Up: false));

        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal("1500", _sysfs.ReadValue("devices/virtual/net/eth0/mtu"));
        Assert.Equal("0x1002", _sysfs.ReadValue("devices/virtual/net/eth0/flags"));
    }

    [Fact]
    public void Operations_on_a_missing_device_fail_with_a_reason()
    {
        Assert.Contains("does not exist", _bus.BindDriver("0000:99:00.0", "vfio-pci").Error);
        Assert.Contains("does not exist", _bus.Remove("0000:99:00.0").Error);
        Assert.Contains("does not exist", _bus.Unbind("0000:99:00.0").Error);
        Assert.Contains("does not exist", _bus.ConfigureNet("eth9", new NetConfig(null, true)).Error);
    }

    [Fact]
    public void An_io_error_is_a_failure_with_the_systems_message()
    {
        _sysfs.AddPci(Pf);
        // A directory where the attribute should be: open(2) for writing fails (EISDIR).
        File.Delete(_sysfs.PathOf($"devices/pci0000:00/{Pf}/remove"));
        Directory.CreateDirectory(_sysfs.PathOf($"devices/pci0000:00/{Pf}/remove"));

        var result = _bus.Remove(Pf);

        Assert.False(result.Succeeded);
        Assert.StartsWith("cannot write '1' to ", result.Error);
    }

    // ---- refusing ----

    [Theory]
    [InlineData("../../etc")]
    [InlineData("a/b")]
    [InlineData("")]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("eth0\n")]
    public void Unsafe_names_are_refused_with_a_reason(string name)
    {
        _sysfs.AddPci(Pf).AddNet("eth0", ifIndex: 2);

        foreach (var result in new[]
                 {
                     _bus.BindDriver(name, "vfio-pci"), _bus.BindDriver(Pf, name), _bus.Unbind(name), _bus.Remove(name),
                     _bus.ConfigureNet(name, new NetConfig(9000, true)),
                 })
        {
            Assert.False(result.Succeeded);
            Assert.Contains("must be one path segment", result.Error);
        }
        Assert.Null(_bus.FindPci(name));
        Assert.Null(_bus.FindNet(name));
        Assert.Equal("", _sysfs.Read($"devices/pci0000:00/{Pf}/driver_override"));
        Assert.Equal("", _sysfs.Read("bus/pci/drivers_probe"));
    }

    [Fact]
    public void A_pci_link_that_points_outside_the_root_is_refused_and_nothing_is_written_there()
    {
        var evil = Path.Combine(_outside, "evil");
        Directory.CreateDirectory(evil);
        foreach (var file in new[] { "vendor", "device", "class", "driver_override", "remove" })
            File.WriteAllText(Path.Combine(evil, file), "");
        File.WriteAllText(Path.Combine(evil, "vendor"), "0x8086\n");
        _sysfs.Link("bus/pci/devices/0000:66:00.0", evil);

        var bind = _bus.BindDriver("0000:66:00.0", "vfio-pci");
        var remove = _bus.Remove("0000:66:00.0");

        Assert.Contains("outside the sysfs root", bind.Error);
        Assert.Contains("outside the sysfs root", remove.Error);
        Assert.Equal("", File.ReadAllText(Path.Combine(evil, "driver_override")));
        Assert.Equal("", File.ReadAllText(Path.Combine(evil, "remove")));
        Assert.Equal("", _sysfs.Read("bus/pci/drivers_probe"));
        Assert.Empty(_bus.Scan().Pci);
        Assert.False(_bus.Exists(DeviceId.Pci("0000:66:00.0")));
    }

    [Fact]
    public void A_driver_link_that_points_outside_the_root_is_refused_by_unbind()
    {
        var evilDriver = Path.Combine(_outside, "driver");
        Directory.CreateDirectory(evilDriver);
        File.WriteAllText(Path.Combine(evilDriver, "unbind"), "");
        _sysfs.AddPci(Pf).Link($"devices/pci0000:00/{Pf}/driver", evilDriver);

        var result = _bus.Unbind(Pf);

        Assert.Contains("outside the sysfs root", result.Error);
        Assert.Equal("", File.ReadAllText(Path.Combine(evilDriver, "unbind")));
    }

    [Fact]
    public void A_net_link_that_points_outside_the_root_is_refused_by_configure_and_skipped_by_scan()
    {
        var evilNet = Path.Combine(_outside, "net");
        Directory.CreateDirectory(evilNet);
        File.WriteAllText(Path.Combine(evilNet, "ifindex"), "9\n");
        File.WriteAllText(Path.Combine(evilNet, "mtu"), "");
        File.WriteAllText(Path.Combine(evilNet, "flags"), "0x1002\n");
        _sysfs.AddNet("eth0", ifIndex: 2).Link("class/net/evil0", evilNet);

        var result = _bus.ConfigureNet("evil0", new NetConfig(9000, true));

        Assert.Contains("outside the sysfs root", result.Error);
        Assert.Equal("", File.ReadAllText(Path.Combine(evilNet, "mtu")));
        Assert.Equal("0x1002\n", File.ReadAllText(Path.Combine(evilNet, "flags")));
        Assert.Equal(["eth0"], _bus.Scan().Net.Select(n => n.Name));
        Assert.Null(_bus.FindNet("evil0"));
    }

    [Fact]
    public void An_attribute_link_that_points_outside_the_root_is_not_read()
    {
        File.WriteAllText(Path.Combine(_outside, "secret"), "0xdead\n");
        _sysfs.AddPci(Pf);
        File.Delete(_sysfs.PathOf($"devices/pci0000:00/{Pf}/vendor"));
        _sysfs.Link($"devices/pci0000:00/{Pf}/vendor", Path.Combine(_outside, "secret"));

        Assert.Null(_bus.FindPci(Pf));
    }

    // ---- hot-unplug while reading ----

    [Fact]
    public void A_device_whose_directory_vanished_after_listing_is_skipped_by_the_scan()
    {
        _sysfs.AddPci(Pf).AddPci("0000:04:00.0")
            .AddNet("eth0", ifIndex: 2, pciSlot: Pf).AddNet("eth1", ifIndex: 3);
        _sysfs.RemovePciDirectory("0000:04:00.0"); // bus/pci/devices/0000:04:00.0 now dangles
        _sysfs.RemoveNetDirectory("eth1");

        var inventory = _bus.Scan();

        Assert.Equal([Pf], inventory.Pci.Select(p => p.Slot));
        Assert.Equal(["eth0"], inventory.Net.Select(n => n.Name));
        Assert.False(_bus.Exists(DeviceId.Net("eth1")));
    }

    [Fact]
    public void A_device_half_removed_is_skipped_by_the_scan()
    {
        // The kernel removes a device's attributes before its directory (kobject_del after
        // device_remove_attrs): a reader can find the directory without its files.
        _sysfs.AddPci(Pf).AddPci("0000:04:00.0").AddNet("eth0", ifIndex: 2);
        File.Delete(_sysfs.PathOf("devices/pci0000:00/0000:04:00.0/class"));
        File.Delete(_sysfs.PathOf("devices/virtual/net/eth0/ifindex"));

        var inventory = _bus.Scan();

        Assert.Equal([Pf], inventory.Pci.Select(p => p.Slot));
        Assert.Empty(inventory.Net);
    }

    [Fact]
    public void A_net_interface_removed_and_added_again_is_found_with_its_new_ifindex()
    {
        _sysfs.AddNet("eth0", ifIndex: 2);
        _sysfs.RemoveNet("eth0");
        Assert.Null(_bus.FindNet("eth0"));

        _sysfs.AddNet("eth0", ifIndex: 9);

        Assert.Equal(9, _bus.FindNet("eth0")?.IfIndex);
    }

    [Fact]
    public void A_scan_racing_hot_unplug_and_replug_never_throws()
    {
        for (var i = 0; i < 8; i++) _sysfs.AddPci($"0000:0{i}:00.0").AddNet($"eth{i}", ifIndex: i + 2, pciSlot: $"0000:0{i}:00.0");
        var stopAt = DateTime.UtcNow.AddMilliseconds(500);
        var rounds = 0;

        Exception? churnError = null;
        var churn = new Thread(() =>
        {
            try
            {
                while (DateTime.UtcNow < stopAt)
                {
                    var dir = _sysfs.PciDirectory($"0000:0{rounds++ % 8}:00.0");
                    var parked = dir + ".parked";
                    Directory.Move(dir, parked); // gone, as far as readers can tell
                    Thread.Yield();
                    Directory.Move(parked, dir); // and back
                }
            }
            catch (Exception e) { churnError = e; }
        });
        churn.Start();

        var scans = 0;
        try
        {
            while (churn.IsAlive)
            {
                var inventory = _bus.Scan();
                Assert.All(inventory.Pci, p => Assert.Equal("8086", p.VendorId));
                scans++;
            }
        }
        finally { churn.Join(); }

        Assert.Null(churnError);
        Assert.True(rounds > 0 && scans > 0);
    }
}

/// <summary>SysfsDeviceBus on the kernel's own sysfs, mounted from a fresh network namespace.</summary>
public sealed class SysfsDeviceBusOnRealSysfsTests : IDisposable
{
    private readonly TestNetworkNamespace? _ns;

    public SysfsDeviceBusOnRealSysfsTests()
    {
        if (KernelRequirements.MissingReason() is null) _ns = new TestNetworkNamespace("rpsys");
    }

    public void Dispose() => _ns?.Dispose();

    private TestNetworkNamespace Ns => _ns!;

    // Note "name a" and "dev a": a bare "a" is taken by ip as the abbreviation of "address".
    [KernelFact]
    public void Scan_and_find_see_a_new_veth_pair_with_its_real_ifindex_and_mac()
    {
        Ns.Ip("link add name a type veth peer name b");
        var bus = new SysfsDeviceBus(Ns.SysfsRoot);

        var inventory = bus.Scan();

        Assert.Equal(["a", "b", "lo"], inventory.Net.Select(n => n.Name).Order());
        foreach (var name in new[] { "a", "b" })
        {
            var (ifIndex, mac) = IpLink(name);
            var nic = bus.FindNet(name);
            Assert.NotNull(nic);
            Assert.Equal(ifIndex, nic.IfIndex);
            Assert.Equal(mac, nic.Mac);
            Assert.Null(nic.PermanentMac); // veth addresses are random (addr_assign_type 1)
            Assert.Null(nic.PciSlot);
            Assert.Equal($"/devices/virtual/net/{name}", nic.DevPath);
            Assert.Equal(nic, inventory.Net.Single(n => n.Name == name));
            Assert.True(bus.Exists(DeviceId.Net(name)));
        }
    }

    [KernelFact]
    public void A_real_bridge_and_loopback_are_not_nics_and_the_bridges_member_is()
    {
        Ns.Ip("link add name a type veth peer name b");
        Ns.Ip("link add name br0 type bridge");
        Ns.Ip("link set dev a master br0");
        var bond = Ns.TryIp("link add name bond0 type bond"); // needs the bonding module
        var bus = new SysfsDeviceBus(Ns.SysfsRoot);

        var net = bus.Scan().Net.ToDictionary(n => n.Name);

        Assert.Equal(NetDeviceKind.Bridge, net["br0"].Kind);
        Assert.Equal(NetDeviceKind.Loopback, net["lo"].Kind);
        Assert.Equal(NetDeviceKind.Interface, net["a"].Kind);
        Assert.Equal(NetDeviceKind.Interface, net["b"].Kind);
        if (bond) Assert.Equal(NetDeviceKind.Bond, net["bond0"].Kind);
        Assert.Null(NicIdentity.For(net["br0"]));
        Assert.NotNull(NicIdentity.For(net["a"]));
    }

    [KernelFact]
    public void A_deleted_veth_no_longer_exists()
    {
        Ns.Ip("link add name a type veth peer name b");
        var bus = new SysfsDeviceBus(Ns.SysfsRoot);
        Assert.True(bus.Exists(DeviceId.Net("a")));

        Ns.Ip("link del dev a");

        Assert.False(bus.Exists(DeviceId.Net("a")));
        Assert.False(bus.Exists(DeviceId.Net("b")));
        Assert.Null(bus.FindNet("a"));
    }

    [KernelFact]
    public void ConfigureNet_sets_the_mtu_and_brings_a_real_interface_up_and_down()
    {
        Ns.Ip("link add name a type veth peer name b");
        var bus = new SysfsDeviceBus(Ns.SysfsRoot);

        var up = bus.ConfigureNet("a", new NetConfig(Mtu: 4000, Up: true));

        Assert.True(up.Succeeded, up.ToString());
        using (var link = IpLinkJson("a"))
        {
            Assert.Equal(4000, link.RootElement[0].GetProperty("mtu").GetInt32());
            Assert.Contains("UP", link.RootElement[0].GetProperty("flags").EnumerateArray().Select(f => f.GetString()));
        }

        var down = bus.ConfigureNet("a", new NetConfig(Mtu: null, Up: false));

        Assert.True(down.Succeeded, down.ToString());
        using (var link = IpLinkJson("a"))
            Assert.DoesNotContain("UP", link.RootElement[0].GetProperty("flags").EnumerateArray().Select(f => f.GetString()));
    }

    private (int IfIndex, string Mac) IpLink(string name)
    {
        using var json = IpLinkJson(name);
        var link = json.RootElement[0];
        return (link.GetProperty("ifindex").GetInt32(), link.GetProperty("address").GetString()!);
    }

    private JsonDocument IpLinkJson(string name) => JsonDocument.Parse(Ns.Ip($"-j link show dev {name}"));
}
