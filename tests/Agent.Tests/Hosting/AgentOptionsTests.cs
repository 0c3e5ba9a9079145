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
    [InlineData("Replug:Agent:Host", "b\u202ec", "Replug:Agent:Host")]
    [InlineData("Replug:Agent:Devices:0:Id", "eth/../x", "Replug:Agent:Devices:0:Id")]
    [InlineData("Replug:Agent:Devices:0:Id", "net/IN TERFACE", "Replug:Agent:Devices:0:Id")]
    [InlineData("Replug:Agent:Devices:0:Id", "net/enp3s0f1np1-long", "Replug:Agent:Devices:0:Id")]
    [InlineData("Replug:Agent:Devices:0:Id", "net/a:b", "Replug:Agent:Devices:0:Id")]
    [InlineData("Replug:Agent:Devices:0:Id", "pci/3:00.0", "Replug:Agent:Devices:0:Id")]
    [InlineData("Replug:Agent:Ports:0:Devices:0", "net/IN TERFACE", "Replug:Agent:Ports:0:Devices:0")]
    [InlineData("Replug:Agent:FailoverDevices:0", "pci/0000:03:00.9", "Replug:Agent:FailoverDevices:0")]
    [InlineData("Replug:Agent:Subsystems:0", "IN TERFACE", "Replug:Agent:Subsystems:0")]
    [InlineData("Replug:Agent:Load:Interval", "00:00:00", "Replug:Agent:Load:Interval")]
    [InlineData("Replug:Agent:Load:HalfLife", "-00:00:01", "Replug:Agent:Load:HalfLife")]
    [InlineData("Replug:Agent:Load:Threshold", "1.5", "Replug:Agent:Load:Threshold")]
    [InlineData("Replug:Agent:Load:Threshold", "-0.1", "Replug:Agent:Load:Threshold")]
    [InlineData("Replug:Agent:Load:Heartbeat", "00:00:01", "Replug:Agent:Load:Heartbeat")]
    [InlineData("Replug:Agent:Load:DefaultCapacityMbps", "0", "Replug:Agent:Load:DefaultCapacityMbps")]
    public void A_bad_value_is_reported_with_its_key(string key, string value, string named)
    {
        var errors = Load((key, value));
        Assert.Contains(errors, e => e.StartsWith(named + ":", StringComparison.Ordinal));
    }

    [Fact]
    public void A_host_name_with_a_right_to_left_override_is_refused_and_shown_escaped()
    {
        var errors = Load(("Replug:Agent:Host", "b\u202ec"));
        Assert.Contains("Replug:Agent:Host: 'b\\u202ec': a host name has only printable characters (U+202E is not)", errors);
    }

    [Fact]
    public void A_PCI_function_is_configured_by_its_address_in_a_list_entry()
    {
        // Configuration keys split at ':': a PCI address can only be a value.
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Replug:Agent:Devices:0:Id"] = "pci/0000:03:00.0",
            ["Replug:Agent:Devices:0:Driver"] = "vfio-pci",
            ["Replug:Agent:Devices:1:Id"] = "net/eth1",
            ["Replug:Agent:Devices:1:Mtu"] = "9000",
        }).Build();

        Assert.True(AgentHost.TryLoadOptions(config, out var options, out var errors), string.Join("; ", errors));

        var managed = options.ManagedDevices();
        Assert.Equal("vfio-pci", managed[Shared.Devices.DeviceId.Pci("0000:03:00.0")].Driver);
        Assert.Equal(9000, managed[Shared.Devices.DeviceId.Net("eth1")].Mtu);
    }

    [Fact]
    public void Devices_keyed_by_id_are_refused_with_the_list_form_named()
    {
        var error = Assert.Single(Load(("Replug:Agent:Devices:pci/0000:03:00.0:Driver", "vfio-pci")));
        Assert.StartsWith("Replug:Agent:Devices:pci/0000:", error);
        Assert.Contains("Replug:Agent:Devices is a list, numbered from 0 (Replug:Agent:Devices:0:Id=…)", error);
    }

    [Theory]
    [InlineData("net/eth1", "Driver", "vfio-pci", "only those are bound to a driver")]
    [InlineData("pci/0000:03:00.0", "Mtu", "9000", "only those have an MTU")]
    public void A_setting_that_does_not_fit_the_device_names_its_key(string id, string setting, string value, string problem)
    {
        var error = Assert.Single(Load(("Replug:Agent:Devices:0:Id", id), ($"Replug:Agent:Devices:0:{setting}", value)));
        Assert.StartsWith($"Replug:Agent:Devices:0:{setting}: ", error);
        Assert.Contains(problem, error);
    }

    [Theory]
    [InlineData("Replug:Agent:Steps:IN TER\aFACE", @"Replug:Agent:Steps:IN TER\u0007FACE")]
    [InlineData("Replug:Agent:Ports:0:Dev ices:0", "Replug:Agent:Ports:0:Dev ices")]
    public void A_key_holding_a_space_or_a_control_character_is_refused_and_named_printably(string key, string named)
    {
        var error = Assert.Single(Load((key, "1")));
        Assert.Equal($"{named}: a key holds no spaces or control characters", error);
    }

    [Fact]
    public void A_list_given_on_the_command_line_replaces_the_whole_list_of_appsettings()
    {
        var config = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Replug:Agent:Subsystems:0"] = "net",
                ["Replug:Agent:Subsystems:1"] = "pci",
                ["Replug:Agent:Ports:0:Name"] = "uplink",
                ["Replug:Agent:Ports:0:Devices:0"] = "net/eth1",
                ["Replug:Agent:Ports:0:Devices:1"] = "net/eth2",
                ["Replug:Agent:Ports:0:DataPath:Bridge"] = "br0",
            })
            .AddCommandLine(["--Replug:Agent:Subsystems:0=net", "--Replug:Agent:Ports:0:Revertive=false"])
            .Build();

        Assert.True(AgentHost.TryLoadOptions(config, out var options, out var errors), string.Join("; ", errors));

        Assert.Equal(["net"], options.EffectiveSubsystems);
        // A list of objects still merges field by field: one setting of one port.
        var port = Assert.Single(options.Ports);
        Assert.Equal(("uplink", false), (port.Name, port.Revertive));
        Assert.Equal(["net/eth1", "net/eth2"], port.Devices);
    }

    [Fact]
    public void A_list_given_as_one_value_is_refused()
    {
        var error = Assert.Single(Load(("Replug:Agent:Subsystems", "net,pci")));
        Assert.StartsWith("Replug:Agent:Subsystems: a list: give its entries one by one", error);
    }

    [Fact]
    public void A_value_of_the_wrong_type_names_its_key()
    {
        var error = Assert.Single(Load(("Replug:Agent:Steps:Retries", "many")));
        Assert.Contains("Replug:Agent:Steps:Retries", error);
    }

    [Fact]
    public void The_load_section_is_read_into_the_samplers_settings_and_defaults_to_them()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Replug:Agent:Load:Interval"] = "00:00:05",
            ["Replug:Agent:Load:DefaultCapacityMbps"] = "25000",
        }).Build();
        Assert.True(AgentHost.TryLoadOptions(config, out var options, out var errors), string.Join("; ", errors));
        Assert.Equal(Replug.Agent.Load.NicLoadSettings.Default with { Interval = TimeSpan.FromSeconds(5), DefaultCapacityBps = 25e9 },
            options.Load.Settings);
        Assert.Equal(Replug.Agent.Load.NicLoadSettings.Default, new AgentOptions().Load.Settings);
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
