using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Akka.Actor;
using Replug.Agent.Linux;
using Replug.Shared.Devices;

namespace Replug.Bench;

/// <summary>
/// A fresh network namespace (one "host") for a benchmark, with a sysfs of that namespace
/// mounted on a temporary folder. Removed on Dispose, on a second Ctrl-C / SIGTERM and at
/// process exit, whichever comes first (the bench's copy of the tests' TestNetworkNamespace).
/// </summary>
internal sealed class BenchNamespace : IDisposable
{
    private static int _counter;
    private readonly Lock _gate = new();
    private string? _sysfsRoot;
    private bool _disposed;

    public BenchNamespace(string prefix)
    {
        BenchCleanup.Install();
        Name = $"{prefix}{Environment.ProcessId % 100000}x{Interlocked.Increment(ref _counter)}";
        if (!DeviceNames.IsSafe(Name)) throw new InvalidOperationException($"bad namespace name {Name}");
        BenchCleanup.Track(this);
        BenchShell.Run("ip", "netns", "add", Name);
        BenchShell.Run("ip", "-n", Name, "link", "set", "lo", "up");
    }

    public string Name { get; }

    public string NetnsPath => Path.Combine(NetworkNamespace.RunDirectory, Name);

    /// <summary>Runs `ip -n NAME ARGS…` and throws with its stderr on failure.</summary>
    public string Ip(params string[] args) => BenchShell.Run("ip", ["-n", Name, .. args]);

    /// <summary>Runs `ip -n NAME -batch FILE` (stops at the first error); killed when <paramref name="cancellation"/> fires.</summary>
    public string IpBatch(string file, CancellationToken cancellation) =>
        BenchShell.Run("ip", ["-n", Name, "-batch", file], TimeSpan.FromMinutes(10), cancellation);

    /// <summary>A sysfs mounted from inside this namespace (its class/net lists this namespace's devices).</summary>
    public string SysfsRoot
    {
        get
        {
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (_sysfsRoot is not null) return _sysfsRoot;
                var dir = Directory.CreateTempSubdirectory($"sysfs-{Name}-").FullName;
                _sysfsRoot = dir;
                BenchShell.Run("nsenter", $"--net={NetnsPath}", "mount", "-t", "sysfs", "sysfs", dir);
                return dir;
            }
        }
    }

    /// <summary>The bridge a device is enslaved to, from this namespace's sysfs (class/net/DEV/master), or null.</summary>
    public string? MasterOf(string device)
    {
        var link = new FileInfo(Path.Combine(SysfsRoot, "class/net", device, "master"));
        try { return link.LinkTarget is { } target ? Path.GetFileName(target) : null; }
        catch (IOException) { return null; }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            if (_sysfsRoot is not null)
            {
                BenchShell.TryRun(out _, "umount", "-l", _sysfsRoot);
                try { Directory.Delete(_sysfsRoot); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
            BenchShell.TryRun(out _, "ip", "netns", "del", Name);
        }
        BenchCleanup.Untrack(this);
    }
}

/// <summary>
/// Ctrl-C / SIGTERM: the first asks the running benchmark to stop (<see cref="Token"/>), so its
/// finally blocks clean up; a second one (or process exit) kills every helper process and removes
/// every live namespace at once.
/// </summary>
internal static class BenchCleanup
{
    private static readonly ConcurrentDictionary<BenchNamespace, byte> Live = new();
    private static readonly ConcurrentDictionary<BenchProcess, byte> LiveProcesses = new();
    private static readonly CancellationTokenSource Cancellation = new();
    private static readonly Lock Gate = new();
    private static readonly List<PosixSignalRegistration> Registrations = [];
    private static bool _installed;

    public static CancellationToken Token => Cancellation.Token;

    public static void Install()
    {
        lock (Gate)
        {
            if (_installed) return;
            _installed = true;
            foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGQUIT })
                Registrations.Add(PosixSignalRegistration.Create(signal, OnSignal));
            AppDomain.CurrentDomain.ProcessExit += (_, _) => DisposeAll();
        }
    }

    private static void OnSignal(PosixSignalContext context)
    {
        if (!Cancellation.IsCancellationRequested)
        {
            Console.Error.WriteLine($"{context.Signal}: stopping and cleaning up (again to force)");
            context.Cancel = true;
            Cancellation.Cancel();
            return;
        }
        DisposeAll();
    }

    public static void Track(BenchNamespace ns) => Live.TryAdd(ns, 0);
    public static void Untrack(BenchNamespace ns) => Live.TryRemove(ns, out _);
    public static void Track(BenchProcess process) => LiveProcesses.TryAdd(process, 0);
    public static void Untrack(BenchProcess process) => LiveProcesses.TryRemove(process, out _);

    private static void DisposeAll()
    {
        // Processes first: one holding a namespace (an agent in it) would keep it alive.
        foreach (var process in LiveProcesses.Keys) process.Kill();
        foreach (var ns in Live.Keys) ns.Dispose();
    }
}

