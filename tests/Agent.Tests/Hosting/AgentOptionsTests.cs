using Microsoft.Extensions.Configuration;
using Replug.Agent.Hosting;

namespace Replug.Agent.Tests.Hosting;

public sealed class AgentOptionsTests
{
    private static IReadOnlyList<string> Load(params (string Key, string Value)[] settings)
    {
        var config = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)))
            .Build();
        AgentHost.TryLoadOptions(config, out _, out var errors);
        return errors;
    }

    private static (string, string)[] Port(int i, string name, params string[] devices) =>
    [
        ($"Replug:Agent:Ports:{i}:Name", name),
        .. devices.Select((d, j) => ($"Replug:Agent:Ports:{i}:Devices:{j}", d)),
        ($"Replug:Agent:Ports:{i}:DataPath:Bridge", "br0"),
    ];

    [Fact]
    public void The_defaults_are_valid() => Assert.Empty(Load());

    [Fact]
    public void A_port_over_net_and_pci_devices_is_valid() =>
        Assert.Empty(Load(Port(0, "uplink", "net/eth1", "eth2", "pci/0000:03:00.0")));

    [Theory]
    [InlineData("Replug:Agent:Steps:Retries", "-1", "Replug:Agent:Steps:Retries")]
    [InlineData("Replug:Agent:ReceiveBufferBytes", "10", "Replug:Agent:ReceiveBufferBytes")]
    [InlineData("Replug:Agent:SysfsRoot", "/no/such/dir", "Replug:Agent:SysfsRoot")]
    [InlineData("Replug:Agent:NetworkNamespace", "../etc", "Replug:Agent:NetworkNamespace")]
    [InlineData("Replug:Agent:Replay", "/no/such/capture", "Replug:Agent:Replay")]
    [InlineData("Replug:Agent:Devices:eth/../x:Mtu", "1500", "Replug:Agent:Devices:eth/../x")]
    [InlineData("Replug:Agent:Devices:net/eth1:Mtu", "12", "Replug:Agent:Devices:net/eth1:Mtu")]
    public void A_bad_value_is_reported_with_its_key(string key, string value, string named)
    {
        var errors = Load((key, value));
        Assert.Contains(errors, e => e.StartsWith(named + ":", StringComparison.Ordinal));
    }

    [Fact]
    public void A_value_of_the_wrong_type_names_its_key()
    {
        var error = Assert.Single(Load(("Replug:Agent:Steps:Retries", "many")));
        Assert.Contains("Replug:Agent:Steps:Retries", error);
    }

    [Fact]
    public void A_misspelt_key_is_an_error_not_silently_ignored()
    {
        var error = Assert.Single(Load(("Replug:Agent:Portz:0:Name", "uplink")));
        Assert.Contains("Portz", error);
    }

    [Fact]
    public void Port_mistakes_each_name_the_port_key()
    {
        var errors = Load([
            .. Port(0, "uplink", "net/eth1", "net/eth1"),
            .. Port(1, "uplink"),
            ("Replug:Agent:Ports:2:Name", "p2"), ("Replug:Agent:Ports:2:Devices:0", "net/eth3"), ("Replug:Agent:Ports:2:DataPath:Kind", "ovs"),
            ("Replug:Agent:Ports:3:Name", "p3"), ("Replug:Agent:Ports:3:Devices:0", "net/eth4"), ("Replug:Agent:Ports:3:DataPath:Kind", "command"),
        ]);
        Assert.Contains(errors, e => e.StartsWith("Replug:Agent:Ports:0:Devices:1:") && e.Contains("twice"));
        Assert.Contains(errors, e => e.StartsWith("Replug:Agent:Ports:1:Name:") && e.Contains("defined twice"));
        Assert.Contains(errors, e => e.StartsWith("Replug:Agent:Ports:1:Devices:") && e.Contains("at least one"));
        Assert.Contains(errors, e => e.StartsWith("Replug:Agent:Ports:2:DataPath:Kind:") && e.Contains("ovs"));
        Assert.Contains(errors, e => e.StartsWith("Replug:Agent:Ports:3:DataPath:Command:"));
    }
    [Fact]
    public void The_default_capacity_is_the_fail_over_devices_not_the_hosts_own_ports()
    {
        (string Key, string Value)[] settings =
        [
            .. Port(0, "uplink", "net/eth1", "net/eth2"),
            .. Port(1, "storage", "net/eth3"),
            ("Replug:Agent:FailoverDevices:0", "net/eth8"),
            ("Replug:Agent:FailoverDevices:1", "net/eth9"),
        ];
        var config = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)))
            .Build();

        Assert.True(AgentHost.TryLoadOptions(config, out var options, out var errors), string.Join("; ", errors));

        // Two slots for foreign ports; the own ports' devices cannot take one.
        Assert.Equal(2, options.EffectiveCapacity);
    }

    [Fact]
    public void A_configured_capacity_overrides_the_default() =>
        Assert.Equal(5, new AgentOptions { Capacity = 5, FailoverDevices = ["net/eth8"] }.EffectiveCapacity);
}
