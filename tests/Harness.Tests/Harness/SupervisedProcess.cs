using System.Diagnostics;
using System.Text;

namespace Replug.Harness;

/// <summary>What happened when, on the probe's clock (milliseconds since it started), for reports.</summary>
public sealed class Timeline(Func<int> now, Action<string>? log)
{
    public sealed record Entry(int At, string What)
    {
        public override string ToString() => $"{At / 1000.0,8:0.000} s  {What}";
    }

    private readonly List<Entry> _entries = [];

    public int Now => now();

    public int Add(string what)
    {
        var at = now();
        lock (_entries) _entries.Add(new Entry(at, what));
        log?.Invoke($"[{at / 1000.0:0.000} s] {what}");
        return at;
    }

    public IReadOnlyList<Entry> Entries
    {
        get { lock (_entries) return [.. _entries]; }
    }

    public string Describe(int last = 60, int since = 0) => string.Join('\n', Entries.Where(e => e.At >= since).TakeLast(last).Select(e => $"  {e}"));
}

/// <summary>
/// One Replug process as a service manager runs it (systemd's <c>Restart=always</c> with a short
/// <c>RestartSec</c>): started again whenever it exits, unless the harness holds it down (a host that
/// stays dead, a process stopped on purpose). Its stdout and stderr go straight to a log file (the
/// process never waits for the test to read a pipe); each start is marked there.
/// </summary>
public sealed class SupervisedProcess : IAsyncDisposable
{
    public sealed record Exit(int At, int Instance, int Code)
    {
        public string Describe() => Code > 128 ? $"killed by signal {Code - 128}" : $"exit code {Code}";
    }

    private readonly Func<IReadOnlyList<string>> _command;
    private readonly TimeSpan _restartDelay;
    private readonly Timeline _timeline;
    private readonly List<Exit> _exits = [];
    private readonly Lock _gate = new();
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Process? _current;
    private long _instanceLogOffset;
    private bool _held = true;
    private bool _disposed;
    private Task? _loop;

    /// <param name="command">The command line of the next start (asked at every start: a coordinator's seed nodes depend on who runs).</param>
    public SupervisedProcess(string name, string logPath, string workingDirectory, Func<IReadOnlyList<string>> command,
        TimeSpan restartDelay, Timeline timeline)
    {
        Name = name;
        LogPath = logPath;
        WorkingDirectory = workingDirectory;
        _command = command;
        _restartDelay = restartDelay;
        _timeline = timeline;
        Directory.CreateDirectory(workingDirectory);
    }

    public string Name { get; }
    public string LogPath { get; }
    public string WorkingDirectory { get; }
    /// <summary>How many times it was started.</summary>
    public int Instances { get; private set; }
    /// <summary>Extra environment for every start.</summary>
    public Dictionary<string, string> Environment { get; } = [];

    public IReadOnlyList<Exit> Exits
    {
        get { lock (_gate) return [.. _exits]; }
    }

    /// <summary>The running instance's process id, or null.</summary>
    public int? Pid
    {
        get { lock (_gate) return _current is { } p && !p.HasExited ? p.Id : null; }
    }

    public bool Running => Pid is not null;

