using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using Replug.Agent.Tests.Support;
using Replug.Harness;

namespace Replug.Ctl.Tests.Support;

/// <summary>
/// A program started from its build output, its stdout and stderr collected line by line (and kept
/// for a failing test's message).
/// </summary>
public sealed class RunningProgram : IDisposable
{
    private readonly ConcurrentQueue<string> _stdout = new();
    private readonly ConcurrentQueue<string> _stderr = new();

    private RunningProgram(Process process) => Process = process;

    public Process Process { get; }
    public IReadOnlyCollection<string> Stdout => _stdout;
    public IReadOnlyCollection<string> Stderr => _stderr;
    public string Everything => string.Join("\n", _stdout.Select(l => "out: " + l).Concat(_stderr.Select(l => "err: " + l)));

    /// <summary>Runs <c>dotnet DLL ARGS</c> in <paramref name="workingDirectory"/> with <paramref name="environment"/> added.</summary>
    public static RunningProgram Start(string dll, IEnumerable<string> args, string workingDirectory, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(Executables.Dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = workingDirectory,
        };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_ENVIRONMENT"] = "Production";
        // Whatever the machine's shell has set must not reach the programs under test.
        foreach (var name in new[] { "REPLUG_URL", "REPLUG_TOKEN", "REPLUG_TOKEN_FILE" }) psi.Environment.Remove(name);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) psi.Environment[name] = value;
        var running = new RunningProgram(Process.Start(psi)!);
        running.Process.OutputDataReceived += (_, e) => { if (e.Data is not null) running._stdout.Enqueue(e.Data); };
        running.Process.ErrorDataReceived += (_, e) => { if (e.Data is not null) running._stderr.Enqueue(e.Data); };
        running.Process.BeginOutputReadLine();
        running.Process.BeginErrorReadLine();
        return running;
    }

    /// <summary>The first line of stdout or stderr that <paramref name="pattern"/> matches, waiting for it.</summary>
    public async Task<Match> WaitFor(Regex pattern, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            foreach (var line in _stdout.Concat(_stderr))
                if (pattern.Match(line) is { Success: true } m) return m;
            if (Process.HasExited) throw new InvalidOperationException($"the program exited ({Process.ExitCode}) before {what}:\n{Everything}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"no {what} within {timeout.TotalSeconds:0} s:\n{Everything}");
            await Task.Delay(50);
        }
    }

    /// <summary>Sends <paramref name="signal"/> (INT, TERM) and waits for the exit code.</summary>
    public async Task<int> Signal(string signal, TimeSpan timeout)
    {
        using (var kill = Process.Start("kill", $"-{signal} {Process.Id}")) await kill.WaitForExitAsync();
        using var cts = new CancellationTokenSource(timeout);
        await Process.WaitForExitAsync(cts.Token);
        return Process.ExitCode;
    }

    public void Dispose()
    {
        if (!Process.HasExited) Process.Kill(entireProcessTree: true);
        Process.WaitForExit();
        Process.Dispose();
    }
}

/// <summary>What a replugctl run ended with: its exit code and what it printed.</summary>
public sealed record ReplugctlResult(int Code, string Out, string Err)
{
    public override string ToString() => $"exit {Code}\nstdout:\n{Out}\nstderr:\n{Err}";

    /// <summary>Runs the real replugctl in <paramref name="workingDirectory"/> to its end (at most <paramref name="patience"/>).</summary>
    public static async Task<ReplugctlResult> RunAsync(string workingDirectory, IReadOnlyDictionary<string, string> environment, TimeSpan patience, params string[] args)
    {
        using var program = RunningProgram.Start(Executables.Replugctl, args, workingDirectory, environment);
        using var cts = new CancellationTokenSource(patience);
        await program.Process.WaitForExitAsync(cts.Token);
        program.Process.WaitForExit(); // the redirected output's last lines
        return new ReplugctlResult(program.Process.ExitCode, string.Join("\n", program.Stdout), string.Join("\n", program.Stderr));
    }
}

