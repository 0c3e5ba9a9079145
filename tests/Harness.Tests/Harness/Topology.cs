using System.Net.NetworkInformation;
using System.Text.RegularExpressions;

namespace Replug.Harness;

/// <summary>One logical port: configured on its home host over a primary and a standby NIC; a bridge br-NAME on every host.</summary>
public sealed record PortSpec(int Index, string Name, string Home, string Primary, string Standby)
{
    public string Bridge => $"br-{Name}";
    /// <summary>The VM's veth end enslaved to the port's bridge.</summary>
    public string VmBridgeSide => $"v{Name}";
    /// <summary>The other end, where the probe counts the port's frames.</summary>
    public string VmEnd => $"v{Name}-vm";
}

/// <summary>A hypervisor host: a network namespace with its own NICs, one agent, an address on the management network.</summary>
public sealed record HostSpec(int Index, string Name, string Namespace, string Address, IReadOnlyList<PortSpec> Ports,
    IReadOnlyList<string> FailoverDevices);

/// <summary>
/// The run's name: every namespace, interface, schema and folder of a run carries it, with the
/// owning process's id, so that leftovers of a killed run are recognised (their owner is gone)
/// and removed by the next run, and two runs never share a name.
/// </summary>
public sealed partial record RunId(string Name, int OwnerPid)
{
    private static int _counter;

    public static RunId New() => new($"rh{Environment.ProcessId}x{Interlocked.Increment(ref _counter)}", Environment.ProcessId);

    /// <summary>The run a name belongs to, when it is a harness name ("rh1234x1-h1", "rh1234x1m", "rh1234x1").</summary>
    public static RunId? Of(string name) =>
        Pattern().Match(name) is { Success: true } m ? new RunId(m.Groups[1].Value, int.Parse(m.Groups[2].Value)) : null;

    /// <summary>Its owner has exited: nothing will clean it up but the next run.</summary>
    public bool IsStale => OwnerPid != Environment.ProcessId && !Directory.Exists($"/proc/{OwnerPid}");

    public override string ToString() => Name;

    [GeneratedRegex(@"^(rh(\d+)x\d+)")]
    private static partial Regex Pattern();
}

/// <summary>
/// The network a harness run builds, all of it in namespaces named after the run:
/// <list type="bullet">
/// <item>"RUN-fab", the fabric (top-of-rack switch): bridge "fab", to which the peer of every host
/// NIC is attached as an <b>isolated</b> port (frames from a host NIC never reach another host NIC,
/// so a port briefly enslaving two NICs cannot loop), and bridge "mgmt", the management network.</item>
/// <item>"RUN-hK" per host: its ports' NICs (host 1, port a: primary "e1a0", standby "e1a1"; each
/// fabric peer is "x" + the name), its fail-over devices ("f1a", "f1b", ...), for EVERY port of the
/// cluster a bridge "br-PORT" with a VM veth pair on it ("vPORT" enslaved, "vPORT-vm" where the
/// probe counts), and "mgmt0" on the management network (10.a.b.(10+K)).</item>
/// <item>In the root namespace, where the coordinators run: "RUNm" on the management network with
/// one address per coordinator (10.a.b.1, .2, ...).</item>
/// </list>
/// IPv6 is off in every namespace, so nothing but the probe's frames and the cluster's TCP moves.
/// Partitions are nftables rules in a host's namespace (table inet harness).
/// </summary>
public sealed class Topology : IAsyncDisposable
{
    public const string FabricBridge = "fab";
    public const string ManagementBridge = "mgmt";
    public const string ManagementInterface = "mgmt0";
    private const string PartitionTable = "harness";

    private readonly Dictionary<string, string?> _nicHost = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _nicMac = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _nicLastHost = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> _partitionRules = new(StringComparer.Ordinal);
    private readonly List<string> _namespaces = [];
    private readonly Lock _gate = new();
    private bool _disposed;

    private Topology(RunId run, string subnet, IReadOnlyList<HostSpec> hosts, int coordinators)
    {
        Run = run;
        Subnet = subnet;
        Hosts = hosts;
        Ports = [.. hosts.SelectMany(h => h.Ports).OrderBy(p => p.Index)];
        CoordinatorAddresses = [.. Enumerable.Range(1, coordinators).Select(i => $"{subnet}.{i}")];
    }

    public RunId Run { get; }
    /// <summary>The management network's first three octets ("10.a.b").</summary>
    public string Subnet { get; }
    public IReadOnlyList<HostSpec> Hosts { get; }
    public IReadOnlyList<PortSpec> Ports { get; }
    public IReadOnlyList<string> CoordinatorAddresses { get; }
    public string FabricNamespace => $"{Run}-fab";
    public string RootInterface => $"{Run}m";

