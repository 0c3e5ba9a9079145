using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Replug.Harness;

/// <summary>A coordinator process: its management address, remoting port and HTTP API.</summary>
public sealed record CoordinatorNode(int Index, string Name, string Address, int RemotingPort, int ApiPort, SupervisedProcess Process, bool Tls)
{
    public string SeedAddress => $"{(Tls ? "akka.ssl.tcp" : "akka.tcp")}://replug@{Address}:{RemotingPort}";
    public Uri Api => new($"http://{Address}:{ApiPort}/");
}

/// <summary>
/// A Replug cluster of real processes on a real (namespaced) network, with traffic: the
/// <see cref="Topology"/>, the <see cref="TrafficProbe"/> and its <see cref="ForwardingRecord"/>, two
/// coordinator processes (src/Coordinator) on a fresh journal, and one agent process (src/Agent)
/// per host, each run in its host's namespace with <c>ip netns exec</c> and restarted whenever it
/// exits (an agent downed by the split brain resolver exits, and must rejoin).
/// Everything is removed in <see cref="DisposeAsync"/>, also after a failure; leftovers of a
/// killed run are removed by the next.
/// </summary>
public sealed partial class ReplugCluster : IAsyncDisposable
{
    public const int AgentRemotingPort = 4054;

    private readonly Dictionary<string, SupervisedProcess> _agents = new(StringComparer.Ordinal);
    private readonly List<CoordinatorNode> _coordinators = [];
    private IReadOnlyList<ApiPort>? _lastPorts;
    private bool _disposed;

    private ReplugCluster(HarnessOptions options, RunId run, string directory)
    {
        Options = options;
        Run = run;
        Directory = directory;
    }

    public HarnessOptions Options { get; }
    public RunId Run { get; }
    /// <summary>The run's folder: a log per process, the SQLite journal when there is no PostgreSQL.</summary>
    public string Directory { get; }
    public Topology Topology { get; private set; } = null!;
    public Journal Journal { get; private set; } = null!;
    public TrafficProbe Probe { get; private set; } = null!;
    public ForwardingRecord Traffic => Probe.Record;
    public Timeline Timeline { get; private set; } = null!;
    public ReplugApi Api { get; private set; } = null!;
    public IReadOnlyList<CoordinatorNode> Coordinators => _coordinators;
    public IReadOnlyDictionary<string, SupervisedProcess> Agents => _agents;
    public IReadOnlyList<PortSpec> Ports => Topology.Ports;
    public IReadOnlyList<HostSpec> Hosts => Topology.Hosts;
    /// <summary>Set when a check failed: the run's folder is kept for inspection.</summary>
    public bool Failed { get; set; }
    public int Now => Probe.Now;

    /// <summary>Where progress lines go now (the current test's output, when one cluster serves several tests).</summary>
    public Action<string>? Sink { get; set; }

    private void Log(string line) => Sink?.Invoke(line);

    private string _apiTokenFile = "";
    private Certificates? _tls;

    /// <summary>Builds the network, starts the probe, the coordinators and the agents, and waits until every port forwards on one host and the API agrees.</summary>
    public static async Task<ReplugCluster> StartAsync(HarnessOptions options, TimeSpan? settle = null)
    {
        var run = RunId.New();
        KillStaleProcesses(options.WorkRoot, options.Log);
        RemoveStaleDirectories(options.WorkRoot);
        var directory = Path.Combine(options.WorkRoot, run.Name);
        System.IO.Directory.CreateDirectory(directory);
        var cluster = new ReplugCluster(options, run, directory) { Sink = options.Log };
        try
        {
            await cluster.BuildAsync();
            // At start the coordinator recovers and registers hosts while five processes still JIT: the API's lag is not judged here.
            await cluster.WaitSettledAsync(settle ?? TimeSpan.FromSeconds(120), "the cluster starts", apiLagLimitMs: 30_000);
            cluster.Timeline.Add("cluster up: every port forwards on one host; CPU used so far: " + string.Join(", ",
                cluster._coordinators.Select(c => c.Process).Concat(cluster._agents.Values).Select(p => $"{p.Name} {p.CpuTime?.TotalSeconds:0.0} s")));
        }
        catch (Exception e)
        {
            cluster.Failed = true;
            options.Log?.Invoke($"the cluster did not start: {e.Message}\n{cluster.Report()}");
            await cluster.DisposeAsync();
            throw;
        }
        return cluster;
    }

