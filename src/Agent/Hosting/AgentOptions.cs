using Replug.Agent.Devices;
using Replug.Agent.Load;
using Replug.Shared.Devices;

namespace Replug.Agent.Hosting;

/// <summary>The agent's configuration (section "Replug:Agent"), validated at start.</summary>
public sealed class AgentOptions
{
    public const string Section = "Replug:Agent";

    /// <summary>This host's name in the cluster; the machine name by default.</summary>
    public string Host { get; set; } = Environment.MachineName;
    public string SysfsRoot { get; set; } = "/sys";
    /// <summary>Watch and act in this named network namespace (one namespace = one host, for tests and demos).</summary>
    public string? NetworkNamespace { get; set; }
    /// <summary>The subsystems to watch (default: net and pci). A list given on the command line replaces appsettings.json's whole.</summary>
    public List<string> Subsystems { get; set; } = [];
    public int ReceiveBufferBytes { get; set; } = 128 * 1024 * 1024;
    /// <summary>Read events from this capture (or "-" for stdin) instead of the kernel.</summary>
    public string? Replay { get; set; }
    /// <summary>Also write every event received to this file, in the kernel's wire format.</summary>
    public string? Capture { get; set; }
    public int HistorySize { get; set; } = 1000;
    /// <summary>
    /// Where the agent serves /metrics and /health/live, /health/ready (';' between several URLs; an
    /// IP address or localhost); empty: no listener. Loopback by default: put it on an address that
    /// Prometheus reaches, and give each agent in one network namespace its own port.
    /// </summary>
    public string HttpUrls { get; set; } = DefaultHttpUrls;

    /// <summary>The agent's listener unless configured otherwise (9464: the port Prometheus' exporters commonly use).</summary>
    public const string DefaultHttpUrls = "http://127.0.0.1:9464";
    public StepOptions Steps { get; set; } = new();
    /// <summary>
    /// How to treat devices this host manages, each named by its <see cref="DeviceOptions.Id"/>. A
    /// list, not a map keyed by id: configuration keys split at ':', and every PCI address has two.
    /// </summary>
    public List<DeviceOptions> Devices { get; set; } = [];
    public List<PortOptions> Ports { get; set; } = [];

    /// <summary>In a cluster: devices kept free for ports the coordinator fails over to this host (one port each).</summary>
    public List<string> FailoverDevices { get; set; } = [];
    /// <summary>The data path of such a port; "{port}" in Bridge or Command is replaced by the port's name.</summary>
    public DataPathOptions FailoverDataPath { get; set; } = new() { Bridge = "br-{port}" };
    /// <summary>
    /// Ports failed over from other hosts that this host can carry (default: its fail-over
    /// devices, one port each). Its own ports' devices are not counted: they cannot take a
    /// foreign port.
    /// </summary>
    public int? Capacity { get; set; }
    /// <summary>A host kept free for fail-over: the coordinator places ports here first.</summary>
    public bool Reserved { get; set; }
    /// <summary>In a cluster: the fence the kernel enforces when this agent is gone (see <see cref="FenceOptions"/>).</summary>
    public FenceOptions Fence { get; set; } = new();
    /// <summary>In a cluster: how the NICs' traffic is measured and reported to the coordinator (see <see cref="LoadOptions"/>).</summary>
    public LoadOptions Load { get; set; } = new();

    /// <summary>
    /// Each NIC's traffic, from its byte counters in sysfs against its speed, smoothed, and reported
    /// when it moved by more than <see cref="Threshold"/> or at the <see cref="Heartbeat"/>.
    /// </summary>
    public sealed class LoadOptions
    {
        /// <summary>How often every NIC's counters are read.</summary>
        public TimeSpan Interval { get; set; } = NicLoadSettings.Default.Interval;
        /// <summary>The smoothing: a step in traffic is half-way in the figure after one half-life.</summary>
        public TimeSpan HalfLife { get; set; } = NicLoadSettings.Default.HalfLife;
        /// <summary>A change of a NIC's utilization that is reported at once (0.05: five points of its capacity).</summary>
        public double Threshold { get; set; } = NicLoadSettings.Default.Threshold;
        /// <summary>A report at least this often, changed or not.</summary>
        public TimeSpan Heartbeat { get; set; } = NicLoadSettings.Default.Heartbeat;
        /// <summary>The capacity (Mb/s) of a NIC whose kernel gives no speed (veths, some virtual NICs).</summary>
        public double DefaultCapacityMbps { get; set; } = NicLoadSettings.Default.DefaultCapacityBps / 1e6;

