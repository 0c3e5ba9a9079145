using System.Globalization;
using System.Text.RegularExpressions;
using Replug.Harness;

namespace Replug.Bench;

/// <summary>The port a reactor keeps: in <see cref="Namespace"/>, <see cref="Active"/> is the bridge member, <see cref="Standby"/> waits.</summary>
internal sealed record SwitchPort(string Namespace, string Active, string Standby, string Bridge);

/// <summary>
/// Something that moves a port to its standby when its active NIC is removed, and back when the
/// NIC returns (revertive), in one network namespace: Replug's agent or a baseline. Each runs as
/// its own process, started and stopped by the bench.
/// </summary>
internal abstract class SwitchReactor(string name) : IDisposable
{
    protected static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Short name for tables and --only: replug, c, script, udev.</summary>
    public string Name { get; } = name;

    /// <summary>What it is, for the table.</summary>
    public abstract string Description { get; }

    /// <summary>Why it cannot run on this machine (a missing tool), or null.</summary>
    public abstract string? Unavailable(BenchTools tools);

    /// <summary>Starts it for <paramref name="port"/>; returns once it listens.</summary>
    public abstract Task StartAsync(SwitchPort port, BenchTools tools, CancellationToken cancellation);

    /// <summary>After a switch the observer saw: waits until the reactor is done with it (Replug: the NIC detached).</summary>
    public virtual Task AfterSwitchAsync(TimeSpan timeout, CancellationToken cancellation) => Task.CompletedTask;

    /// <summary>After the revert the observer saw: waits until the reactor is done with it.</summary>
    public virtual Task AfterRevertAsync(TimeSpan timeout, CancellationToken cancellation) => Task.CompletedTask;

    /// <summary>The reactor's own figure for the last switch, when it reports one (µs), else null.</summary>
    public virtual double? OwnReaction => null;

    /// <summary>Error lines it printed (a request the kernel refused).</summary>
    public virtual int Errors => 0;

    /// <summary>
    /// A planned drain of the active NIC by the reactor's own mechanism (the port moved to the
    /// standby, the NIC taken out), returning once it is done; false when it has none, and the
    /// bench then does what such a drain does by hand.
    /// </summary>
    public virtual Task<bool> DrainAsync(TimeSpan timeout, CancellationToken cancellation) => Task.FromResult(false);

    public abstract void Dispose();

    /// <summary>Every reactor the benchmarks know, in the order of the tables.</summary>
    public static IReadOnlyList<string> Names => ["replug", "replug-sa", "c", "script", "udev"];

    public static SwitchReactor Create(string name) => name switch
    {
        "replug" => new ReplugReactor(standalone: false),
        "replug-sa" => new ReplugReactor(standalone: true),
        "c" => new CReactor(),
        "script" => new ScriptReactor(),
        "udev" => new UdevReactor(),
        _ => throw new ArgumentException($"unknown reactor '{name}' (known: {string.Join(", ", Names)})"),
    };

    /// <summary>"--only a,b": the reactors named, checked; <paramref name="defaults"/> when not given.</summary>
    public static IReadOnlyList<string>? Select(string? only, IReadOnlyList<string> defaults, out string? error)
    {
        error = null;
        if (only is null) return defaults;
        var names = only.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var unknown = names.Where(n => !Names.Contains(n)).ToList();
        if (names.Length == 0 || unknown.Count > 0)
        {
            error = $"--only: {(names.Length == 0 ? "no reactor named" : $"unknown reactor(s) {string.Join(", ", unknown)}")} (known: {string.Join(", ", Names)})";
            return null;
        }
        return [.. names.Distinct()];
    }

    protected static string NetnsPath(string ns) => Path.Combine(Replug.Agent.Linux.NetworkNamespace.RunDirectory, ns);

    /// <summary>
    /// --fifo: every reactor runs SCHED_FIFO (priority 10, below the observer and the sender),
    /// with whatever it starts (threads, udev workers, `ip` children inherit it), to tell the wait
    /// for a CPU on a busy machine from the work itself. Off by default: hosts run them as they are.
    /// </summary>
    public static bool RealTime { get; set; }