    private async Task BuildAsync()
    {
        Topology = await Topology.CreateAsync(Run, Options);
        var record = new ForwardingRecord([.. Topology.Ports.Select(p => p.Name)], [.. Topology.Hosts.Select(h => h.Name)], Options.WindowMs);
        var tag = (uint)Run.Name.Aggregate(23, (h, c) => h * 31 + c);
        Probe = new TrafficProbe(Topology.FabricNamespace, Topology.FabricBridge, [.. Topology.Hosts.Select(h => h.Namespace)],
            [.. Topology.Ports.Select(p => p.VmEnd)], tag, record);
        Timeline = new Timeline(() => Probe.Now, Log);
        Probe.Start();
        Journal = await Journal.CreateAsync(Run, Directory, Options.Persistence, Log);
        Timeline.Add($"run {Run}: {Topology.Hosts.Count} hosts x {Options.PortsPerHost} ports, {Options.Coordinators} coordinators; " +
            $"journal: {Journal.Description}; management network {Topology.Subnet}.0/24; {Options.Timings}; logs in {Directory}");

        for (var i = 0; i < Topology.CoordinatorAddresses.Count; i++)
        {
            var address = Topology.CoordinatorAddresses[i];
            var name = $"c{i + 1}";
            CoordinatorNode? node = null;
            var process = new SupervisedProcess($"coordinator {name}", Path.Combine(Directory, $"{name}.log"), Path.Combine(Directory, name),
                () => CoordinatorCommand(node!), Options.RestartDelay, Timeline);
            node = new CoordinatorNode(i, name, address, FreePort(address), FreePort(address), process, Options.Tls);
            _coordinators.Add(node);
        }
        foreach (var host in Topology.Hosts)
            _agents[host.Name] = new SupervisedProcess($"agent {host.Name}", Path.Combine(Directory, $"{host.Name}.log"), Path.Combine(Directory, host.Name),
                () => AgentCommand(host), Options.RestartDelay, Timeline);
        // The API listens on the management network, not loopback: the coordinators need a token, given as a file like a secret.
        _apiTokenFile = Path.Combine(Directory, "api-token");
        var token = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24));
        File.WriteAllText(_apiTokenFile, token + "\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(_apiTokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        if (Options.Tls)
            _tls = await Certificates.MakeAsync(Path.Combine(Directory, "tls"), [.. _coordinators.Select(c => c.Name), .. Topology.Hosts.Select(h => h.Name)]);
        Log($"remoting: {(Options.Tls ? "mutual TLS, a CA made for the run" : "plain TCP (REPLUG_HARNESS_TLS=0)")}; API: a bearer token");
        Api = new ReplugApi(() => [.. _coordinators.OrderByDescending(c => c.Process.Running).Select(c => c.Api)], token);

        foreach (var c in _coordinators)
        {
            c.Process.Start();
            await c.Process.WaitRunningAsync(TimeSpan.FromSeconds(10));
        }
        foreach (var agent in _agents.Values) agent.Start();
    }

    /// <summary>
    /// Every coordinator lists every coordinator as seed nodes, c1 first, as in production: c1 (the
    /// first seed) founds the cluster when no other seed answers as a member, every other one only
    /// joins. (Choosing seeds by which processes run deadlocks once the whole cluster was downed: two
    /// coordinators restarted each other's way would wait for each other forever.)
    /// </summary>
    private IReadOnlyList<string> CoordinatorCommand(CoordinatorNode node)
    {
        var args = new List<string>
        {
            Executables.Dotnet, Executables.Coordinator,
            $"--Replug:Cluster:Hostname={node.Address}",
            $"--Replug:Cluster:Port={node.RemotingPort}",
            $"--Replug:Coordinator:ApiUrls=http://{node.Address}:{node.ApiPort}",
            "--Replug:Coordinator:Api:Tokens:0:Name=harness",
            "--Replug:Coordinator:Api:Tokens:0:Scope=Write",
            $"--Replug:Coordinator:Api:Tokens:0:File={_apiTokenFile}",
        };
        if (_tls is not null) args.AddRange(_tls.Arguments(node.Name));
        for (var i = 0; i < _coordinators.Count; i++) args.Add($"--Replug:Cluster:SeedNodes:{i}={_coordinators[i].SeedAddress}");
        args.AddRange(Journal.Arguments);
        args.AddRange(Options.Timings.Arguments());
        return args;
    }

    /// <summary>
    /// An agent in its host's namespace (`ip netns exec` also mounts that namespace's /sys), with the
    /// coordinators as seeds, its ports (bridge over primary and standby veth), its fail-over devices
    /// and the fail-over data path br-{port}. The kernel fence is the product's default (nftables in
    /// the host's namespace): a killed or stopped agent's ports stop forwarding when its lease runs out.
    /// </summary>
    private IReadOnlyList<string> AgentCommand(HostSpec host)
    {
        var args = new List<string>
        {
            "ip", "netns", "exec", host.Namespace, Executables.Dotnet, Executables.Agent,
            "--host", host.Name,
            "--Replug:Agent:Subsystems:0=net",
            $"--Replug:Cluster:Hostname={host.Address}",
            $"--Replug:Cluster:Port={AgentRemotingPort}",
            // /metrics and /health/* on the host's own address (each host is a network namespace).
            $"--Replug:Agent:HttpUrls=http://{host.Address}:9464",
        };
        for (var i = 0; i < _coordinators.Count; i++) args.Add($"--Replug:Cluster:SeedNodes:{i}={_coordinators[i].SeedAddress}");
        for (var i = 0; i < host.Ports.Count; i++)
        {
            var port = host.Ports[i];
            args.Add($"--Replug:Agent:Ports:{i}:Name={port.Name}");
            args.Add($"--Replug:Agent:Ports:{i}:Devices:0=net/{port.Primary}");
            args.Add($"--Replug:Agent:Ports:{i}:Devices:1=net/{port.Standby}");
            args.Add($"--Replug:Agent:Ports:{i}:DataPath:Bridge={port.Bridge}");
        }
        for (var i = 0; i < host.FailoverDevices.Count; i++) args.Add($"--Replug:Agent:FailoverDevices:{i}=net/{host.FailoverDevices[i]}");
        args.Add("--Replug:Agent:FailoverDataPath:Bridge=br-{port}");
        if (_tls is not null) args.AddRange(_tls.Arguments(host.Name));
        args.AddRange(Options.Timings.Arguments());
        return args;
    }

    private static int FreePort(string address)
    {
        var listener = new TcpListener(IPAddress.Parse(address), 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public SupervisedProcess Agent(string host) => _agents[host];
    public CoordinatorNode Coordinator(string name) => _coordinators.Single(c => c.Name == name);
    public int PortIndex(string port) => Traffic.PortIndex(port);
    public int HostIndex(string host) => Traffic.HostIndex(host);

    /// <summary>
    /// The coordinator node whose current instance runs the singleton (the oldest coordinator
    /// node): the last one whose log shows its singleton manager becoming the oldest.
    /// </summary>
    public CoordinatorNode? SingletonNode() =>
        _coordinators.FirstOrDefault(c => c.Process.Running && c.Process.CurrentLog().Split('\n')
            .LastOrDefault(line => line.Contains("ClusterSingletonManager state change", StringComparison.Ordinal))?
            .Contains("-> Oldest]", StringComparison.Ordinal) == true);

    // ---- what the traffic says -------------------------------------------------------------------

    /// <summary>The hosts on which <paramref name="port"/> forwards now (frames in the last <paramref name="withinMs"/>).</summary>
    public IReadOnlyList<string> ForwardingHosts(string port, int withinMs = 150) =>
        [.. Traffic.ForwardingHosts(PortIndex(port), withinMs).Select(h => Traffic.Hosts[h])];

    /// <summary>The ports forwarding on <paramref name="host"/> now.</summary>
    public IReadOnlyList<string> PortsForwardingOn(string host) =>
        [.. Topology.Ports.Select(p => p.Name).Where(p => ForwardingHosts(p).Contains(host))];

    /// <summary>The host forwarding the most ports now (ties: the first by name): the victim that shows most.</summary>
    public string BusiestHost() =>
        Topology.Hosts.Select(h => h.Name).OrderByDescending(h => PortsForwardingOn(h).Count).ThenBy(h => h, StringComparer.Ordinal).First();

    /// <summary>The host forwarding the fewest ports now, other than <paramref name="not"/>.</summary>
    public string QuietestHost(string not) =>
        Topology.Hosts.Select(h => h.Name).Where(h => h != not).OrderBy(h => PortsForwardingOn(h).Count).ThenBy(h => h, StringComparer.Ordinal).First();

    /// <summary>Polls the probe (and nothing else) until <paramref name="condition"/> holds.</summary>
    public async Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new HarnessException($"timed out after {timeout.TotalSeconds:0} s waiting until {what}");
            await Task.Delay(20);
        }
    }

    /// <summary>Polls until <paramref name="port"/> forwards on exactly one host other than <paramref name="not"/>; returns it.</summary>
    public async Task<string> WaitForwardingElsewhereAsync(string port, string not, TimeSpan timeout)
    {
        string? found = null;
        await WaitUntilAsync(() =>
        {
            var hosts = ForwardingHosts(port).Where(h => h != not).ToList();
            found = hosts.Count == 1 ? hosts[0] : null;
            return found is not null;
        }, $"{port} forwards on a host other than {not}", timeout);
        return found!;
    }

    // ---- checks -------------------------------------------------------------------------------

    /// <summary>The invariant, checked on every frame so far: no port forwarded on two hosts at once.</summary>
    public void AssertNoViolations(int since = 0)
    {
        var violations = Traffic.Violations.Where(v => v.ToSlot >= since).ToList();
        if (violations.Count == 0) return;
        throw new HarnessException($"{violations.Count} time(s) a port forwarded on two hosts at once:\n" +
            string.Join('\n', violations.Take(20).Select(v => $"  {v}")));
    }

    /// <summary>What the cluster looks like once faults stopped.</summary>
    public sealed record Settlement(IReadOnlyDictionary<string, string?> Forwarding, IReadOnlyDictionary<string, string> Unplaced,
        int TrafficStableAt, int ApiAgreedAt, int SettledAt, IReadOnlyList<ApiPort> Api)
    {
        /// <summary>How long after the traffic settled the API showed the same (negative: before).</summary>
        public int ApiLagMs => ApiAgreedAt - TrafficStableAt;
    }

    /// <summary>
    /// The liveness check once faults stop: every port forwards on exactly one host (the probe's
    /// frames), or on none and <c>GET /ports</c> lists it Unplaced (with its fail-over's cause);
    /// and the API agrees with the traffic — the same host, Active and forwarding — within 1 s of
    /// the traffic settling (or of the API answering again, after a coordinator hand-over).
    /// </summary>
    public async Task<Settlement> WaitSettledAsync(TimeSpan timeout, string after, int stableMs = 1000, int apiLagLimitMs = 1000)
    {
        var deadline = DateTime.UtcNow + timeout;
        int? agreeSince = null;
        int? apiBackAt = null;
        var apiWasDown = true;
        string problem = "the API never answered";
        while (true)
        {
            var polledAt = Now;
            var ports = await Api.PortsAsync();
            if (ports is null)
            {
                apiWasDown = true;
                agreeSince = null;
                problem = "no coordinator's API answered (no singleton?)";
            }
            else
            {
                _lastPorts = ports;
                if (apiWasDown) { apiBackAt = polledAt; apiWasDown = false; }
                var (ok, forwarding, trafficSince, mismatch) = Compare(ports);
                if (!ok)
                {
                    agreeSince = null;
                    problem = mismatch;
                }
                else
                {
                    agreeSince ??= polledAt;
                    var trafficStableAt = trafficSince.Values.DefaultIfEmpty(0).Max();
                    if (Now - trafficStableAt >= stableMs && Now - agreeSince >= 300)
                    {
                        var unplaced = new Dictionary<string, string>();
                        foreach (var p in ports.Where(p => p.State == "Unplaced"))
                            unplaced[p.Port] = p.Failover is { } id ? await Api.FailoverCauseAsync(id) ?? "cause unknown" : "no fail-over recorded";
                        var reference = Math.Max(trafficStableAt, apiBackAt ?? 0);
                        var settlement = new Settlement(forwarding, unplaced, trafficStableAt, agreeSince.Value, Now, ports);
                        var lag = agreeSince.Value - reference;
                        Timeline.Add($"settled after {after}: {string.Join(", ", forwarding.Select(f => $"{f.Key}@{f.Value ?? "unplaced"}"))}; " +
                            $"API agreed {lag} ms after the traffic settled");
                        if (lag > apiLagLimitMs)
                            throw new HarnessException($"after {after} the API agreed with the traffic only {lag} ms after it settled (limit {apiLagLimitMs} ms)");
                        foreach (var (port, cause) in unplaced)
                            if (string.IsNullOrWhiteSpace(cause)) throw new HarnessException($"{port} is Unplaced without a cause");
                        return settlement;
                    }
                }
            }
            if (DateTime.UtcNow > deadline)
                throw new HarnessException($"not settled {timeout.TotalSeconds:0} s after {after}: {problem}");
            await Task.Delay(100);
        }
    }

    private (bool Ok, Dictionary<string, string?> Forwarding, Dictionary<string, int> Since, string Mismatch) Compare(IReadOnlyList<ApiPort> api)
    {
        var forwarding = new Dictionary<string, string?>();
        var since = new Dictionary<string, int>();
        var problems = new List<string>();
        foreach (var port in Topology.Ports)
        {
            var p = PortIndex(port.Name);
            var hosts = Traffic.ForwardingHosts(p, 150);
            var listed = api.FirstOrDefault(a => a.Port == port.Name);
            if (hosts.Count == 1)
            {
                var host = Traffic.Hosts[hosts[0]];
                forwarding[port.Name] = host;
                var intervals = Traffic.Intervals(p, hosts[0]);
                since[port.Name] = intervals.Count > 0 ? intervals[^1].First : 0;
                if (listed is not { State: "Active", Forwarding: true } || listed.Host != host)
                    problems.Add($"{port.Name} forwards on {host}, the API says {(listed?.ToString() ?? "nothing")}");
            }
            else if (hosts.Count == 0)
            {
                forwarding[port.Name] = null;
                since[port.Name] = Enumerable.Range(0, Traffic.Hosts.Count).Select(h => Traffic.LastSeen(p, h) ?? 0).Max();
                if (listed is not { State: "Unplaced" })
                    problems.Add($"{port.Name} forwards nowhere, the API says {(listed?.ToString() ?? "nothing")}");
            }
            else
            {
                forwarding[port.Name] = null;
                since[port.Name] = Now;
                problems.Add($"{port.Name} forwards on {string.Join(" and ", hosts.Select(h => Traffic.Hosts[h]))}; the API says {(listed?.ToString() ?? "nothing")}");
            }
        }
        return (problems.Count == 0, forwarding, since, string.Join("; ", problems));
    }

    /// <summary>Fetches <c>GET /ports</c> for the next <see cref="Report"/>.</summary>
    public async Task RefreshApiViewAsync()
    {
        if (Api is not null && await Api.PortsAsync() is { } ports) _lastPorts = ports;
    }

    /// <summary>Everything needed to understand a failure: timeline, violations, traffic, the API's last view, each process's log tail.</summary>
    public string Report(int tailLines = 40, int since = 0)
    {
        var text = new StringBuilder();
        text.AppendLine($"---- harness run {Run} (logs: {Directory}; journal: {Journal?.Description ?? "none"})");
        if (Timeline is not null) text.AppendLine("timeline:").AppendLine(Timeline.Describe(80, since));
        if (Probe is not null)
        {
            text.AppendLine($"probe: {Traffic.SlotsSent} slots sent ({Traffic.SlotsSkipped} skipped), {Traffic.FramesChecked} frames checked, " +
                $"{Traffic.Violations.Count} violation(s), {Traffic.CloseHandovers} hand-over(s) within one {Traffic.WindowMs} ms window");
            foreach (var v in Traffic.Violations.Where(v => v.ToSlot >= since).Take(20)) text.AppendLine($"  VIOLATION {v}");
            foreach (var e in Probe.Errors) text.AppendLine($"  probe error: {e}");
            text.AppendLine("traffic (where each port's frames arrived):").AppendLine(Traffic.Describe(since));
        }
        if (_lastPorts is not null) text.AppendLine("API, last GET /ports:").AppendLine(string.Join('\n', _lastPorts.Select(p => $"  {p}")));
        foreach (var process in _coordinators.Select(c => c.Process).Concat(_agents.Values))
        {
            text.AppendLine($"---- {process.Name}: {process.LogPath} (last {tailLines} lines)");
            text.AppendLine(process.Tail(tailLines));
        }
        return text.ToString();
    }

    /// <summary>
    /// Processes of runs whose owner is gone (a test process killed mid-run leaves its coordinators
    /// running in the root namespace): recognised by their working folder, RUN/NAME under <paramref name="root"/>.
    /// </summary>
    private static void KillStaleProcesses(string root, Action<string>? log)
    {
        var prefix = Path.GetFullPath(root) + Path.DirectorySeparatorChar;
        foreach (var dir in System.IO.Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId) continue;
            string? cwd;
            try { cwd = new DirectoryInfo(Path.Combine(dir, "cwd")).LinkTarget; }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            if (cwd is null || !cwd.StartsWith(prefix, StringComparison.Ordinal)) continue;
            if (RunId.Of(cwd[prefix.Length..]) is not { IsStale: true } stale) continue;
            Native.kill(pid, Native.SIGKILL);
            log?.Invoke($"killed process {pid} of an earlier, killed run {stale}");
        }
    }

    private static void RemoveStaleDirectories(string root)
    {
        if (!System.IO.Directory.Exists(root)) return;
        foreach (var dir in System.IO.Directory.GetDirectories(root))
        {
            // Kept for inspection after a failure, for a day.
            if (RunId.Of(Path.GetFileName(dir)) is { IsStale: true } && System.IO.Directory.GetLastWriteTimeUtc(dir) < DateTime.UtcNow.AddDays(-1))
                try { System.IO.Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        await Task.WhenAll(_agents.Values.Select(a => a.DisposeAsync().AsTask()).Concat(_coordinators.Select(c => c.Process.DisposeAsync().AsTask())));
        Probe?.Dispose();
        Api?.Dispose();
        if (Topology is not null) await Topology.DisposeAsync();
        if (Journal is not null) await Journal.DisposeAsync();
        if (!Failed && !Options.KeepLogs)
            try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
        else Log($"logs of run {Run} kept in {Directory}");
    }
}

/// <summary>A check of the harness failed (the product's behaviour, not the harness).</summary>
public sealed class HarnessException(string message) : Exception(message);