internal static class BenchShell
{
    public static string Run(string file, params string[] args) => Run(file, args, TimeSpan.FromSeconds(60));

    public static string Run(string file, string[] args, TimeSpan timeout, CancellationToken cancellation = default)
    {
        if (!TryRun(out var output, file, args, timeout, cancellation))
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed: {output.Trim()}");
        return output;
    }

    public static bool TryRun(out string output, string file, params string[] args) =>
        TryRun(out output, file, args, TimeSpan.FromSeconds(60));

    public static bool TryRun(out string output, string file, string[] args, TimeSpan timeout, CancellationToken cancellation = default)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        var exited = false;
        try { exited = p.WaitForExitAsync(cancellation).Wait(timeout); }
        catch (AggregateException e) when (e.InnerException is OperationCanceledException)
        {
            try { p.Kill(true); } catch (InvalidOperationException) { }
            throw new OperationCanceledException(cancellation);
        }
        if (!exited)
        {
            try { p.Kill(true); } catch (InvalidOperationException) { }
            output = "timed out";
            return false;
        }
        p.WaitForExit();
        output = p.ExitCode == 0 ? stdout.Result : stderr.Result + stdout.Result;
        return p.ExitCode == 0;
    }
}

/// <summary>
/// A long-lived `ip -n NS -force -batch -` fed on stdin: one command costs a pipe write, not a
/// process spawn. Commands run asynchronously; errors are collected from stderr.
/// </summary>
internal sealed class IpBatchProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _errors = new();

    public IpBatchProcess(string netns)
    {
        var psi = new ProcessStartInfo("ip")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in new[] { "-n", netns, "-force", "-batch", "-" }) psi.ArgumentList.Add(a);
        _process = Process.Start(psi)!;
        _process.StandardInput.AutoFlush = true;
        _process.ErrorDataReceived += (_, e) => { if (!string.IsNullOrWhiteSpace(e.Data)) _errors.Enqueue(e.Data); };
        _process.OutputDataReceived += (_, _) => { };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
    }

    public IReadOnlyCollection<string> Errors => _errors;

    public void Send(string command)
    {
        if (_process.HasExited) throw new InvalidOperationException($"ip -batch exited ({_process.ExitCode}): {string.Join("; ", _errors)}");
        _process.StandardInput.WriteLine(command);
    }

    public void Dispose()
    {
        try
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(5000)) _process.Kill(true);
        }
        catch (InvalidOperationException) { }
        catch (IOException) { }
        _process.Dispose();
    }
}

/// <summary>Forwards everything it receives (EventStream subscriptions) into a channel the benchmark reads.</summary>
internal sealed class ChannelForwarder(ChannelWriter<object> writer) : UntypedActor
{
    public static Props Props(ChannelWriter<object> writer) => Akka.Actor.Props.Create(() => new ChannelForwarder(writer));

    protected override void OnReceive(object message) => writer.TryWrite(message);
}

internal static class BenchFormat
{
    /// <summary>Nearest-rank percentile of sorted values.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        if (sorted.Count == 0) return double.NaN;
        var rank = (int)Math.Ceiling(p / 100.0 * sorted.Count);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Count - 1)];
    }

    public static string Mib(long bytes) => $"{bytes / (1024.0 * 1024.0):0.0} MiB";

    public static void Row(string name, string value) => Console.WriteLine($"  {name,-52} {value}");

    public static void Header(string title)
    {
        Console.WriteLine();
        Console.WriteLine(title);
        Console.WriteLine(new string('-', Math.Max(title.Length, 72)));
    }

    /// <summary>The value of <c>--name value</c> or <c>--name=value</c>; null when not given.</summary>
    public static string? Option(string[] args, string name)
    {
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == name && i + 1 < args.Length) return args[i + 1];
            if (args[i].StartsWith(name + "=", StringComparison.Ordinal)) return args[i][(name.Length + 1)..];
        }
        return null;
    }

    public static int IntOption(string[] args, string name, int fallback) =>
        Option(args, name) is { } value ? int.Parse(value, System.Globalization.CultureInfo.InvariantCulture) : fallback;

    public static double DoubleOption(string[] args, string name, double fallback) =>
        Option(args, name) is { } value ? double.Parse(value, System.Globalization.CultureInfo.InvariantCulture) : fallback;

    public static bool HasOption(string[] args, string name) => args.Any(a => a == name || a.StartsWith(name + "=", StringComparison.Ordinal));
}