    /// <summary>CPU time (user + system) the running instance has used, from /proc; null when it does not run.</summary>
    public TimeSpan? CpuTime
    {
        get
        {
            if (Pid is not { } pid) return null;
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
                return TimeSpan.FromSeconds((long.Parse(fields[11]) + long.Parse(fields[12])) / 100.0);
            }
            catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException) { return null; }
        }
    }

    /// <summary>Starts it (now) and keeps it running: the supervision loop, or the release of a hold.</summary>
    public void Start()
    {
        lock (_gate)
        {
            _held = false;
            _loop ??= Task.Run(Supervise);
            _wake.TrySetResult();
        }
    }

    /// <summary>
    /// Sends <paramref name="signal"/> to the running instance. With <paramref name="hold"/> it is
    /// not started again until <see cref="Start"/>; without, the supervisor restarts it after the restart delay.
    /// </summary>
    public bool Signal(int signal, bool hold = false)
    {
        int pid;
        lock (_gate)
        {
            if (hold) _held = true;
            if (_current is not { } p || p.HasExited) return false;
            pid = p.Id;
        }
        return Native.kill(pid, signal) == 0;
    }

    /// <summary>kill -9, and waits until it is gone.</summary>
    public async Task KillAsync(bool hold)
    {
        var instance = CurrentProcess();
        Signal(Native.SIGKILL, hold);
        if (instance is not null) await instance.WaitForExitAsync();
    }

    /// <summary>SIGTERM (a graceful stop), held down, and waits for the exit (kill -9 after <paramref name="timeout"/>).</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        var instance = CurrentProcess();
        Signal(Native.SIGTERM, hold: true);
        if (instance is null) return;
        using var cts = new CancellationTokenSource(timeout);
        try { await instance.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            _timeline.Add($"{Name} did not stop within {timeout.TotalSeconds:0} s of SIGTERM: kill -9");
            Signal(Native.SIGKILL, hold: true);
            await instance.WaitForExitAsync();
        }
    }

    private Process? CurrentProcess()
    {
        lock (_gate) return _current is { HasExited: false } p ? p : null;
    }

    /// <summary>Waits until an instance runs (started by the supervisor).</summary>
    public async Task WaitRunningAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Running)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{Name} is not running after {timeout.TotalSeconds:0} s");
            await Task.Delay(50);
        }
    }

    private async Task Supervise()
    {
        while (true)
        {
            Task wake;
            lock (_gate)
            {
                if (_disposed) return;
                if (_wake.Task.IsCompleted) _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
                wake = _wake.Task;
                if (!_held) wake = Task.CompletedTask;
            }
            await wake;
            lock (_gate) if (_disposed) return; else if (_held) continue;

            Process process;
            try { process = Launch(); }
            catch (Exception e)
            {
                _timeline.Add($"{Name} could not be started: {e.Message}");
                await Task.Delay(_restartDelay);
                continue;
            }
            await process.WaitForExitAsync();
            var exit = new Exit(_timeline.Now, Instances, process.ExitCode);
            bool held;
            lock (_gate)
            {
                _exits.Add(exit);
                held = _held || _disposed;
            }
            _timeline.Add($"{Name} #{exit.Instance} exited: {exit.Describe()}{(held ? "" : $"; restarting in {_restartDelay.TotalSeconds:0.#} s")}");
            if (!held) await Task.Delay(_restartDelay);
        }
    }

    private Process Launch()
    {
        var command = _command();
        Instances++;
        var header = $"==== harness: {Name} start #{Instances} at {_timeline.Now / 1000.0:0.000} s: {string.Join(' ', command)}\n";
        File.AppendAllText(LogPath, header);
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, WorkingDirectory = WorkingDirectory };
        // Output straight to the file, appended: the process never blocks on a pipe the test reads.
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec \"$@\" </dev/null >>\"$0\" 2>&1");
        psi.ArgumentList.Add(LogPath);
        foreach (var a in command) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_ENVIRONMENT"] = "Production";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["DOTNET_TieredPGO"] = "0"; // less JIT work at start: five processes share two cores
        psi.Environment["Logging__Console__FormatterName"] = "simple";
        psi.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        psi.Environment["Logging__Console__FormatterOptions__TimestampFormat"] = "HH:mm:ss.fff ";
        psi.Environment["Logging__Console__FormatterOptions__UseUtcTimestamp"] = "true";
        foreach (var (k, v) in Environment) psi.Environment[k] = v;
        lock (_gate)
        {
            _instanceLogOffset = new FileInfo(LogPath).Length;
            var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {Name}");
            _current = process;
            _timeline.Add($"{Name} #{Instances} started (pid {process.Id})");
            return process;
        }
    }

    /// <summary>The log of the current (or last) instance.</summary>
    public string CurrentLog()
    {
        long offset;
        lock (_gate) offset = _instanceLogOffset;
        return ReadFrom(offset);
    }

    /// <summary>Waits until the current instance's log contains <paramref name="text"/>.</summary>
    public async Task WaitForLogAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!CurrentLog().Contains(text, StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{Name} did not log \"{text}\" within {timeout.TotalSeconds:0} s");
            await Task.Delay(100);
        }
    }

    private string ReadFrom(long offset)
    {
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            if (offset > stream.Length) offset = 0;
            stream.Seek(offset, SeekOrigin.Begin);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            return reader.ReadToEnd();
        }
        catch (FileNotFoundException) { return ""; }
    }

    /// <summary>The last <paramref name="lines"/> lines of the log, for a failure's report.</summary>
    public string Tail(int lines = 40)
    {
        var all = ReadFrom(0).Split('\n');
        return string.Join('\n', all.TakeLast(lines + 1)).TrimEnd();
    }

    public async ValueTask DisposeAsync()
    {
        Process? current;
        Task? loop;
        lock (_gate)
        {
            _disposed = true;
            _held = true;
            current = _current;
            loop = _loop;
            _wake.TrySetResult();
        }
        if (current is { HasExited: false })
        {
            try { Native.kill(current.Id, Native.SIGKILL); } catch (InvalidOperationException) { }
            await current.WaitForExitAsync();
        }
        if (loop is not null) await loop;
        current?.Dispose();
    }
}
