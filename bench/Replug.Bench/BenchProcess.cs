using System.Diagnostics;

namespace Replug.Bench;

/// <summary>
/// A helper process of a benchmark (a reactor, an observer, a traffic program): its stdout and
/// stderr are read into <see cref="Lines"/> as they come (it never blocks on a full pipe), its
/// stdin is held open (the bench's C programs and scripts exit when it closes, so they die with
/// the bench), and it is killed with its children on Dispose or at the bench's forced cleanup.
/// </summary>
internal sealed class BenchProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly Lock _gate = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _disposed;

    public BenchProcess(string name, string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null,
        Action<string>? onLine = null)
    {
        Name = name;
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (environment is not null) foreach (var (key, value) in environment) psi.Environment[key] = value;
        _process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) => Add(e.Data, null, onLine);
        _process.ErrorDataReceived += (_, e) => Add(e.Data, "stderr: ", null);
        _process.Exited += (_, _) => Pulse();
        BenchCleanup.Install();
        _process.Start();
        BenchCleanup.Track(this);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Name { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Writes a line to its standard input.</summary>
    public void WriteLine(string line)
    {
        _process.StandardInput.WriteLine(line);
        _process.StandardInput.Flush();
    }

    /// <summary>The number of lines read so far: a cursor for <see cref="WaitLineAsync"/>.</summary>
    public int LineCount
    {
        get { lock (_gate) return _lines.Count; }
    }

    public string Line(int index)
    {
        lock (_gate) return _lines[index];
    }

    /// <summary>The last lines, for an error message.</summary>
    public string Tail(int count = 8)
    {
        lock (_gate) return string.Join(" | ", _lines.TakeLast(count));
    }

    private void Add(string? line, string? prefix, Action<string>? onLine)
    {
        if (line is null) return;
        if (prefix is null) onLine?.Invoke(line);
        lock (_gate) _lines.Add(prefix + line);
        Pulse();
    }

    private void Pulse()
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    /// <summary>
    /// The index of the first line at or after <paramref name="from"/> that matches; throws
    /// <see cref="TimeoutException"/> naming <paramref name="what"/>, or when the process exits first.
    /// </summary>
    public async Task<int> WaitLineAsync(int from, Func<string, bool> match, TimeSpan timeout, string what, CancellationToken cancellation)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                for (var i = from; i < _lines.Count; i++)
                    if (match(_lines[i])) return i;
                from = _lines.Count;
                changed = _changed.Task;
            }
            if (_process.HasExited)
                throw new TimeoutException($"{Name} exited (code {_process.ExitCode}) before {what}: {Tail()}");
            var left = timeout - deadline.Elapsed;
            if (left <= TimeSpan.Zero) throw new TimeoutException($"{Name}: not within {timeout.TotalSeconds:0.#} s: {what} (last: {Tail(4)})");
            try { await changed.WaitAsync(left, cancellation); }
            catch (TimeoutException) { }
        }
    }

    /// <summary>Closes stdin (the bench's programs exit on it), waits a moment, then kills what is left of the tree.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
        }
        try
        {
            try { _process.StandardInput.Close(); } catch (IOException) { }
            if (!_process.WaitForExit(2000)) _process.Kill(entireProcessTree: true);
            _process.WaitForExit(2000);
        }
        catch (InvalidOperationException) { }
        catch (System.ComponentModel.Win32Exception) { }
        BenchCleanup.Untrack(this);
        _process.Dispose();
    }

    /// <summary>The forced cleanup (a second Ctrl-C, process exit): no waiting.</summary>
    public void Kill()
    {
        try { _process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { }
        catch (System.ComponentModel.Win32Exception) { }
    }
}

/// <summary>
/// The bench's C programs and scripts (bench/observer, copied next to the bench's assembly),
/// the C ones built with gcc at run time into a temporary folder that is removed on Dispose.
/// </summary>
internal sealed class BenchTools : IDisposable
{
    private readonly Dictionary<string, string> _built = [];
    private readonly Dictionary<string, string> _problems = [];

    private BenchTools(string directory) => Directory = directory;

    /// <summary>The temporary folder holding the built programs.</summary>
    public string Directory { get; }

    /// <summary>Where the sources are: bench/observer, copied into the output as observer/.</summary>
    public static string SourceDirectory => Path.Combine(AppContext.BaseDirectory, "observer");

    /// <summary>Builds each named C program (observer/NAME.c, -O2 -Wall); a failure is kept as that program's problem.</summary>
    public static BenchTools Build(params string[] programs)
    {
        var tools = new BenchTools(System.IO.Directory.CreateTempSubdirectory("replug-bench-tools-").FullName);
        var gcc = FindOnPath("gcc");
        foreach (var program in programs)
        {
            var source = Path.Combine(SourceDirectory, program + ".c");
            if (gcc is null) { tools._problems[program] = "gcc not found on PATH"; continue; }
            if (!File.Exists(source)) { tools._problems[program] = $"its source {source} is missing"; continue; }
            var output = Path.Combine(tools.Directory, program);
            if (!BenchShell.TryRun(out var log, gcc, "-O2", "-Wall", "-o", output, source))
                tools._problems[program] = $"gcc failed: {log.Trim()}";
            else
            {
                tools._built[program] = output;
                if (log.Trim().Length > 0) Console.Error.WriteLine($"gcc {program}.c: {log.Trim()}");
            }
        }
        return tools;
    }

    /// <summary>The built program, or null (see <see cref="Problem"/>).</summary>
    public string? Program(string name) => _built.GetValueOrDefault(name);

    /// <summary>Why a program could not be built, or null.</summary>
    public string? Problem(string name) => _problems.GetValueOrDefault(name) ?? (_built.ContainsKey(name) ? null : "not built");

    /// <summary>A script shipped with the sources (observer/NAME).</summary>
    public static string Script(string name) => Path.Combine(SourceDirectory, name);

    /// <summary>The first executable called <paramref name="name"/> on PATH, or null.</summary>
    public static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries)
        .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