        public NicLoadSettings Settings => new(Interval, HalfLife, Threshold, Heartbeat, DefaultCapacityMbps * 1e6);
    }

    /// <summary>
    /// The kernel-enforced lease: the port members and fail-over devices forward through a bridge
    /// only while the coordinator's lease, renewed by this agent in an nftables timeout set, lasts.
    /// A killed or hung agent renews nothing, and the kernel drops the traffic by itself.
    /// </summary>
    public sealed class FenceOptions
    {
        /// <summary>"nftables" (the default) or "none": only this process fences, so a killed agent's ports keep forwarding.</summary>
        public string Kind { get; set; } = "nftables";
        /// <summary>The nftables table (bridge family) the fence lives in.</summary>
        public string Table { get; set; } = Replug.Agent.Ports.NftablesLease.DefaultTable;
        /// <summary>The nft program.</summary>
        public string Nft { get; set; } = "nft";
        /// <summary>How often the lease is renewed (default: a quarter of the cluster's lease).</summary>
        public TimeSpan? RenewInterval { get; set; }
    }

    public sealed class StepOptions
    {
        public TimeSpan Timeout { get; set; } = StepPolicy.Default.Timeout;
        public int Retries { get; set; } = StepPolicy.Default.Retries;
        public TimeSpan InitialBackoff { get; set; } = StepPolicy.Default.InitialBackoff;
        public TimeSpan MaxBackoff { get; set; } = StepPolicy.Default.MaxBackoff;
    }

    public sealed class DeviceOptions
    {
        /// <summary>"net/eth1" (or "eth1"), "pci/0000:03:00.0".</summary>
        public string Id { get; set; } = "";
        /// <summary>For a PCI function: the driver to bind it to before it is offered to its ports ("vfio-pci").</summary>
        public string? Driver { get; set; }
        /// <summary>For a net interface: the MTU to re-apply when it returns.</summary>
        public int? Mtu { get; set; }
        public bool BringUp { get; set; } = true;
    }

    public sealed class PortOptions
    {
        public string Name { get; set; } = "";
        /// <summary>Preferred device first, then standbys in order ("net/eth1", "eth2", "pci/0000:03:00.0").</summary>
        public List<string> Devices { get; set; } = [];
        public bool Revertive { get; set; } = true;
        public DataPathOptions DataPath { get; set; } = new();
        /// <summary>Restart priority across hosts: higher tiers are placed first.</summary>
        public int Priority { get; set; }
        /// <summary>Ports of one group are never placed on the same host.</summary>
        public string? AntiAffinityGroup { get; set; }
    }

