using Replug.Shared.Devices;

namespace Replug.Shared.Tests.Devices;

public class DeviceIdTests
{
    [Theory]
    [InlineData("net", "eth0")]
    [InlineData("pci", "0000:03:00.0")]
    [InlineData("vfio", "42")]
    [InlineData("net", "rp@at")]
    [InlineData("net", "rp=eq")]
    [InlineData("net", "\u00e9t\u00e9")]
    [InlineData("queues", "rx-0")]
    public void ToString_parses_back_to_the_same_id(string subsystem, string name)
    {
        var id = new DeviceId(subsystem, name);
        Assert.Equal($"{subsystem}/{name}", id.ToString());
        Assert.True(DeviceId.TryParse(id.ToString(), out var parsed));
        Assert.Equal(id, parsed);
    }

    [Fact]
    public void A_bare_name_is_a_net_device()
    {
        Assert.True(DeviceId.TryParse("eth0", out var id));
        Assert.Equal(DeviceId.Net("eth0"), id);
        Assert.Equal(Subsystems.Net, id.Subsystem);
    }

    [Fact]
    public void Net_and_Pci_use_their_subsystems()
    {
        Assert.Equal(new DeviceId("net", "eth0"), DeviceId.Net("eth0"));
        Assert.Equal(new DeviceId("pci", "0000:03:00.0"), DeviceId.Pci("0000:03:00.0"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("\t\n")]
    public void Nothing_is_not_an_id(string? text)
    {
        Assert.False(DeviceId.TryParse(text, out var id));
        Assert.Equal(default, id);
    }

    [Theory]
    [InlineData("net/")]
    [InlineData("/eth0")]
    [InlineData("net/..")]
    [InlineData("net/.")]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("net/../../etc")]
    [InlineData("net/a/b")]
    [InlineData("net/a\\b")]
    [InlineData("net/a\0b")]
    [InlineData("net/a\nb")]
    [InlineData("a\u0001b")]
    [InlineData("a\\..\\b")]
    public void An_unsafe_name_is_refused(string text)
    {
        Assert.False(DeviceId.TryParse(text, out _));
    }

    [Fact]
    public void A_name_over_255_characters_is_refused()
    {
        Assert.False(DeviceId.TryParse("net/" + new string('a', 256), out _));
        Assert.True(DeviceId.TryParse("net/" + new string('a', 255), out _));
    }

    [Fact]
    public void Ids_compare_by_value()
    {
        Assert.Equal(DeviceId.Net("eth0"), new DeviceId("net", "eth0"));
        Assert.NotEqual(DeviceId.Net("eth0"), DeviceId.Pci("eth0"));
        Assert.NotEqual(DeviceId.Net("eth0"), DeviceId.Net("eth1"));
    }
}