/// <summary>
/// A real coordinator process (free ports, SQLite in a temporary folder) and a real agent process
/// joined to it as host <see cref="HostName"/>, with one NIC (net/v1) in a fake sysfs and no kernel
/// events (an empty replay): a registered host without root or namespaces. Shared by a test class.
/// </summary>
public sealed partial class CoordinatorWithHost : IAsyncLifetime
{
    public const string HostName = "ctl-host";
    private static readonly TimeSpan Start = TimeSpan.FromSeconds(90);

    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("replugctl-tests-");
    private readonly FakeSysfs _sysfs = new();
    private RunningProgram? _coordinator;
    private RunningProgram? _agent;

    public Uri Url { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;
    /// <summary>A folder to run replugctl in: no ./data/api-token of its own.</summary>
    public string WorkingDirectory => _work.FullName;
    private string DataDirectory => Path.Combine(_work.FullName, "coordinator-data");
    /// <summary>The token the coordinator generated (no tokens configured, a loopback listener).</summary>
    public string TokenFile => Path.Combine(DataDirectory, "api-token");

    public async Task InitializeAsync()
    {
        _sysfs.AddNet("v1", 7, mac: "52:54:00:c7:00:07");
        var nothing = Path.Combine(_work.FullName, "no-events.txt");
        await File.WriteAllTextAsync(nothing, "");
        _coordinator = RunningProgram.Start(Executables.Coordinator,
            ["--Replug:Cluster:Port=0", "--Replug:Coordinator:ApiUrls=http://127.0.0.1:0", $"--Replug:Coordinator:Persistence:DataDirectory={DataDirectory}"],
            _work.FullName);
        var seed = (await _coordinator.WaitFor(RemotingOn(), Start, "the coordinator's remoting address")).Groups[1].Value;
        _agent = RunningProgram.Start(Executables.Agent,
            ["--replay", nothing, "--sysfs", _sysfs.Root, "--host", HostName, "--Replug:Agent:Subsystems:0=net",
             $"--Replug:Cluster:SeedNodes:0={seed}", "--Replug:Cluster:Port=0"],
            _work.FullName);
        Url = new Uri((await _coordinator.WaitFor(ListeningOn(), Start, "the coordinator's API address")).Groups[1].Value);
        Http = new HttpClient { BaseAddress = Url, Timeout = TimeSpan.FromSeconds(10) };
        await Until(async () =>
        {
            Authorize();
            using var response = await Http.GetAsync($"/hosts/{HostName}");
            return response.StatusCode == HttpStatusCode.OK;
        }, $"{HostName} registered with the coordinator");
    }

    /// <summary>The environment replugctl runs with: the URL, and the token file the coordinator generated.</summary>
    public Dictionary<string, string> Environment() => new() { ["REPLUG_URL"] = Url.ToString(), ["REPLUG_TOKEN_FILE"] = TokenFile };

    /// <summary>The coordinator writes its token at start, before the API answers: from then on the fixture's client sends it.</summary>
    private void Authorize()
    {
        if (Http.DefaultRequestHeaders.Authorization is null && File.Exists(TokenFile))
            Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", File.ReadAllText(TokenFile).Trim());
    }

    private async Task Until(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Start;
        while (true)
        {
            try { if (await condition()) return; }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"no {what} within {Start.TotalSeconds:0} s\ncoordinator:\n{_coordinator?.Everything}\nagent:\n{_agent?.Everything}");
            await Task.Delay(200);
        }
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        foreach (var program in new[] { _agent, _coordinator })
        {
            if (program is null) continue;
            if (!program.Process.HasExited)
            {
                try { await program.Signal("TERM", TimeSpan.FromSeconds(30)); }
                catch (OperationCanceledException) { }
            }
            program.Dispose();
        }
        _sysfs.Dispose();
        _work.Delete(recursive: true);
    }

    [GeneratedRegex(@"Now listening on: (http://\S+)")]
    internal static partial Regex ListeningOn();

    [GeneratedRegex(@"Remoting now listens on addresses: \[(akka\.tcp://replug@[^\]]+)\]")]
    internal static partial Regex RemotingOn();
}

/// <summary>
/// Test classes that start coordinator processes run one at a time: on a small machine several
/// clusters forming at once miss their joins' deadlines.
/// </summary>
[CollectionDefinition(Name)]
public sealed class RealProcesses
{
    public const string Name = "real coordinator processes";
}
