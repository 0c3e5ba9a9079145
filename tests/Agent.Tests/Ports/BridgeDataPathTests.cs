using System.Text.Json;
using Replug.Agent.Linux;
using Replug.Agent.Ports;
using Replug.Agent.Tests.Support;
using Replug.Shared.Devices;

namespace Replug.Agent.Tests.Ports;

/// <summary>
/// BridgeDataPath against the kernel, in a fresh network namespace with bridge br0 and veth
/// pairs v1/v1p, v2/v2p. Where a device's master is read from that namespace's sysfs.
/// </summary>
public sealed class BridgeDataPathTests : IDisposable
{
    private static readonly PortId Port = new("web0");
    private static readonly DeviceId V1 = DeviceId.Net("v1");
    private static readonly DeviceId V2 = DeviceId.Net("v2");

    private readonly TestNetworkNamespace? _ns;
    private readonly BridgeDataPath? _path;

    public BridgeDataPathTests()
    {
        if (KernelRequirements.MissingReason() is not null) return;
        _ns = new TestNetworkNamespace("rpbr");
        try
        {
            _ns.Ip("link add name br0 type bridge");
            _ns.Ip("link set dev br0 up");
            AddVeth("v1");
            AddVeth("v2");
            _path = new BridgeDataPath(new Dictionary<PortId, string> { [Port] = "br0" }, _ns.Name);
        }
        catch
        {
            _ns.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        _path?.Dispose();
        _ns?.Dispose();
    }

    private TestNetworkNamespace Ns => _ns!;
    private BridgeDataPath DataPath => _path!;

    [KernelFact]
    public async Task Switching_from_nothing_enslaves_the_next_device_to_the_ports_bridge_and_brings_it_up()
    {
        var result = await DataPath.SwitchAsync(Port, null, V1, CancellationToken.None);

        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal("br0", MasterOf("v1"));
        Assert.True(IsUp("v1"));
        Assert.Null(MasterOf("v2"));
    }

    [KernelFact]
    public async Task Switching_moves_the_port_from_the_previous_device_to_the_next()
    {
        await DataPath.SwitchAsync(Port, null, V1, CancellationToken.None);

        var result = await DataPath.SwitchAsync(Port, V1, V2, CancellationToken.None);

        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal("br0", MasterOf("v2"));
        Assert.Null(MasterOf("v1"));
    }

    [KernelFact]
    public async Task Switching_is_idempotent()
    {
        await DataPath.SwitchAsync(Port, V1, V2, CancellationToken.None);

        var again = await DataPath.SwitchAsync(Port, V1, V2, CancellationToken.None);

        Assert.True(again.Succeeded, again.ToString());
        Assert.Equal("br0", MasterOf("v2"));
        Assert.Null(MasterOf("v1"));
    }

    [KernelFact]
    public async Task Switching_away_from_a_deleted_device_succeeds()
    {
        await DataPath.SwitchAsync(Port, null, V1, CancellationToken.None);
        Ns.Ip("link del dev v1"); // surprise removal

        var result = await DataPath.SwitchAsync(Port, V1, V2, CancellationToken.None);

        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal("br0", MasterOf("v2"));
    }

    [KernelFact]
    public async Task The_previous_device_keeps_the_port_until_the_next_is_operationally_up()
    {
        // A wait far longer than the test: only the next device coming up can end it.
        using var patient = new BridgeDataPath(new Dictionary<PortId, string> { [Port] = "br0" }, Ns.Name, operUpWait: TimeSpan.FromMinutes(5));
        await patient.SwitchAsync(Port, null, V1, CancellationToken.None);
        Ns.Ip("link set dev v2p down"); // v2 can be up, but not operationally up (lower layer down): it would not forward

        var switching = Task.Run(() => patient.SwitchAsync(Port, V1, V2, CancellationToken.None));
        await Until(() => MasterOf("v2") == "br0");
        Assert.Equal("lowerlayerdown", OperState("v2"));
        Assert.Equal("br0", MasterOf("v1"));
        Assert.False(switching.IsCompleted);

        Ns.Ip("link set dev v2p up");
        var result = await switching.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal("up", OperState("v2"));
        Assert.Null(MasterOf("v1"));
    }

    [KernelFact]
    public async Task A_previous_device_that_is_gone_is_not_waited_for()
    {
        using var patient = new BridgeDataPath(new Dictionary<PortId, string> { [Port] = "br0" }, Ns.Name, operUpWait: TimeSpan.FromMinutes(5));
        await patient.SwitchAsync(Port, null, V1, CancellationToken.None);
        Ns.Ip("link set dev v2p down");
        Ns.Ip("link del dev v1"); // surprise removal: nothing left to keep forwarding

        var result = await patient.SwitchAsync(Port, V1, V2, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal("br0", MasterOf("v2"));
    }

    [KernelFact]
    public async Task Switching_back_to_a_recreated_device_works_although_its_ifindex_changed()
    {
        await DataPath.SwitchAsync(Port, null, V1, CancellationToken.None);
        await DataPath.SwitchAsync(Port, V1, V2, CancellationToken.None);
        var before = IfIndex("v1");
        Ns.Ip("link del dev v1");
        AddVeth("v1");
        Assert.NotEqual(before, IfIndex("v1"));

        var result = await DataPath.SwitchAsync(Port, V2, V1, CancellationToken.None);

        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal("br0", MasterOf("v1"));
        Assert.Null(MasterOf("v2"));
    }

    [KernelFact]
    public async Task Switching_after_the_bridge_was_recreated_finds_its_new_ifindex()
    {
        await DataPath.SwitchAsync(Port, null, V1, CancellationToken.None); // caches br0's ifindex
        Ns.Ip("link del dev br0");
        Ns.Ip("link add name br0 type bridge");

        var result = await DataPath.SwitchAsync(Port, V1, V2, CancellationToken.None);

        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal("br0", MasterOf("v2"));
    }

    [KernelFact]
    public async Task Deactivating_releases_the_device_from_the_bridge()
    {
        await DataPath.SwitchAsync(Port, null, V1, CancellationToken.None);

        var result = await DataPath.DeactivateAsync(Port, V1, CancellationToken.None);

        Assert.True(result.Succeeded, result.ToString());
        Assert.Null(MasterOf("v1"));
    }

    [KernelFact]
    public async Task Deactivating_a_deleted_device_succeeds()
    {
        Ns.Ip("link del dev v1");

        var result = await DataPath.DeactivateAsync(Port, V1, CancellationToken.None);

        Assert.True(result.Succeeded, result.ToString());
    }

    [KernelFact]
    public async Task Switching_to_a_missing_device_fails_with_the_kernels_reason()
    {
        var result = await DataPath.SwitchAsync(Port, V1, DeviceId.Net("v9"), CancellationToken.None);

        Assert.False(result.Succeeded);
        Assert.Contains("cannot enslave v9 to bridge br0", result.Error);
        Assert.Contains("No such device", result.Error);
    }

    [KernelFact]
    public async Task A_missing_bridge_is_a_failure_that_names_it()
    {
        Ns.Ip("link del dev br0");

        var result = await DataPath.SwitchAsync(Port, null, V1, CancellationToken.None);

        Assert.False(result.Succeeded);
        Assert.Contains("bridge br0 not found", result.Error);
    }

    [KernelFact]
    public async Task A_port_without_a_bridge_or_a_device_that_is_not_a_net_interface_is_refused()
    {
        var noBridge = await DataPath.SwitchAsync(new PortId("db0"), null, V1, CancellationToken.None);
        var notNet = await DataPath.SwitchAsync(Port, null, DeviceId.Pci("0000:03:00.0"), CancellationToken.None);

        Assert.Contains("port db0 has no bridge", noBridge.Error);
        Assert.Contains("carries net interfaces", notNet.Error);
        Assert.Null(MasterOf("v1"));
    }

    [KernelFact]
    public async Task A_missing_network_namespace_is_a_failure_not_an_exception()
    {
        using var nowhere = new BridgeDataPath(_ => "br0", "rp-no-such-namespace");

        var result = await nowhere.SwitchAsync(Port, null, V1, CancellationToken.None);

        Assert.False(result.Succeeded);
        Assert.Contains("rp-no-such-namespace", result.Error);
    }

    [KernelFact]
    public async Task Ports_switched_from_many_threads_at_once_all_end_on_their_bridges()
    {
        var bridges = new Dictionary<PortId, string>();
        for (var i = 0; i < 4; i++)
        {
            Ns.Ip($"link add name br{i + 1} type bridge");
            AddVeth($"a{i}");
            AddVeth($"b{i}");
            bridges[new PortId($"p{i}")] = $"br{i + 1}";
        }
        using var path = new BridgeDataPath(bridges, Ns.Name);

        await Task.WhenAll(Enumerable.Range(0, 4).Select(i => Task.Run(async () =>
        {
            var port = new PortId($"p{i}");
            DeviceId? previous = null;
            for (var round = 0; round < 50; round++)
            {
                var next = DeviceId.Net(round % 2 == 0 ? $"a{i}" : $"b{i}");
                var result = await path.SwitchAsync(port, previous, next, CancellationToken.None);
                Assert.True(result.Succeeded, result.ToString());
                previous = next;
            }
        })));

        for (var i = 0; i < 4; i++)
        {
            Assert.Equal($"br{i + 1}", MasterOf($"b{i}")); // round 49 is odd: b
            Assert.Null(MasterOf($"a{i}"));
        }
    }

    private void AddVeth(string name)
    {
        Ns.Ip($"link add name {name} type veth peer name {name}p");
        Ns.Ip($"link set dev {name}p up");
    }

    /// <summary>The bridge a device is enslaved to, from /sys/class/net/DEV/master (a link to the master); null when none.</summary>
    private string? MasterOf(string device)
    {
        var target = new FileInfo(Path.Combine(Ns.SysfsRoot, "class/net", device, "master")).LinkTarget;
        return target is null ? null : Path.GetFileName(target);
    }

    private string OperState(string device) => File.ReadAllText(Path.Combine(Ns.SysfsRoot, "class/net", device, "operstate")).Trim();

    /// <summary>Polls the kernel's state until <paramref name="condition"/> holds (30 s at most).</summary>
    private static async Task Until(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the kernel never reached the expected state");
            await Task.Delay(5);
        }
    }

    private bool IsUp(string device)
    {
        var flags = File.ReadAllText(Path.Combine(Ns.SysfsRoot, "class/net", device, "flags")).Trim();
        return (Convert.ToUInt32(flags, 16) & 0x1) != 0;
    }

    private int IfIndex(string device)
    {
        using var json = JsonDocument.Parse(Ns.Ip($"-j link show dev {device}"));
        return json.RootElement[0].GetProperty("ifindex").GetInt32();
    }
}

/// <summary>The rtnetlink client alone, in a fresh network namespace.</summary>
public sealed class RtnetlinkTests : IDisposable
{
    private readonly TestNetworkNamespace? _ns;