    public HostSpec Host(string name) => Hosts.Single(h => h.Name == name);
    public PortSpec Port(string name) => Ports.Single(p => p.Name == name);

    /// <summary>The host whose namespace holds <paramref name="nic"/> now, or null when it is deleted.</summary>
    public string? WhereIs(string nic)
    {
        lock (_gate) return _nicHost.GetValueOrDefault(nic);
    }

    /// <summary>Where a deleted NIC was last.</summary>
    public string? LastHostOf(string nic)
    {
        lock (_gate) return _nicLastHost.GetValueOrDefault(nic);
    }

    public IReadOnlyDictionary<string, string?> NicLocations
    {
        get { lock (_gate) return new Dictionary<string, string?>(_nicHost); }
    }

    public static IReadOnlyList<HostSpec> Plan(RunId run, string subnet, HarnessOptions options)
    {
        var hosts = new List<HostSpec>();
        var portIndex = 0;
        for (var k = 1; k <= options.Hosts; k++)
        {
            var ports = new List<PortSpec>();
            for (var j = 0; j < options.PortsPerHost; j++)
            {
                var letter = (char)('a' + j);
                ports.Add(new PortSpec(portIndex++, $"p{k}{letter}", $"h{k}", $"e{k}{letter}0", $"e{k}{letter}1"));
            }
            var failover = Enumerable.Range(0, options.FailoverDevicesPerHost).Select(j => $"f{k}{(char)('a' + j)}").ToList();
            hosts.Add(new HostSpec(k - 1, $"h{k}", $"{run}-h{k}", $"{subnet}.{10 + k}", ports, failover));
        }
        return hosts;
    }

    /// <summary>Removes what killed runs left behind (namespaces and the processes in them, root interfaces), then builds this run's network.</summary>
    public static async Task<Topology> CreateAsync(RunId run, HarnessOptions options)
    {
        await RemoveStaleAsync(options.Log);
        var subnet = await FreeSubnetAsync(run);
        var topology = new Topology(run, subnet, Plan(run, subnet, options), options.Coordinators);
        try
        {
            await topology.BuildAsync();
        }
        catch
        {
            await topology.DisposeAsync();
            throw;
        }
        return topology;
    }