    /// <summary>A reactor's process, under `chrt -f 10` when <see cref="RealTime"/>.</summary>
    protected static BenchProcess Launch(string name, string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null) =>
        RealTime ? new BenchProcess(name, "chrt", ["-f", "10", file, .. args], environment) : new BenchProcess(name, file, args, environment);
}

/// <summary>
/// Replug's agent, the real executable run as an operator runs it on a host, in the namespace
/// (`ip netns exec`, which also gives it the namespace's /sys), configured through
/// REPLUG__AGENT__… variables with one revertive port over the two NICs on the bridge. Either the
/// agent alone (src/Agent: README, "Running the agent alone"), or Replug standalone (src/Coordinator
/// --standalone: the agent and the coordinator in one process, the kernel fence on, the HTTP API on
/// the namespace's loopback, its journal in a temporary folder), which is what offers a planned
/// detach. Ready when it logs both NICs active and the port on the preferred one; between
/// iterations the bench waits for its log to show the removed NIC detached and the port switched
/// back, as its own benchmark does.
/// </summary>
internal sealed partial class ReplugReactor(bool standalone) : SwitchReactor(standalone ? "replug-sa" : "replug")
{
    private BenchProcess? _agent;
    private int _cursor;
    private double? _ownReaction;
    private SwitchPort? _port;
    private string? _dataDirectory;

    public override string Description => standalone ? "Replug standalone (agent + coordinator)" : "Replug agent (own process, standalone)";

    public override double? OwnReaction => _ownReaction;

    public override int Errors => _agent is null ? 0 : Enumerable.Range(0, _agent.LineCount).Count(i => _agent.Line(i).Contains(" fail:", StringComparison.Ordinal));

    public override string? Unavailable(BenchTools tools)
    {
        try
        {
            if (!File.Exists(standalone ? Executables.Coordinator : Executables.Agent)) return "not built";
            return standalone && BenchTools.FindOnPath("curl") is null ? "curl not found on PATH (the planned detach is an HTTP request)" : null;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return e.Message; }
    }

    public override async Task StartAsync(SwitchPort port, BenchTools tools, CancellationToken cancellation)
    {
        _port = port;
        const string agent = "REPLUG__AGENT__";
        var environment = new Dictionary<string, string>
        {
            [agent + "HOST"] = port.Namespace,
            [agent + "SUBSYSTEMS__0"] = "net",
            [agent + "PORTS__0__NAME"] = "uplink",
            [agent + "PORTS__0__DEVICES__0"] = $"net/{port.Active}",
            [agent + "PORTS__0__DEVICES__1"] = $"net/{port.Standby}",
            [agent + "PORTS__0__REVERTIVE"] = "true",
            [agent + "PORTS__0__DATAPATH__KIND"] = "bridge",
            [agent + "PORTS__0__DATAPATH__BRIDGE"] = port.Bridge,
        };
        List<string> command = ["netns", "exec", port.Namespace, Executables.Dotnet];
        if (standalone)
        {
            _dataDirectory = Directory.CreateTempSubdirectory($"replug-bench-{port.Namespace}-").FullName;
            command.AddRange([Executables.Coordinator, "--standalone", $"--Replug:Coordinator:Persistence:DataDirectory={_dataDirectory}"]);
        }
        else command.Add(Executables.Agent);
        _agent = Launch($"{Name} in {port.Namespace}", "ip", command, environment);
        var lines = new[]
        {
            await _agent.WaitLineAsync(0, l => l.Contains($"Device net/{port.Standby}: Probed -> Active", StringComparison.Ordinal), StartTimeout, "the standby NIC active", cancellation),
            await _agent.WaitLineAsync(0, l => l.Contains("Port uplink: switched", StringComparison.Ordinal) && l.Contains($"-> net/{port.Active} ", StringComparison.Ordinal), StartTimeout, "the port on its preferred NIC", cancellation),
            await _agent.WaitLineAsync(0, l => l.Contains("Application started", StringComparison.Ordinal), StartTimeout, "the agent started", cancellation),
        };
        _cursor = lines.Max() + 1;
    }