    public sealed class DataPathOptions
    {
        /// <summary>"bridge" (the active device is enslaved to Bridge) or "command" (runs Command).</summary>
        public string Kind { get; set; } = "bridge";
        public string? Bridge { get; set; }
        /// <summary>For "command": the program and arguments; {action}, {port}, {previous}, {next}, {device} are substituted per argument (see CommandDataPath).</summary>
        public string? Command { get; set; }
        /// <summary>For "command": run instead of Command to take the last device out of the path (optional).</summary>
        public string? DeactivateCommand { get; set; }
        public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);
    }

    public IReadOnlySet<string> EffectiveSubsystems =>
        Subsystems.Count == 0 ? new HashSet<string> { Shared.Devices.Subsystems.Net, Shared.Devices.Subsystems.Pci } : Subsystems.ToHashSet();

    public StepPolicy StepPolicy => new(Steps.Timeout, Steps.Retries, Steps.InitialBackoff, Steps.MaxBackoff);

    /// <summary>Every problem, each naming its configuration key; empty when the options are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        void Check(bool ok, string key, string problem) { if (!ok) errors.Add($"{Section}:{key}: {problem}"); }

        Check(HostNames.Problem(Host) is null, nameof(Host), $"'{ConfigurationSections.Printable(Host)}': {HostNames.Problem(Host)}");
        Check(!string.IsNullOrWhiteSpace(SysfsRoot), nameof(SysfsRoot), "must not be empty");
        Check(Replay is not null || string.IsNullOrWhiteSpace(SysfsRoot) || Directory.Exists(SysfsRoot), nameof(SysfsRoot), $"'{SysfsRoot}' does not exist");
        Check(NetworkNamespace is null || (DeviceNames.IsSafe(NetworkNamespace) && File.Exists(Path.Combine(Linux.NetworkNamespace.RunDirectory, NetworkNamespace))),
            nameof(NetworkNamespace), $"'{NetworkNamespace}' is not a network namespace in {Linux.NetworkNamespace.RunDirectory}");
        for (var i = 0; i < Subsystems.Count; i++)
            Check(IsConfiguredName(Subsystems[i]), $"Subsystems:{i}", $"'{Printable(Subsystems[i])}' is not a subsystem name");
        Check(ReceiveBufferBytes >= 4096, nameof(ReceiveBufferBytes), "must be at least 4096");
        Check(Replay is null || Replay == "-" || File.Exists(Replay), nameof(Replay), $"'{Replay}' does not exist");
        Check(HistorySize > 0, nameof(HistorySize), "must be positive");
        errors.AddRange(ListenUrls.Problems(HttpUrls, $"{Section}:{nameof(HttpUrls)}"));
        Check(Steps.Timeout > TimeSpan.Zero, "Steps:Timeout", "must be positive");
        Check(Steps.Retries >= 0, "Steps:Retries", "must not be negative");
        Check(Steps.InitialBackoff > TimeSpan.Zero && Steps.MaxBackoff >= Steps.InitialBackoff, "Steps:InitialBackoff",
            "must be positive and not above Steps:MaxBackoff");

        var configured = new HashSet<DeviceId>();
        for (var i = 0; i < Devices.Count; i++)
        {
            var device = Devices[i];
            var key = $"Devices:{i}";
            if (ProblemOfDeviceId(device.Id, out var id) is { } problem)
            {
                Check(false, $"{key}:Id", problem);
                continue;
            }
            Check(configured.Add(id), $"{key}:Id", $"'{device.Id}' is configured twice");
            Check(device.Mtu is null or >= 68 and <= 65535, $"{key}:Mtu", $"{device.Mtu} is not an MTU (68..65535)");
            Check(device.Mtu is null || id.Subsystem == Shared.Devices.Subsystems.Net, $"{key}:Mtu", $"{id} is not a net interface: only those have an MTU");
            Check(device.Driver is null || IsConfiguredName(device.Driver), $"{key}:Driver", $"'{Printable(device.Driver ?? "")}' is not a driver name");
            Check(device.Driver is null || id.Subsystem == Shared.Devices.Subsystems.Pci, $"{key}:Driver", $"{id} is not a PCI function: only those are bound to a driver");
        }

        for (var i = 0; i < FailoverDevices.Count; i++)
            if (ProblemOfDeviceId(FailoverDevices[i], out _) is { } problem) Check(false, $"FailoverDevices:{i}", problem);
        Check(Capacity is null or >= 0, nameof(Capacity), "must not be negative");
        Check(FailoverDataPath.Kind is "bridge" or "command", "FailoverDataPath:Kind", $"'{FailoverDataPath.Kind}' is not a data path (bridge, command)");
        Check(Fence.Kind is "nftables" or "none", "Fence:Kind", $"'{Fence.Kind}' is not a fence (nftables, none)");
        Check(DeviceNames.IsSafe(Fence.Table), "Fence:Table", $"'{Fence.Table}' is not an nftables table name");
        Check(!string.IsNullOrWhiteSpace(Fence.Nft), "Fence:Nft", "must name the nft program");
        Check(Fence.RenewInterval is null || Fence.RenewInterval > TimeSpan.Zero, "Fence:RenewInterval", "must be positive");
        Check(Load.Interval > TimeSpan.Zero, "Load:Interval", "must be positive");
        Check(Load.HalfLife > TimeSpan.Zero, "Load:HalfLife", "must be positive");
        Check(Load.Threshold is >= 0 and < 1, "Load:Threshold", $"{Load.Threshold} is not a share of a link (0 to below 1; 0.05 = five points)");
        Check(Load.Heartbeat >= Load.Interval, "Load:Heartbeat", $"must not be shorter than Load:Interval ({Load.Interval})");
        Check(Load.DefaultCapacityMbps > 0 && double.IsFinite(Load.DefaultCapacityMbps), "Load:DefaultCapacityMbps", "must be a positive number of Mb/s");

        var portNames = new HashSet<string>();
        for (var i = 0; i < Ports.Count; i++)
        {
            var port = Ports[i];
            var key = $"Ports:{i}";
            Check(!string.IsNullOrWhiteSpace(port.Name) && DeviceNames.IsSafe(port.Name), $"{key}:Name", $"'{port.Name}' is not a port name");
            Check(portNames.Add(port.Name), $"{key}:Name", $"port '{port.Name}' is defined twice");
            Check(port.Devices.Count > 0, $"{key}:Devices", "a port needs at least one device");
            var ids = new HashSet<DeviceId>();
            for (var j = 0; j < port.Devices.Count; j++)
            {
                var problem = ProblemOfDeviceId(port.Devices[j], out var id);
                var ok = problem is null;
                Check(ok, $"{key}:Devices:{j}", problem ?? "");
                Check(!ok || ids.Add(id), $"{key}:Devices:{j}", $"'{port.Devices[j]}' is listed twice");
            }
            switch (port.DataPath.Kind)
            {
                case "bridge":
                    Check(!string.IsNullOrWhiteSpace(port.DataPath.Bridge) && DeviceNames.IsSafe(port.DataPath.Bridge!),
                        $"{key}:DataPath:Bridge", "a bridge data path needs the bridge's interface name");
                    break;
                case "command":
                    Check(!string.IsNullOrWhiteSpace(port.DataPath.Command), $"{key}:DataPath:Command", "a command data path needs a command");
                    break;
                default:
                    Check(false, $"{key}:DataPath:Kind", $"'{port.DataPath.Kind}' is not a data path (bridge, command)");
                    break;
            }
            Check(port.DataPath.Timeout > TimeSpan.Zero, $"{key}:DataPath:Timeout", "must be positive");
        }
        return errors;
    }

    /// <summary>The net devices the kernel fence covers: every port member and fail-over device that is a net interface.</summary>
    public IReadOnlyList<string> FencedNetDevices() =>
        [.. FailoverDevices.Concat(Ports.SelectMany(p => p.Devices))
            .Select(d => DeviceId.TryParse(d, out var id) ? id : (DeviceId?)null)
            .OfType<DeviceId>().Where(d => d.Subsystem == Shared.Devices.Subsystems.Net).Select(d => d.Name).Distinct()];

    /// <summary>Whether the kernel fence covers every port: it drops bridged traffic, so a "command" data path is outside it.</summary>
    public bool FenceCoversAllPorts =>
        Fence.Kind == "nftables" && FailoverDataPath.Kind == "bridge" && Ports.All(p => p.DataPath.Kind == "bridge");

    /// <summary>The fail-over slots this host offers: <see cref="Capacity"/>, else one per fail-over device.</summary>
    public int EffectiveCapacity => Capacity ?? FailoverDevices.Count;

    public IReadOnlyDictionary<DeviceId, ManagedDevice> ManagedDevices()
    {
        var managed = new Dictionary<DeviceId, ManagedDevice>();
        foreach (var d in FailoverDevices)
            if (DeviceId.TryParse(d, out var id)) managed[id] = ManagedDevice.PortMember;
        foreach (var port in Ports)
            foreach (var d in port.Devices)
                if (DeviceId.TryParse(d, out var id)) managed[id] = ManagedDevice.PortMember;
        foreach (var device in Devices)
            if (DeviceId.TryParse(device.Id, out var id)) managed[id] = new ManagedDevice(device.Driver, device.Mtu, device.BringUp);
        return managed;
    }

    /// <summary>
    /// Why <paramref name="text"/> is not the id of a device this host could have, or null. Stricter
    /// than <see cref="DeviceId.TryParse"/>, which also reads names from the kernel: an interface
    /// name is what the kernel accepts (dev_valid_name: at most 15 bytes, no '/', ':' or
    /// whitespace), a PCI function is named by its address, and no name holds a space.
    /// </summary>
    public static string? ProblemOfDeviceId(string? text, out DeviceId id)
    {
        const string form = "subsystem/name, e.g. net/eth1 or pci/0000:03:00.0";
        id = default;
        if (text is null || !DeviceId.TryParse(text, out id) || text.Any(char.IsWhiteSpace))
            return $"'{Printable(text ?? "")}' is not a device id ({form})";
        return id.Subsystem switch
        {
            Shared.Devices.Subsystems.Net when id.Name.Contains(':') || System.Text.Encoding.UTF8.GetByteCount(id.Name) > Replug.Agent.Ports.Rtnetlink.MaxInterfaceNameBytes
                => $"'{Printable(text)}' is not an interface name (at most 15 bytes; no spaces, '/' or ':')",
            Shared.Devices.Subsystems.Pci when !DevPaths.IsPciAddress(id.Name)
                => $"'{Printable(text)}' is not a PCI function (pci/DDDD:BB:DD.F in lower-case hex, e.g. pci/0000:03:00.0)",
            _ => null,
        };
    }

    /// <summary>A name from configuration that may become a path segment or a log word: no separators, spaces or control characters.</summary>
    private static bool IsConfiguredName(string? name) =>
        !string.IsNullOrEmpty(name) && DeviceNames.IsSafe(name) && !name.Any(char.IsWhiteSpace);

    private static string Printable(string text) => ConfigurationSections.Printable(text);
}
