namespace Replug.Harness;

/// <summary>
/// Replug:Cluster's failure detection and fencing settings for every process of the harness's
/// cluster. <see cref="Fast"/> keeps scenarios short; <see cref="Production"/> is the product's defaults.
/// </summary>
public sealed record ClusterTimings(
    TimeSpan HeartbeatInterval,
    TimeSpan AcceptableHeartbeatPause,
    TimeSpan UnreachableReaperInterval,
    TimeSpan Lease,
    TimeSpan LeaseMargin,
    TimeSpan StableAfter)
{
    public static ClusterTimings Production { get; } = FromProduct(new Replug.Shared.Hosting.ClusterNodeOptions());

    private static ClusterTimings FromProduct(Replug.Shared.Hosting.ClusterNodeOptions product) => new(
        product.HeartbeatInterval, product.AcceptableHeartbeatPause, product.UnreachableReaperInterval,
        product.Lease, product.LeaseMargin, product.StableAfter);

    /// <summary>
    /// Shorter, still valid for the product's checks (margin ≥ heartbeat + reaper, StableAfter >
    /// lease) and with a pause long enough for five .NET processes on two cores.
    /// </summary>
    public static ClusterTimings Fast { get; } = new(
        TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(1200), TimeSpan.FromMilliseconds(200),
        TimeSpan.FromMilliseconds(1200), TimeSpan.FromMilliseconds(600), TimeSpan.FromSeconds(4));

    /// <summary>The coordinator's wait before it moves an unreachable host's ports (detection pause + lease + margin).</summary>
    public TimeSpan FailoverWait => AcceptableHeartbeatPause + Lease + LeaseMargin;

    public IEnumerable<string> Arguments() =>
    [
        $"--Replug:Cluster:HeartbeatInterval={HeartbeatInterval}",
        $"--Replug:Cluster:AcceptableHeartbeatPause={AcceptableHeartbeatPause}",
        $"--Replug:Cluster:UnreachableReaperInterval={UnreachableReaperInterval}",
        $"--Replug:Cluster:Lease={Lease}",
        $"--Replug:Cluster:LeaseMargin={LeaseMargin}",
        $"--Replug:Cluster:StableAfter={StableAfter}",
    ];

    public override string ToString() =>
        $"heartbeat {HeartbeatInterval.TotalSeconds:0.###} s, pause {AcceptableHeartbeatPause.TotalSeconds:0.###} s, " +
        $"reaper {UnreachableReaperInterval.TotalSeconds:0.###} s, lease {Lease.TotalSeconds:0.###} s, " +
        $"margin {LeaseMargin.TotalSeconds:0.###} s, stable-after {StableAfter.TotalSeconds:0.###} s";
}

/// <summary>The shape of a harness cluster and how its processes are run.</summary>
public sealed record HarnessOptions
{
    /// <summary>Host namespaces, one agent each.</summary>
    public int Hosts { get; init; } = 3;
    /// <summary>Ports configured on each host, each a bridge over a primary and a standby veth NIC.</summary>
    public int PortsPerHost { get; init; } = 2;
    /// <summary>
    /// Veth NICs kept free on each host for ports failed over to it. Four: a port failed over never
    /// returns to its home host's own NICs (it keeps a fail-over slot wherever it goes), so with three
    /// hosts and six ports, four slots each is what lets any one host fail at any time, whatever
    /// earlier faults did, without a port left Unplaced for want of room.
    /// </summary>
    public int FailoverDevicesPerHost { get; init; } = 4;
    public int Coordinators { get; init; } = 2;
    public ClusterTimings Timings { get; init; } = ClusterTimings.Fast;
    /// <summary>How long after an agent or coordinator exits the harness starts it again (systemd's RestartSec).</summary>
    public TimeSpan RestartDelay { get; init; } = TimeSpan.FromMilliseconds(500);
    /// <summary>"auto": PostgreSQL when it answers (required when REPLUG_TEST_POSTGRES is set), else one shared SQLite file; or "postgresql" / "sqlite".</summary>
    public string Persistence { get; init; } = Environment.GetEnvironmentVariable("REPLUG_HARNESS_PERSISTENCE") is { Length: > 0 } chosen ? chosen : "auto";
    /// <summary>Where run folders (process logs, SQLite) go.</summary>
    public string WorkRoot { get; init; } = Path.Combine(Path.GetTempPath(), "replug-harness");
    /// <summary>Keep the run's folder after a clean run too (it is always kept after a failure).</summary>
    /// <summary>
    /// Remoting over mutual TLS with a CA made for the run, as production should run: on unless REPLUG_HARNESS_TLS=0
    /// (run-harness.sh --plain), which runs plain TCP.
    /// </summary>
    public bool Tls { get; init; } = Environment.GetEnvironmentVariable("REPLUG_HARNESS_TLS") is not ("0" or "false");
    public bool KeepLogs { get; init; } = Environment.GetEnvironmentVariable("REPLUG_HARNESS_KEEP_LOGS") is "1" or "true";
    /// <summary>The probe's window for the "no port on two hosts at once" check.</summary>
    public int WindowMs { get; init; } = 10;
    /// <summary>Where progress lines go (a test's output, the console).</summary>
    public Action<string>? Log { get; init; }
}