    public override async Task AfterSwitchAsync(TimeSpan timeout, CancellationToken cancellation)
    {
        var port = _port!;
        var switched = await _agent!.WaitLineAsync(_cursor, l => l.Contains($"-> net/{port.Standby} ", StringComparison.Ordinal) && l.Contains("Port uplink: switched", StringComparison.Ordinal),
            timeout, "its log of the switch", cancellation);
        _ownReaction = Reaction().Match(_agent.Line(switched)) is { Success: true } m ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : null;
        _cursor = await _agent.WaitLineAsync(_cursor, l => l.Contains($"Device net/{port.Active}: Faulted -> Detached", StringComparison.Ordinal), timeout, "the removed NIC detached", cancellation) + 1;
    }

    public override async Task AfterRevertAsync(TimeSpan timeout, CancellationToken cancellation)
    {
        var port = _port!;
        _cursor = await _agent!.WaitLineAsync(_cursor, l => l.Contains($"switched net/{port.Standby} -> net/{port.Active}", StringComparison.Ordinal), timeout, "the port switched back", cancellation) + 1;
    }

    /// <summary>Standalone: the coordinator's planned detach (POST /hosts/{host}/devices/{device}/detach), done once the agent acknowledged it.</summary>
    public override async Task<bool> DrainAsync(TimeSpan timeout, CancellationToken cancellation)
    {
        if (!standalone) return false;
        var port = _port!;
        var token = (await File.ReadAllTextAsync(Path.Combine(_dataDirectory!, "api-token"), cancellation)).Trim();
        var url = $"http://127.0.0.1:8080/hosts/{port.Namespace}/devices/net%2F{port.Active}/detach";
        await Task.Run(() => BenchShell.Run("ip", "netns", "exec", port.Namespace, "curl", "-sSf", "-X", "POST", "-H", $"Authorization: Bearer {token}", url), cancellation);
        _cursor = await _agent!.WaitLineAsync(_cursor, l => l.Contains($"detach net/{port.Active} done", StringComparison.Ordinal), timeout, "the planned detach done", cancellation) + 1;
        return true;
    }

    [GeneratedRegex(@" in (\d+) us")]
    private static partial Regex Reaction();

