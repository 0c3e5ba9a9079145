using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Replug.Harness;

namespace Replug.Bench;

/// <summary>
/// The real agent (replug-agent.dll, its own process, its own runtimeconfig's GC settings) watching
/// a fresh namespace, measured from outside: RSS and its high-water mark from /proc/PID/status, the
/// GC heap and device counts from its /metrics. Two runs: (1) started empty, N veth pairs created,
/// then deleted: idle, with the devices present, peak, and after they left (settled); (2) started
/// with the devices already present: the start-up scan timed from the process's start to every
/// device Active on /metrics.
/// </summary>
public static partial class MemoryBenchmark
{
    private const int DefaultPairs = 5000;
    private static readonly TimeSpan DevicesTimeout = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan SettleFor = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan SettleAtMost = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan AfterLeaveAtLeast = TimeSpan.FromSeconds(15);

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Contains("-h") || args.Contains("--help"))
        {
            Console.WriteLine($"usage: memory [--pairs N ({DefaultPairs})] [--env NAME=VALUE]... (extra environment for the agent, e.g. DOTNET_GCgen0size=0x400000)");
            return 0;
        }
        var pairs = BenchFormat.IntOption(args, "--pairs", DefaultPairs);
        if (pairs <= 0 || pairs > 50_000)
        {
            Console.Error.WriteLine("--pairs must be in 1..50000");
            return 2;
        }
        var environment = new Dictionary<string, string>();
        for (var i = 0; i < args.Length - 1; i++)
            if (args[i] == "--env" && args[i + 1].Split('=', 2) is [var name, var value]) environment[name] = value;

        var agent = Executables.Agent;
        Console.WriteLine($"memory: {agent}, {pairs} veth pairs ({2 * pairs} devices){(environment.Count > 0 ? ", env " + string.Join(' ', environment.Select(e => $"{e.Key}={e.Value}")) : "")}");
        var result = new MemoryResult();
        try
        {
            await ComeAndGoAsync(agent, environment, pairs, result, BenchCleanup.Token);
            await StartupScanAsync(agent, environment, pairs, result, BenchCleanup.Token);
        }
        catch (OperationCanceledException) when (BenchCleanup.Token.IsCancellationRequested)
        {
            Console.Error.WriteLine("memory: interrupted");
            return 130;
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException or IOException or TaskCanceledException)
        {
            Console.Error.WriteLine($"memory: {e.GetType().Name}: {e.Message}");
            Print(pairs, result);
            return 1;
        }
        Print(pairs, result);
        return 0;
    }

    /// <summary>Started with only lo; the devices come (one ip -batch), then leave.</summary>
    private static async Task ComeAndGoAsync(string agentDll, Dictionary<string, string> environment, int pairs, MemoryResult result,
        CancellationToken cancellation)
    {
        using var ns = new BenchNamespace("rbm");
        var batchDir = Directory.CreateTempSubdirectory("replug-memory-").FullName;
        try
        {
            var (add, del) = WriteBatches(batchDir, pairs);
            await using var agent = AgentProcess.Start(agentDll, ns, environment, Path.Combine(batchDir, "agent-1.log"));
            var baseline = await agent.WaitDevicesAsync(m => m.Resyncs >= 1 && m.Total > 0 && m.Total == m.Active, "the start-up scan", cancellation);
            result.IdleDevices = baseline.Total;
            result.Idle = await agent.SettledAsync(cancellation);
            result.IdleGcHeap = (await agent.MetricsAsync(cancellation)).GcHeap;

            ns.IpBatch(add, cancellation);
            await agent.WaitDevicesAsync(m => m.Active == baseline.Total + 2 * pairs, $"{2 * pairs} more devices Active", cancellation);
            result.Present = await agent.SettledAsync(cancellation);
            result.PresentGcHeap = (await agent.MetricsAsync(cancellation)).GcHeap;

            var delStart = Stopwatch.GetTimestamp();
            ns.IpBatch(del, cancellation);
            result.DeleteBatch = Stopwatch.GetElapsedTime(delStart);
            await agent.WaitDevicesAsync(m => m.Total == baseline.Total, $"back to {baseline.Total} devices", cancellation);
            // The agent gives memory back once devices have been quiet for 10 s (HeapTrimPolicy).
            await Task.Delay(AfterLeaveAtLeast, cancellation);
            result.AfterLeave = await agent.SettledAsync(cancellation);
            result.HeapCollections = agent.HeapCollections;
            result.AfterLeaveGcHeap = (await agent.MetricsAsync(cancellation)).GcHeap;
            result.Peak = agent.ReadStatus().HighWater;
        }
        finally
        {
            try { Directory.Delete(batchDir, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>The devices are there before the agent: its start-up scan finds them all.</summary>
    private static async Task StartupScanAsync(string agentDll, Dictionary<string, string> environment, int pairs, MemoryResult result,
        CancellationToken cancellation)
    {
        using var ns = new BenchNamespace("rbm");
        var batchDir = Directory.CreateTempSubdirectory("replug-memory-").FullName;
        try
        {
            var (add, _) = WriteBatches(batchDir, pairs);
            ns.IpBatch(add, cancellation);
            _ = ns.SysfsRoot;
            await using var agent = AgentProcess.Start(agentDll, ns, environment, Path.Combine(batchDir, "agent-2.log"));
            var all = await agent.WaitDevicesAsync(m => m.Active >= 2 * pairs + 1 && m.Total == m.Active, $"{2 * pairs + 1} devices Active", cancellation);
            result.StartupAllActive = agent.SinceStart(all.ObservedAt);
            result.StartupMetricsUp = agent.FirstMetricsAfter;
            result.StartupScanLogged = agent.ScanLoggedAfter;
            result.StartupScanLine = agent.ScanLine;
            result.StartupDevices = all.Total;
            result.StartupScrapeTimeouts = agent.ScrapeTimeouts;
            result.StartupSettled = await agent.SettledAsync(cancellation);
            result.StartupGcHeap = (await agent.MetricsAsync(cancellation)).GcHeap;
            // Removing 10,000 veths takes over a minute (the kernel's RCU wait per device); deleting
            // the namespace (Dispose) hands them to the kernel at once.
        }
        finally
        {
            try { Directory.Delete(batchDir, recursive: true); } catch (IOException) { }
        }
    }

    private static (string Add, string Delete) WriteBatches(string dir, int pairs)
    {
        var add = Path.Combine(dir, "add.batch");
        var del = Path.Combine(dir, "del.batch");
        File.WriteAllLines(add, Enumerable.Range(0, pairs).Select(i => $"link add m{i} type veth peer name n{i}"));
        File.WriteAllLines(del, Enumerable.Range(0, pairs).Select(i => $"link del m{i}"));
        return (add, del);
    }

    private static void Print(int pairs, MemoryResult r)
    {
        BenchFormat.Header($"memory — the agent as its own process, {pairs} veth pairs ({2 * pairs} net devices); RSS from /proc/PID/status");
        BenchFormat.Row("idle (only lo), settled: VmRSS / GC heap", $"{Rss(r.Idle)} / {Heap(r.IdleGcHeap)} ({r.IdleDevices} device(s))");
        BenchFormat.Row($"{2 * pairs} devices present, settled: VmRSS / GC heap", $"{Rss(r.Present)} / {Heap(r.PresentGcHeap)}");
        BenchFormat.Row("peak (VmHWM over the run)", r.Peak > 0 ? BenchFormat.Mib(r.Peak) : "-");
        BenchFormat.Row("after they left, settled: VmRSS / GC heap", $"{Rss(r.AfterLeave)} / {Heap(r.AfterLeaveGcHeap)}");
        BenchFormat.Row("  delete batch (ip -batch, wall)", $"{r.DeleteBatch.TotalSeconds:0.0} s");
        foreach (var collected in r.HeapCollections) BenchFormat.Row("  agent:", collected);
        BenchFormat.Row($"start-up with {2 * pairs} present: /metrics answers", Time(r.StartupMetricsUp));
        BenchFormat.Row("  start-up rescan logged", Time(r.StartupScanLogged) + (r.StartupScanLine is { } line ? $" ({line})" : ""));
        BenchFormat.Row($"  every device Active on /metrics ({r.StartupDevices})", Time(r.StartupAllActive));
        BenchFormat.Row("  scrapes unanswered within 10 s meanwhile", $"{r.StartupScrapeTimeouts}");
        BenchFormat.Row("  then settled: VmRSS / VmHWM / GC heap", r.StartupSettled is { } s
            ? $"{BenchFormat.Mib(s.Rss)} / {BenchFormat.Mib(s.HighWater)} / {Heap(r.StartupGcHeap)}" : "-");

        static string Rss(ProcStatus? s) => s is { } v ? BenchFormat.Mib(v.Rss) : "-";
        static string Heap(long? bytes) => bytes is { } b ? BenchFormat.Mib(b) : "-";
        static string Time(TimeSpan? t) => t is { } v ? $"{v.TotalSeconds:0.00} s from process start" : "-";
    }

    private sealed class MemoryResult
    {
        public long IdleDevices, StartupDevices, Peak;
        public int StartupScrapeTimeouts;
        public ProcStatus? Idle, Present, AfterLeave, StartupSettled;
        public long? IdleGcHeap, PresentGcHeap, AfterLeaveGcHeap, StartupGcHeap;
        public TimeSpan DeleteBatch;
        public TimeSpan? StartupMetricsUp, StartupScanLogged, StartupAllActive;
        public string? StartupScanLine;
        public IReadOnlyList<string> HeapCollections = [];
    }

    /// <summary>VmRSS and VmHWM (its high-water mark), bytes.</summary>
    internal readonly record struct ProcStatus(long Rss, long HighWater);

    /// <summary>What the agent's /metrics says: devices by state, rescans, the GC heap (null when not exported).</summary>
    internal sealed record AgentFigures(long Total, long Active, long Resyncs, long? GcHeap, long ObservedAt);

    /// <summary>The agent's process: its output to a log file (the start-up rescan's line timed on arrival), its /metrics polled.</summary>
    private sealed partial class AgentProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly long _startedAt;
        private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };
        private readonly string _metricsUrl;
        private readonly StreamWriter _log;
        private readonly Task _pumps;

        private AgentProcess(Process process, long startedAt, string metricsUrl, StreamWriter log)
        {
            _process = process;
            _startedAt = startedAt;
            _metricsUrl = metricsUrl;
            _log = log;
            _pumps = Task.WhenAll(Pump(process.StandardOutput), Pump(process.StandardError));
        }

        public TimeSpan? FirstMetricsAfter { get; private set; }
        /// <summary>Scrapes of /metrics that got no answer within the client's timeout.</summary>
        public int ScrapeTimeouts { get; private set; }
        public TimeSpan? ScanLoggedAfter { get; private set; }
        public string? ScanLine { get; private set; }
        private readonly List<string> _heapCollections = [];

        /// <summary>The agent's "Heap collected ..." log lines so far.</summary>
        public IReadOnlyList<string> HeapCollections
        {
            get { lock (_heapCollections) return [.. _heapCollections]; }
        }

        public static AgentProcess Start(string agentDll, BenchNamespace ns, Dictionary<string, string> environment, string logPath)
        {
            var port = FreePort();
            var psi = new ProcessStartInfo(Executables.Dotnet)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = Path.GetDirectoryName(agentDll)!,
            };
            foreach (var a in new[]
                     {
                         agentDll, "--netns", ns.Name, "--sysfs", ns.SysfsRoot, "--host", ns.Name,
                         "--Replug:Agent:Subsystems:0=net", $"--Replug:Agent:HttpUrls=http://127.0.0.1:{port}",
                     })
                psi.ArgumentList.Add(a);
            foreach (var (name, value) in environment) psi.Environment[name] = value;
            var startedAt = Stopwatch.GetTimestamp();
            var process = Process.Start(psi) ?? throw new InvalidOperationException("the agent did not start");
            return new AgentProcess(process, startedAt, $"http://127.0.0.1:{port}/metrics", new StreamWriter(logPath) { AutoFlush = false });
        }

        public TimeSpan SinceStart(long timestamp) => Stopwatch.GetElapsedTime(_startedAt, timestamp);

        public ProcStatus ReadStatus()
        {
            long rss = 0, hwm = 0;
            foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = Kib(line);
                else if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) hwm = Kib(line);
            }
            return new ProcStatus(rss, hwm);

            static long Kib(string line) => 1024 * long.Parse(line.Split(':', 2)[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }

        /// <summary>Polls /metrics every 50 ms until <paramref name="condition"/> holds.</summary>
        public async Task<AgentFigures> WaitDevicesAsync(Func<AgentFigures, bool> condition, string what, CancellationToken cancellation)
        {
            var clock = Stopwatch.StartNew();
            AgentFigures? last = null;
            while (clock.Elapsed < DevicesTimeout)
            {
                if (_process.HasExited) throw new InvalidOperationException($"the agent exited ({_process.ExitCode}) waiting for {what}");
                try
                {
                    last = await MetricsAsync(cancellation);
                    if (condition(last)) return last;
                }
                // Not up yet, or too busy to answer in time (during a start-up scan): ask again.
                catch (HttpRequestException) { }
                catch (TaskCanceledException) when (!cancellation.IsCancellationRequested) { ScrapeTimeouts++; }
                await Task.Delay(50, cancellation);
            }
            throw new TimeoutException($"no {what} within {DevicesTimeout.TotalSeconds:0} s (last: {last})");
        }

        public async Task<AgentFigures> MetricsAsync(CancellationToken cancellation)
        {
            var text = await _http.GetStringAsync(_metricsUrl, cancellation);
            var at = Stopwatch.GetTimestamp();
            FirstMetricsAfter ??= SinceStart(at);
            long total = 0, active = 0, resyncs = 0;
            long? heap = null;
            foreach (var line in text.AsSpan().EnumerateLines())
            {
                if (line.StartsWith("#")) continue;
                var s = line.ToString();
                if (DeviceSeries().Match(s) is { Success: true } d)
                {
                    var n = (long)double.Parse(d.Groups[2].Value, CultureInfo.InvariantCulture);
                    total += n;
                    if (d.Groups[1].Value == "Active") active = n;
                }
                else if (s.StartsWith("replug_agent_uevents_resyncs", StringComparison.Ordinal))
                    resyncs = (long)double.Parse(s[(s.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
                else if (s.StartsWith("system_runtime_dotnet_gc_last_collection_heap_size", StringComparison.Ordinal))
                    heap = (heap ?? 0) + (long)double.Parse(s[(s.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
            }
            return new AgentFigures(total, active, resyncs, heap, at);
        }

        /// <summary>RSS once it has moved by under 1 MiB for 5 s (at most 60 s).</summary>
        public async Task<ProcStatus> SettledAsync(CancellationToken cancellation)
        {
            var clock = Stopwatch.StartNew();
            var last = ReadStatus();
            var stableSince = clock.Elapsed;
            while (clock.Elapsed < SettleAtMost)
            {
                await Task.Delay(500, cancellation);
                var now = ReadStatus();
                if (Math.Abs(now.Rss - last.Rss) >= 1 << 20)
                {
                    last = now;
                    stableSince = clock.Elapsed;
                }
                else if (clock.Elapsed - stableSince >= SettleFor) return now;
            }
            return ReadStatus();
        }

        private async Task Pump(StreamReader reader)
        {
            while (await reader.ReadLineAsync() is { } line)
            {
                if (ScanLoggedAfter is null && line.Contains("Rescan of", StringComparison.Ordinal) && line.Contains("(start)", StringComparison.Ordinal))
                {
                    ScanLoggedAfter = SinceStart(Stopwatch.GetTimestamp());
                    ScanLine = line[line.IndexOf("Rescan of", StringComparison.Ordinal)..];
                }
                if (line.IndexOf("Heap collected", StringComparison.Ordinal) is >= 0 and var at)
                    lock (_heapCollections) _heapCollections.Add(line[at..]);
                lock (_log) _log.WriteLine(line);
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                BenchShell.TryRun(out _, "kill", "-TERM", _process.Id.ToString(CultureInfo.InvariantCulture));
                if (!await WaitExitAsync(TimeSpan.FromSeconds(20))) _process.Kill(entireProcessTree: true);
            }
            await WaitExitAsync(TimeSpan.FromSeconds(10));
            await _pumps.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { });
            lock (_log) _log.Dispose();
            _process.Dispose();
            _http.Dispose();
        }

        private async Task<bool> WaitExitAsync(TimeSpan timeout)
        {
            try { await _process.WaitForExitAsync().WaitAsync(timeout); return true; }
            catch (TimeoutException) { return false; }
        }

        private static int FreePort()
        {
            using var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
            listener.Start();
            return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        }

        [GeneratedRegex("^replug_agent_devices\\{state=\"(\\w+)\"\\} (\\S+)")]
        private static partial Regex DeviceSeries();
    }
}
