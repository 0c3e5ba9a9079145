using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Replug.Agent.Tests.Support;
using Replug.Coordinator.Hosting;
using Replug.Coordinator.Tests.Api;
using Replug.Coordinator.Tests.Support;
using Xunit.Abstractions;

namespace Replug.Coordinator.Tests;

/// <summary>The coordinator executable as an operator runs it: its modes, its configuration errors, its shutdown.</summary>
[Collection(RealNodes.Name)]
public sealed partial class CoordinatorHostTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _data = new();
    private readonly List<RunningProgram> _programs = [];

    /// <summary>Free ports for remoting and the API, SQLite in a temporary folder: tests never clash with each other or a running Replug.</summary>
    private string[] Isolated() =>
    [
        "--Replug:Cluster:Port=0",
        "--Replug:Coordinator:ApiUrls=http://127.0.0.1:0",
        $"--Replug:Coordinator:Persistence:DataDirectory={_data.Path}",
    ];

    /// <summary>A client of a coordinator started with <see cref="Isolated"/>, with the token it made in its data folder.</summary>
    private HttpClient ApiClient(Uri api) => new()
    {
        BaseAddress = api,
        DefaultRequestHeaders = { Authorization = new("Bearer", File.ReadAllText(Path.Combine(_data.Path, Replug.Coordinator.Api.ApiAccessOptions.GeneratedTokenFileName)).Trim()) },
    };

    /// <summary>
    /// A program's stdout and stderr, each line stamped when the test read it: printed with the
    /// test's output, so a failure shows what every program did and when.
    /// </summary>
    private sealed class RunningProgram(string name, Process process) : IDisposable
    {
        private readonly ConcurrentQueue<string> _errors = new();
        private readonly ConcurrentQueue<string> _log = new();

        public string Name { get; } = name;
        public Process Process { get; } = process;
        public ConcurrentQueue<string> Output { get; } = new();
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource<Uri> Listening { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource<string> Remoting { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Everything written to stderr, once the program has exited.</summary>
        public Task<string> Stderr { get; private set; } = Task.FromResult("");

        public void Read()
        {
            Process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                Output.Enqueue(e.Data);
                _log.Enqueue($"{DateTime.Now:HH:mm:ss.fff} {Name}  {e.Data}");
                if (e.Data.Contains("Application started")) Started.TrySetResult();
                if (ListeningOn().Match(e.Data) is { Success: true } m) Listening.TrySetResult(new Uri(m.Groups[1].Value));
                if (RemotingOn().Match(e.Data) is { Success: true } r) Remoting.TrySetResult(r.Groups[1].Value);
            };
            Process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                _errors.Enqueue(e.Data);
                _log.Enqueue($"{DateTime.Now:HH:mm:ss.fff} {Name}! {e.Data}");
            };
            Process.BeginOutputReadLine();
            Process.BeginErrorReadLine();
            // WaitForExitAsync also waits for the end of both redirected streams.
            Stderr = Process.WaitForExitAsync().ContinueWith(_ => string.Join("\n", _errors), TaskScheduler.Default);
        }

        public IEnumerable<string> Log => _log;

        public async Task<int> Terminate()
        {
            using (var kill = System.Diagnostics.Process.Start("kill", $"-TERM {Process.Id}")) await kill.WaitForExitAsync();
            Assert.True(Process.WaitForExit(30_000), $"{Name} did not stop on SIGTERM");
            Process.WaitForExit(); // flushes the redirected output
            return Process.ExitCode;
        }

        private bool _disposed;

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            if (!Process.HasExited) Process.Kill(entireProcessTree: true);
            Process.WaitForExit(); // the last lines, for the log
            Process.Dispose();
        }
    }

    /// <summary>A port free a moment ago; taken meanwhile, the program says so and stops (exit code 1).</summary>
    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private RunningProgram Start(params string[] args) => StartProgram("coordinator", [Path.Combine(AppContext.BaseDirectory, "replug-coordinator.dll"), .. args]);

    /// <summary>
    /// The agent executable from its own project's output (same configuration), with its own
    /// appsettings.json: next to the coordinator the two programs' appsettings.json collide, and
    /// whichever the build copied last would be read.
    /// </summary>
    private RunningProgram StartAgent(params string[] args)
    {
        var testOutput = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
        var marker = $"{Path.DirectorySeparatorChar}tests{Path.DirectorySeparatorChar}Coordinator.Tests{Path.DirectorySeparatorChar}";
        var agentOutput = testOutput.Replace(marker, $"{Path.DirectorySeparatorChar}src{Path.DirectorySeparatorChar}Agent{Path.DirectorySeparatorChar}");
        var agent = Path.Combine(agentOutput, "replug-agent.dll");
        Assert.True(File.Exists(agent), $"the agent's build output is missing: {agent}");
        // No HTTP listener: the tests start agents side by side.
        return StartProgram("agent", [agent, "--Replug:Agent:HttpUrls=", .. args]);
    }

    private RunningProgram StartProgram(string name, string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_ENVIRONMENT"] = "Production";
        var running = new RunningProgram(name, Process.Start(psi)!);
        running.Read();
        _programs.Add(running);
        return running;
    }

    [GeneratedRegex(@"Now listening on: (http://[^\s""]+)")]
    private static partial Regex ListeningOn();

    [GeneratedRegex(@"Remoting now listens on addresses: \[(akka(?:\.ssl)?\.tcp://replug@[^\]]+)\]")]
    private static partial Regex RemotingOn();

    [Fact]
    public async Task The_coordinator_host_starts_and_stops_cleanly_on_SIGTERM()
    {
        if (!OperatingSystem.IsLinux()) return; // SIGTERM via kill(1)
        using var host = Start(Isolated());

        await host.Started.Task.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(0, await host.Terminate());
        Assert.DoesNotContain("Exception", await host.Stderr);
    }

    [Fact]
    public async Task An_agent_executable_given_the_coordinator_as_seed_joins_and_is_listed_with_its_NICs()
    {
        if (!OperatingSystem.IsLinux()) return; // SIGTERM via kill(1)
        using var sysfs = new FakeSysfs();
        sysfs.AddNet("v1", 7, mac: "52:54:00:aa:00:07");
        var nothing = Path.Combine(_data.Path, "no-events.txt");
        File.WriteAllText(nothing, "");
        using var coordinator = Start(Isolated());
        var seed = await coordinator.Remoting.Task.WaitAsync(TimeSpan.FromSeconds(60));
        // The agent starts as soon as the seed listens: each program spends seconds starting (most of
        // it JIT; on a loaded two-core machine 10 to 20 s each, and the coordinator's first journal
        // recovery as much again), and waiting for the coordinator's API as well added the agent's
        // start to all of that. Not earlier: an agent that finds no listener at the seed keeps off it
        // for the remoting gate's 5 s and more.
        using var agent = StartAgent("--replay", nothing, "--sysfs", sysfs.Root, "--host", "exe-host",
            "--Replug:Agent:Subsystems:0=net", $"--Replug:Cluster:SeedNodes:0={seed}", "--Replug:Cluster:Port=0");
        var api = await coordinator.Listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
        using var http = ApiClient(api);
        JsonElement? listed = null;
        await Wait.Until(async () =>
        {
            using var response = await http.GetAsync("/hosts/exe-host");
            if (response.StatusCode != HttpStatusCode.OK) return false;
            listed = await response.Content.ReadFromJsonAsync<JsonElement>();
            return true;
        }, "exe-host in /hosts", TimeSpan.FromSeconds(60));

        Assert.Equal("Up", listed!.Value.GetProperty("status").GetString());
        var nic = Assert.Single(listed.Value.GetProperty("nics").EnumerateArray());
        Assert.Equal("net/v1", nic.GetProperty("device").GetString());
        Assert.Equal("PermanentMac:52:54:00:aa:00:07", nic.GetProperty("identity").GetString());
        Assert.Equal(0, await agent.Terminate());
        Assert.Equal(0, await coordinator.Terminate());
        Assert.DoesNotContain("Exception", await agent.Stderr);
        Assert.DoesNotContain("Exception", await coordinator.Stderr);
    }

    [Fact]
    public async Task A_second_node_on_a_remoting_port_in_use_stops_with_the_setting_named_and_exit_code_1_and_the_first_runs_on()
    {
        if (!OperatingSystem.IsLinux()) return; // SIGTERM via kill(1)
        var port = FreePort();
        using var second = new TempDirectory();
        using var first = Start([.. Isolated(), $"--Replug:Cluster:Port={port}"]);
        Assert.Equal($"akka.tcp://replug@127.0.0.1:{port}", await first.Remoting.Task.WaitAsync(TimeSpan.FromSeconds(60)));

        // Both Akka listeners would take the port (SO_REUSEPORT), and both nodes claim one address.
        using var again = Start("--Replug:Coordinator:ApiUrls=http://127.0.0.1:0", $"--Replug:Coordinator:Persistence:DataDirectory={second.Path}",
            $"--Replug:Cluster:Port={port}");
        Assert.True(again.Process.WaitForExit(60_000), "the second node did not stop: it listens on the first one's port");

        Assert.Equal(1, again.Process.ExitCode);
        Assert.Contains($"replug-coordinator: Failed to bind to [127.0.0.1:{port}]: address already in use " +
            "(another Replug running? set Replug:Cluster:Port, Replug:Coordinator:ApiUrls)", await again.Stderr);
        Assert.False(first.Process.HasExited);
        Assert.Equal(0, await first.Terminate());
    }

    [Fact]
    public async Task Bad_configuration_fails_at_start_with_every_key_named_and_exit_code_2()
    {
        using var host = Start([.. Isolated(), "--Replug:Cluster:Port=70000", "--Replug:Coordinator:CommandAttempts=0"]);

        var stderr = await host.Stderr;
        Assert.True(host.Process.WaitForExit(60_000), "the coordinator did not exit");
        Assert.Equal(2, host.Process.ExitCode);
        Assert.Contains("replug-coordinator: bad configuration: Replug:Cluster:Port: 70000 is not a TCP port", stderr);
        Assert.Contains("Replug:Coordinator:CommandAttempts", stderr);
    }

    [Theory]
    [InlineData("--Replug:Cluster:Lease=soon", "Replug:Cluster:Lease")]
    [InlineData("--Replug:Cluster:SeedNode:0=akka.tcp://replug@127.0.0.1:4053", "SeedNode")]
    [InlineData("--Replug:Coordinator:Persistence:Provider=oracle", "Replug:Coordinator:Persistence:Provider: 'oracle' is not a provider")]
    [InlineData("--Replug:Coordinator:Persistence:Provdier=sqlite", "Provdier")]
    [InlineData("--Replug:Coordinator:ApiUrls=ftp://127.0.0.1", "Replug:Coordinator:ApiUrls: 'ftp://127.0.0.1' is not an http(s) URL")]
    [InlineData("--Replug:Coordinater:ApiUrls=http://127.0.0.1:8081", "Replug:Coordinater: not a section this program reads")]
    [InlineData("--Replug:Coordinator:Policies:PowerSaving:Level=9", "Replug:Coordinator:Policies:PowerSaving:Level: 9 is not a level")]
    [InlineData("--Replug:Coordinator:Policies:LoadBalancing:Reserve:SpareHosts=-1", "Replug:Coordinator:Policies:LoadBalancing:Reserve:SpareHosts")]
    [InlineData("--Replug:Coordinator:Policies:Interval=00:00:00.1", "Replug:Coordinator:Policies:Interval")]
    [InlineData("--Replug:Coordinator:Policies:Hook=notify.sh", "Replug:Coordinator:Policies:Hook: 'notify.sh' must be an absolute path")]
    [InlineData("--Replug:Coordinator:Policies:PowerSaving:Mode=Sometimes", "Replug:Coordinator:Policies:PowerSaving:Mode")]
    [InlineData("--Replug:Coordinator:ReservedHosts=7", "Replug:Coordinator:ReservedHosts: '7' is not a policy")]
    [InlineData("--Replug:Cluster:Hostname=not..a..host", "Replug:Cluster:Hostname: 'not..a..host' is not an IP address or a host name")]
    [InlineData("--Replug:Coordinator:Persistence:DataDirectory=/proc/x", "Replug:Coordinator:Persistence:DataDirectory: '/proc/x' cannot hold the journal")]
    [InlineData("--Replug:Coordinator:ApiUrls=https://127.0.0.1:18443", "https needs a certificate")]
    [InlineData("--Replug:Coordinator:ApiUrls=http://replug-api.invalid:18090", "give an IP address (or localhost)")]
    [InlineData("--Replug:Coordinator:ApiUrls=http://127.0.0.1:18090/replug", "Replug:Coordinator:ApiUrls: 'http://127.0.0.1:18090/replug': give the address and port only (no path)")]
    [InlineData("--Logging:LogLevel:Default=Verbose", "Logging:LogLevel:Default: 'Verbose' is not a log level")]
    [InlineData("--Replug:Coordinator:ApiUrls=http://0.0.0.0:18091", "Replug:Coordinator:Api:Tokens: the API listens on http://0.0.0.0:18091/, not only on loopback: configure its tokens")]
    [InlineData("--Replug:Coordinator:Api:Tokens:0:Value=short", "Replug:Coordinator:Api:Tokens:0:Value: must be at least 16 printable characters")]
    [InlineData("--Replug:Coordinator:Api:Tokens:0:File=/nonexistent/replug-token", "Replug:Coordinator:Api:Tokens:0:File: '/nonexistent/replug-token' cannot be read")]
    [InlineData("--Replug:Coordinator:Api:Tokens:0:Scope=Admin", "Replug:Coordinator:Api:Tokens:0:Scope")]
    [InlineData("--Replug:Coordinator:Api:RateLimit:Burst=0", "Replug:Coordinator:Api:RateLimit:Burst: 0 must be at least 1")]
    [InlineData("--standalon", "'--standalon' is not an option")]
    [InlineData("--replay=/tmp/capture", "--replay configures the agent: it needs --standalone")]
    public void A_bad_setting_or_option_is_named_before_anything_starts(string arg, string problem)
    {
        Assert.False(CoordinatorHost.TryBuild([.. Isolated(), arg], out _, out var errors));
        Assert.Contains(errors, e => e.Contains(problem));
    }

    [Theory]
    [InlineData("--replay")]
    [InlineData("--replay", "--Replug:Agent:HistorySize=5")]
    [InlineData("--Replug:Cluster:Port")]
    public void A_switch_or_setting_without_its_value_is_named_instead_of_left_at_its_default(params string[] args)
    {
        Assert.False(CoordinatorHost.TryBuild([.. Isolated(), "--standalone", .. args], out _, out var errors));
        Assert.Contains(errors, e => e == $"{args[0]} needs a value ({args[0]} VALUE or {args[0]}=VALUE)");
    }

    [Fact]
    public void In_standalone_mode_the_agents_section_is_checked_too()
    {
        Assert.False(CoordinatorHost.TryBuild([.. Isolated(), "--standalone", "--Replug:Agent:Steps:Retries=-1"], out _, out var errors));
        Assert.Contains(errors, e => e.StartsWith("Replug:Agent:Steps:Retries"));
    }

    [Theory]
    [InlineData("--Replug:Cluster:Port", "4054")]
    [InlineData("--replay", "-")]
    [InlineData("--sysfs", "/sys", "--host", "h1")]
    public void Settings_and_the_agents_switches_take_their_value_from_the_next_argument(params string[] args) =>
        Assert.Empty(CoordinatorHost.CheckArguments(args, standalone: true));

    [KernelFact]
    public async Task Standalone_mode_watches_this_machine_shows_it_through_the_API_and_stops_cleanly_on_SIGTERM()
    {
        using var host = Start(["--standalone", .. Isolated(), "--Replug:Agent:Host=replug-standalone-test"]);
        var api = await host.Listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
        using var http = ApiClient(api);

        await Wait.Until(async () => (await http.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK, "/health/ready to be 200", TimeSpan.FromSeconds(60));
        JsonElement? self = null;
        await Wait.Until(async () =>
        {
            var hosts = await http.GetFromJsonAsync<JsonElement>("/hosts");
            self = hosts.GetProperty("hosts").EnumerateArray().FirstOrDefault(h => h.GetProperty("host").GetString() == "replug-standalone-test");
            return self.Value.ValueKind == JsonValueKind.Object;
        }, "this machine's host in /hosts", TimeSpan.FromSeconds(30));

        Assert.Equal("Up", self!.Value.GetProperty("status").GetString());
        // Which NICs a machine has varies (lo has no identity and is never listed); every one listed is a real interface here.
        foreach (var nic in self.Value.GetProperty("nics").EnumerateArray())
        {
            var device = nic.GetProperty("device").GetString()!;
            Assert.StartsWith("net/", device);
            Assert.True(Directory.Exists(Path.Combine("/sys/class/net", device["net/".Length..])), $"{device} is not an interface of this machine");
        }
        var log = string.Join("\n", host.Output);
        Assert.Contains("listening: netlink", log);

        Assert.Equal(0, await host.Terminate());
        Assert.DoesNotContain("Exception", await host.Stderr);
        Assert.Contains("Uevent source counters", string.Join("\n", host.Output));
    }

    public void Dispose()
    {
        foreach (var program in _programs) program.Dispose();
        // Interleaved by time: what each program did while the other waited.
        foreach (var line in _programs.SelectMany(p => p.Log).Order(StringComparer.Ordinal)) output.WriteLine(line);
        _data.Dispose();
    }
}