    public override void Dispose()
    {
        _agent?.Dispose();
        if (_dataDirectory is not null)
            try { Directory.Delete(_dataDirectory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>The least a program can do (bench/observer/reactor.c): one RTM_NEWLINK on a socket opened at start.</summary>
internal sealed class CReactor() : SwitchReactor("c")
{
    private BenchProcess? _process;

    public override string Description => "minimal C reactor (one RTM_NEWLINK)";

    public override int Errors => _process is null ? 0 : Enumerable.Range(0, _process.LineCount).Count(i => _process.Line(i).StartsWith("error", StringComparison.Ordinal));

    public override string? Unavailable(BenchTools tools) => tools.Problem("reactor") is { } problem ? $"the C reactor: {problem}" : null;

    public override async Task StartAsync(SwitchPort port, BenchTools tools, CancellationToken cancellation)
    {
        _process = Launch($"C reactor in {port.Namespace}", tools.Program("reactor")!, [NetnsPath(port.Namespace), port.Active, port.Standby, port.Bridge]);
        await _process.WaitLineAsync(0, l => l == "ready", StartTimeout, "the C reactor listening", cancellation);
    }

    public override void Dispose() => _process?.Dispose();
}

/// <summary>A script listener (bench/observer/script-reactor.py): python3 on a netlink socket, `ip link set` as a subprocess.</summary>
internal sealed class ScriptReactor() : SwitchReactor("script")
{
    private BenchProcess? _process;

    public override string Description => "python3 listener + `ip link set` subprocess";

    public override int Errors => _process is null ? 0 : Enumerable.Range(0, _process.LineCount).Count(i => _process.Line(i).StartsWith("error", StringComparison.Ordinal));

    public override string? Unavailable(BenchTools tools) =>
        BenchTools.FindOnPath("python3") is null ? "python3 not found on PATH"
        : !File.Exists(BenchTools.Script("script-reactor.py")) ? "its script is missing" : null;

    public override async Task StartAsync(SwitchPort port, BenchTools tools, CancellationToken cancellation)
    {
        _process = Launch($"script reactor in {port.Namespace}", "ip",
            ["netns", "exec", port.Namespace, BenchTools.FindOnPath("python3")!, "-u", BenchTools.Script("script-reactor.py"), port.Active, port.Standby, port.Bridge]);
        await _process.WaitLineAsync(0, l => l == "ready", StartTimeout, "the script listening", cancellation);
    }

    public override void Dispose() => _process?.Dispose();
}

/// <summary>
/// The udev rule an operator would write, run by a systemd-udevd of the namespace under test with
/// nothing but that rule (and its revert), its own /run/udev and rules folders in a private
/// mount namespace (bench/observer/udev-reactor.sh). Its workers stay warm between iterations
/// (udevd keeps an idle worker for a few seconds; a round of iterations takes far less).
/// </summary>
internal sealed class UdevReactor() : SwitchReactor("udev")
{
    private BenchProcess? _process;

    public override string Description => "udev rule RUN+=\"ip link set … master\"";

    public static string? Udevd =>
        new[] { "/lib/systemd/systemd-udevd", "/usr/lib/systemd/systemd-udevd", "/sbin/udevd" }.FirstOrDefault(File.Exists);

    public override string? Unavailable(BenchTools tools) =>
        Udevd is null ? "systemd-udevd not found (/lib/systemd/systemd-udevd)"
        : BenchTools.FindOnPath("udevadm") is null ? "udevadm not found on PATH"
        : !File.Exists(BenchTools.Script("udev-reactor.sh")) ? "its script is missing" : null;

    public override async Task StartAsync(SwitchPort port, BenchTools tools, CancellationToken cancellation)
    {
        _process = Launch($"udevd in {port.Namespace}", "ip",
            ["netns", "exec", port.Namespace, "sh", BenchTools.Script("udev-reactor.sh"), Udevd!, port.Active, port.Standby, port.Bridge]);
        await _process.WaitLineAsync(0, l => l == "ready", StartTimeout, "udevd answering", cancellation);
    }

    public override void Dispose() => _process?.Dispose();
}

/// <summary>
/// The options every reactor benchmark shares (how many turns, which reactors, how long to wait,
/// SCHED_FIFO), parsed and checked once; a benchmark's own options stay with it.
/// </summary>
public sealed record ReactorRunOptions(int Iterations, int Warmup, TimeSpan Timeout, IReadOnlyList<string> Reactors)
{
    /// <summary>The options, or null after printing what is wrong with them as "bench: …"; sets <see cref="SwitchReactor.RealTime"/> from --fifo.</summary>
    public static ReactorRunOptions? Parse(string bench, string[] args, int iterations, int warmup, int timeoutMs, IReadOnlyList<string> reactors)
    {
        try
        {
            iterations = BenchFormat.IntOption(args, "--iterations", iterations);
            warmup = BenchFormat.IntOption(args, "--warmup", warmup);
            timeoutMs = BenchFormat.IntOption(args, "--timeout", timeoutMs);
        }
        catch (FormatException e)
        {
            Console.Error.WriteLine($"{bench}: {e.Message} (options take whole numbers)");
            return null;
        }
        if (iterations <= 0 || warmup < 0 || timeoutMs <= 0)
        {
            Console.Error.WriteLine($"{bench}: --iterations and --timeout must be positive, --warmup not negative");
            return null;
        }
        var names = SwitchReactor.Select(BenchFormat.Option(args, "--only"), reactors, out var selectError);
        if (names is null)
        {
            Console.Error.WriteLine($"{bench}: {selectError}");
            return null;
        }
        SwitchReactor.RealTime = BenchFormat.HasOption(args, "--fifo");
        return new ReactorRunOptions(iterations, warmup, TimeSpan.FromMilliseconds(timeoutMs), names);
    }
}
