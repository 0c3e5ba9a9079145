using Replug.Shared.Devices;

namespace Replug.Shared.Tests.Devices;

public class NicIdentityTests
{
    private static NetInterfaceInfo Nic(string? mac, string? permanentMac) =>
        new("eth0", 3, mac, permanentMac, "up", "0000:03:00.0", "/devices/pci0000:00/0000:00:03.0/0000:03:00.0/net/eth0");

    private static readonly PciDeviceInfo Backing =
        new("0000:03:00.0", "8086", "10fb", "020000", "ixgbe", 0, null, [], "/devices/pci0000:00/0000:00:03.0/0000:03:00.0");

    [Fact]
    public void The_permanent_MAC_comes_first()
    {
        Assert.Equal(new NicIdentity(NicIdentityKind.PermanentMac, "00:1b:21:aa:bb:cc"),
            NicIdentity.For(Nic("02:00:00:00:00:01", "00:1b:21:aa:bb:cc"), Backing));
    }

    [Fact]
    public void The_MAC_is_used_without_a_permanent_MAC()
    {
        Assert.Equal(new NicIdentity(NicIdentityKind.Mac, "02:00:00:00:00:01"),
            NicIdentity.For(Nic("02:00:00:00:00:01", null), Backing));
    }

    [Fact]
    public void The_PCI_identity_is_used_without_any_MAC()
    {
        Assert.Equal(new NicIdentity(NicIdentityKind.Pci, "8086:10fb@0000:03:00.0"), NicIdentity.For(Nic(null, null), Backing));
    }

    [Fact]
    public void No_MAC_and_no_PCI_device_is_no_identity()
    {
        Assert.Null(NicIdentity.For(Nic(null, null)));
        Assert.Null(NicIdentity.For(Nic("", "")));
    }

    [Theory]
    [InlineData("00:00:00:00:00:00")]
    [InlineData("000000000000")]
    [InlineData("00:00:00:00:00:00:00:00")]
    public void A_zero_permanent_MAC_is_ignored(string zero)
    {
        Assert.Equal(new NicIdentity(NicIdentityKind.Mac, "02:00:00:00:00:01"),
            NicIdentity.For(Nic("02:00:00:00:00:01", zero), Backing));
    }

    [Fact]
    public void A_zero_MAC_is_ignored()
    {
        Assert.Equal(NicIdentityKind.Pci, NicIdentity.For(Nic("00:00:00:00:00:00", "00:00:00:00:00:00"), Backing)!.Value.Kind);
        Assert.Null(NicIdentity.For(Nic("00:00:00:00:00:00", "00:00:00:00:00:00")));
    }

    [Fact]
    public void An_empty_permanent_MAC_is_ignored()
    {
        Assert.Equal(NicIdentityKind.Mac, NicIdentity.For(Nic("02:00:00:00:00:01", ""), Backing)!.Value.Kind);
    }

    [Fact]
    public void MACs_are_compared_in_lower_case()
    {
        Assert.Equal(NicIdentity.For(Nic(null, "00:1b:21:aa:bb:cc")), NicIdentity.For(Nic(null, "00:1B:21:AA:BB:CC")));
        Assert.Equal("00:1b:21:aa:bb:cc", NicIdentity.For(Nic("02:00:00:00:00:01", "00:1B:21:AA:BB:CC"))!.Value.Value);
        Assert.Equal("02:ab:00:00:00:01", NicIdentity.For(Nic("02:AB:00:00:00:01", null))!.Value.Value);
    }

    [Fact]
    public void The_same_NIC_on_another_host_has_the_same_identity()
    {
        // A migrated NIC: new name, new ifindex, new MAC, same permanent MAC.
        var before = Nic("02:00:00:00:00:01", "00:1b:21:aa:bb:cc");
        var after = before with { Name = "ens5", IfIndex = 12, Mac = "02:00:00:00:00:99" };
        Assert.Equal(NicIdentity.For(before), NicIdentity.For(after));
    }

    [Fact]
    public void ToString_names_the_kind_and_value()
    {
        Assert.Equal("PermanentMac:00:1b:21:aa:bb:cc", NicIdentity.For(Nic(null, "00:1b:21:aa:bb:cc"))!.Value.ToString());
    }
    [Theory]
    [InlineData(NetDeviceKind.Bridge)]
    [InlineData(NetDeviceKind.Bond)]
    [InlineData(NetDeviceKind.Loopback)]
    public void A_bridge_bond_or_loopback_is_not_a_NIC_and_has_no_identity_even_with_a_members_MAC(NetDeviceKind kind)
    {
        // A bridge shows its first member's MAC: as a NIC it would share that member's identity.
        var master = Nic("00:1b:21:aa:bb:cc", null) with { Kind = kind, PciSlot = null };

        Assert.False(master.IsNic);
        Assert.Null(NicIdentity.For(master));
        Assert.True(Nic("00:1b:21:aa:bb:cc", null).IsNic);
    }
}