    private async Task BuildAsync()
    {
        foreach (var ns in Hosts.Select(h => h.Namespace).Prepend(FabricNamespace))
        {
            await Cmd.Ip($"netns add {ns}");
            lock (_gate) _namespaces.Add(ns);
            await Cmd.RunAsync("ip", ["netns", "exec", ns, "sysctl", "-q", "-w",
                "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]);
        }

        await Cmd.IpBatch(FabricNamespace,
        [
            "link set lo up",
            $"link add name {FabricBridge} type bridge",
            $"link add name {ManagementBridge} type bridge",
            $"link set {FabricBridge} up",
            $"link set {ManagementBridge} up",
        ]);

        // The root namespace's end of the management network: one address per coordinator.
        await Cmd.Ip($"link add name {RootInterface} type veth peer name root netns {FabricNamespace}");
        await Cmd.IpBatch(FabricNamespace, ["link set root master mgmt", "link set root up"]);
        var root = CoordinatorAddresses.Select(a => $"addr add {a}/24 dev {RootInterface}").Append($"link set {RootInterface} up").ToList();
        await Cmd.RunAsync("ip", ["-batch", "-"], string.Join('\n', root) + "\n");

        var fabric = new List<string>();
        var isolated = new List<string>();
        foreach (var host in Hosts)
        {
            var lines = new List<string>
            {
                "link set lo up",
                $"link add name {ManagementInterface} type veth peer name m-{host.Name} netns {FabricNamespace}",
                $"addr add {host.Address}/24 dev {ManagementInterface}",
                $"link set {ManagementInterface} up",
            };
            fabric.Add($"link set m-{host.Name} master {ManagementBridge}");
            fabric.Add($"link set m-{host.Name} up");
            var nics = host.Ports.SelectMany(p => new[] { p.Primary, p.Standby }).Concat(host.FailoverDevices);
            foreach (var nic in nics)
            {
                var mac = MacOf(nic);
                lock (_gate)
                {
                    _nicHost[nic] = host.Name;
                    _nicMac[nic] = mac;
                }
                lines.Add($"link add name {nic} address {mac} type veth peer name x{nic} netns {FabricNamespace}");
                lines.Add($"link set {nic} up");
                fabric.Add($"link set x{nic} master {FabricBridge}");
                fabric.Add($"link set x{nic} up");
                isolated.Add($"link set dev x{nic} isolated on");
            }
            foreach (var port in Ports)
            {
                lines.Add($"link add name {port.Bridge} type bridge");
                lines.Add($"link set {port.Bridge} up");
                lines.Add($"link add name {port.VmBridgeSide} type veth peer name {port.VmEnd}");
                lines.Add($"link set {port.VmBridgeSide} master {port.Bridge}");
                lines.Add($"link set {port.VmBridgeSide} up");
                lines.Add($"link set {port.VmEnd} up");
            }
            await Cmd.IpBatch(host.Namespace, lines);
        }
        await Cmd.IpBatch(FabricNamespace, fabric);
        await Cmd.BridgeBatch(FabricNamespace, isolated);
    }

    /// <summary>A locally administered MAC per NIC name, so that a NIC that returns (or moves) keeps its identity.</summary>
    public string MacOf(string nic)
    {
        var hash = (uint)nic.Aggregate(17, (h, c) => h * 31 + c);
        var run = (uint)Run.Name.Aggregate(7, (h, c) => h * 31 + c);
        return $"02:{run & 0xff:x2}:{(run >> 8) & 0xff:x2}:{(hash >> 16) & 0xff:x2}:{(hash >> 8) & 0xff:x2}:{hash & 0xff:x2}";
    }

    // ---- faults --------------------------------------------------------------------------------

    /// <summary>A surprise removal: the veth goes (its fabric peer with it).</summary>
    public async Task DeleteNicAsync(string nic)
    {
        var host = WhereIs(nic) ?? throw new InvalidOperationException($"{nic} is already deleted");
        await Cmd.Ip($"-n {Namespace(host)} link del {nic}");
        lock (_gate)
        {
            _nicHost[nic] = null;
            _nicLastHost[nic] = host;
        }
    }

    /// <summary>The NIC returns (same name and MAC, so the same identity), plugged into the fabric again, on <paramref name="host"/>.</summary>
    public async Task RestoreNicAsync(string nic, string host)
    {
        if (WhereIs(nic) is { } present) throw new InvalidOperationException($"{nic} is present on {present}");
        string mac;
        lock (_gate) mac = _nicMac[nic];
        await Cmd.IpBatch(Namespace(host),
        [
            $"link add name {nic} address {mac} type veth peer name x{nic} netns {FabricNamespace}",
            $"link set {nic} up",
        ]);
        await Cmd.IpBatch(FabricNamespace, [$"link set x{nic} master {FabricBridge}", $"link set x{nic} up"]);
        await Cmd.BridgeBatch(FabricNamespace, [$"link set dev x{nic} isolated on"]);
        lock (_gate) _nicHost[nic] = host;
    }

    /// <summary>A live migration of the NIC: moved into another host's namespace (a remove there, an add here), still on the fabric.</summary>
    public async Task MoveNicAsync(string nic, string toHost)
    {
        var from = WhereIs(nic) ?? throw new InvalidOperationException($"{nic} is deleted");
        await Cmd.Ip($"-n {Namespace(from)} link set {nic} netns {Namespace(toHost)}");
        lock (_gate) _nicHost[nic] = toHost;
        await Cmd.Ip($"-n {Namespace(toHost)} link set {nic} up");
    }

    /// <summary>The NICs enslaved to <paramref name="port"/>'s bridge on <paramref name="host"/> now (the kernel's word).</summary>
    public async Task<IReadOnlyList<string>> EnslavedAsync(string host, string port)
    {
        var spec = Port(port);
        var output = await Cmd.Ip($"-n {Namespace(host)} -o link show master {spec.Bridge}");
        return [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(':', 3)[1].Trim().Split('@')[0])
            .Where(name => name != spec.VmBridgeSide)];
    }

    /// <summary>Whether the kernel has <paramref name="nic"/>'s link administratively up (IFF_UP) on <paramref name="host"/>: a planned detach takes it down.</summary>
    public async Task<bool> LinkUpAsync(string host, string nic)
    {
        var output = await Cmd.Ip($"-n {Namespace(host)} -o link show dev {nic}");
        var flags = output[(output.IndexOf('<') + 1)..output.IndexOf('>')].Split(',');
        return flags.Contains("UP");
    }

    /// <summary>Cuts <paramref name="host"/> off the management network (both directions); its NICs keep their traffic.</summary>
    public Task IsolateAsync(string host) => ChangeRules(host, rules =>
    {
        rules.Add($"input iifname \"{ManagementInterface}\" drop");
        rules.Add($"output oifname \"{ManagementInterface}\" drop");
    });

    public Task UnisolateAsync(string host) => ChangeRules(host, rules =>
    {
        rules.Remove($"input iifname \"{ManagementInterface}\" drop");
        rules.Remove($"output oifname \"{ManagementInterface}\" drop");
    });

    /// <summary>Drops only the traffic between two hosts (rules in both namespaces); both still reach everyone else.</summary>
    public async Task CutAsync(string a, string b)
    {
        await ChangeRules(a, rules => { rules.Add($"input ip saddr {Host(b).Address} drop"); rules.Add($"output ip daddr {Host(b).Address} drop"); });
        await ChangeRules(b, rules => { rules.Add($"input ip saddr {Host(a).Address} drop"); rules.Add($"output ip daddr {Host(a).Address} drop"); });
    }

    public async Task UncutAsync(string a, string b)
    {
        await ChangeRules(a, rules => { rules.Remove($"input ip saddr {Host(b).Address} drop"); rules.Remove($"output ip daddr {Host(b).Address} drop"); });
        await ChangeRules(b, rules => { rules.Remove($"input ip saddr {Host(a).Address} drop"); rules.Remove($"output ip daddr {Host(a).Address} drop"); });
    }

    /// <summary>Removes every partition rule of every host.</summary>
    public async Task HealAllAsync()
    {
        foreach (var host in Hosts) await ChangeRules(host.Name, rules => rules.Clear());
    }

    /// <summary>Rewrites the host's partition table in one nft transaction (created empty first, so the delete never fails).</summary>
    private async Task ChangeRules(string host, Action<HashSet<string>> change)
    {
        string script;
        lock (_gate)
        {
            if (!_partitionRules.TryGetValue(host, out var rules)) _partitionRules[host] = rules = [];
            change(rules);
            var input = rules.Where(r => r.StartsWith("input ", StringComparison.Ordinal)).Select(r => $"    {r["input ".Length..]}");
            var output = rules.Where(r => r.StartsWith("output ", StringComparison.Ordinal)).Select(r => $"    {r["output ".Length..]}");
            script = $$"""
                table inet {{PartitionTable}} {}
                delete table inet {{PartitionTable}}
                table inet {{PartitionTable}} {
                  chain input {
                    type filter hook input priority -300; policy accept;
                {{string.Join('\n', input)}}
                  }
                  chain output {
                    type filter hook output priority -300; policy accept;
                {{string.Join('\n', output)}}
                  }
                }
                """;
        }
        await Cmd.Nft(Namespace(host), script);
    }

    public string Namespace(string host) => Host(host).Namespace;

    // ---- leftovers and addresses -------------------------------------------------------------

    /// <summary>
    /// Namespaces of runs whose owner is gone: the processes still in them are killed (an agent of a
    /// killed run would otherwise keep its namespace alive), then the namespaces are deleted; the
    /// root namespace's management interfaces go with their peers.
    /// </summary>
    public static async Task RemoveStaleAsync(Action<string>? log)
    {
        var list = await Cmd.TryAsync("ip", ["netns", "list"]);
        foreach (var line in list.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var ns = line.Split(' ')[0];
            if (RunId.Of(ns) is not { IsStale: true }) continue;
            var pids = await Cmd.TryAsync("ip", ["netns", "pids", ns]);
            foreach (var pid in pids.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                if (int.TryParse(pid, out var p)) Native.kill(p, Native.SIGKILL);
            await Cmd.TryAsync("ip", ["netns", "del", ns]);
            log?.Invoke($"removed namespace {ns} of an earlier, killed run");
        }
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
            if (RunId.Of(nic.Name) is { IsStale: true })
                await Cmd.TryAsync("ip", ["link", "del", nic.Name]);
    }

    /// <summary>A /24 under 10.200-10.249 that no interface of the root namespace is on.</summary>
    private static async Task<string> FreeSubnetAsync(RunId run)
    {
        var used = ((await Cmd.Ip("-4 -o addr show")) + "\n" + (await Cmd.Ip("-4 route show")))
            .Split([' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        var seed = (uint)run.Name.Aggregate(11, (h, c) => h * 31 + c);
        for (var attempt = 0; attempt < 12800; attempt++)
        {
            var n = (seed + (uint)attempt) % 12800;
            var subnet = $"10.{200 + n / 256}.{n % 256}";
            if (!used.Any(token => token.StartsWith($"{subnet}.", StringComparison.Ordinal))) return subnet;
        }
        throw new InvalidOperationException("no free 10.200-249.x.0/24 subnet for the management network");
    }

    public async ValueTask DisposeAsync()
    {
        List<string> namespaces;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            namespaces = [.. _namespaces];
        }
        await Cmd.TryAsync("ip", ["link", "del", RootInterface]);
        foreach (var ns in namespaces)
        {
            var pids = await Cmd.TryAsync("ip", ["netns", "pids", ns]);
            foreach (var pid in pids.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                if (int.TryParse(pid, out var p) && p != Environment.ProcessId) Native.kill(p, Native.SIGKILL);
            await Cmd.TryAsync("ip", ["netns", "del", ns]);
        }
    }
}