    public RtnetlinkTests()
    {
        if (KernelRequirements.MissingReason() is null) _ns = new TestNetworkNamespace("rprt");
    }

    public void Dispose() => _ns?.Dispose();

    private TestNetworkNamespace Ns => _ns!;

    [KernelFact]
    public void A_link_index_is_found_by_name_inside_the_namespace_the_socket_was_opened_in()
    {
        Ns.Ip("link add name x1 type veth peer name x1p");
        using var json = JsonDocument.Parse(Ns.Ip("-j link show dev x1"));
        var expected = json.RootElement[0].GetProperty("ifindex").GetInt32();
        using var inside = Rtnetlink.Open(Ns.Name);

        var result = inside.GetLinkIndex("x1", out var index);

        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal(expected, index);
    }

    [KernelFact]
    public void An_unknown_link_is_ENODEV()
    {
        using var inside = Rtnetlink.Open(Ns.Name);

        var result = inside.GetLinkIndex("nope0", out _);

        Assert.Equal(Libc.ENODEV, result.Errno);
    }

    [KernelFact]
    public void A_socket_opened_in_the_agents_namespace_does_not_see_another_namespaces_links()
    {
        Ns.Ip("link add name x2 type veth peer name x2p");
        using var here = Rtnetlink.Open();

        Assert.Equal(Libc.ENODEV, here.GetLinkIndex("x2", out _).Errno);
    }

    [KernelFact]
    public void Setting_up_and_down_by_name_changes_iff_up()
    {
        Ns.Ip("link add name x3 type veth peer name x3p");
        using var rtnl = Rtnetlink.Open(Ns.Name);

        Assert.True(rtnl.SetUp("x3", true).Succeeded);
        Assert.Contains("UP", Flags("x3"));
        Assert.True(rtnl.SetUp("x3", false).Succeeded);
        Assert.DoesNotContain("UP", Flags("x3"));
    }

    [KernelFact]
    public void Setting_a_master_and_nomaster_by_ifindex()
    {
        Ns.Ip("link add name brx type bridge");
        Ns.Ip("link add name x4 type veth peer name x4p");
        using var rtnl = Rtnetlink.Open(Ns.Name);
        Assert.True(rtnl.GetLinkIndex("brx", out var bridge).Succeeded);
        Assert.True(rtnl.GetLinkIndex("x4", out var port).Succeeded);

        Assert.True(rtnl.SetLink(port, masterIfIndex: bridge).Succeeded);
        Assert.Equal("brx", Master("x4"));
        Assert.True(rtnl.SetLink(port, masterIfIndex: 0).Succeeded);
        Assert.Null(Master("x4"));
    }

    [KernelFact]
    public void The_kernels_extended_ack_text_comes_with_a_refusal()
    {
        Ns.Ip("link add name brx type bridge");
        using var rtnl = Rtnetlink.Open(Ns.Name);
        Assert.True(rtnl.GetLinkIndex("brx", out var bridge).Succeeded);

        var result = rtnl.SetMaster("brx", bridge); // a bridge cannot be its own port

        Assert.False(result.Succeeded);
        Assert.False(string.IsNullOrEmpty(result.Message), result.ToString());
    }

    [KernelFact]
    public void A_name_longer_than_ifnamsiz_is_refused_before_asking_the_kernel()
    {
        using var rtnl = Rtnetlink.Open(Ns.Name);

        var result = rtnl.SetUp("a-name-much-too-long", true);

        Assert.Equal(Libc.EINVAL, result.Errno);
        Assert.Contains("IFNAMSIZ", result.Message);
    }

    [KernelFact]
    public void A_missing_namespace_cannot_be_opened()
    {
        Assert.ThrowsAny<IOException>(() => Rtnetlink.Open("rp-no-such-namespace"));
    }

    private string[] Flags(string device)
    {
        using var json = JsonDocument.Parse(Ns.Ip($"-j link show dev {device}"));
        return json.RootElement[0].GetProperty("flags").EnumerateArray().Select(f => f.GetString()!).ToArray();
    }

    private string? Master(string device)
    {
        using var json = JsonDocument.Parse(Ns.Ip($"-j link show dev {device}"));
        return json.RootElement[0].TryGetProperty("master", out var master) ? master.GetString() : null;
    }
}
