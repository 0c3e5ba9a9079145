using System.Diagnostics;
using Replug.Agent.Hosting;
using Replug.Agent.Tests.Support;

namespace Replug.Agent.Tests.Hosting;

/// <summary>The agent executable as an operator runs it: configuration errors, replay, cluster mode, clean shutdown.</summary>
public sealed class AgentExecutableTests : IDisposable
{
    private readonly FakeSysfs _sysfs = new();

    /// <summary>The agent executable; without its HTTP listener unless <paramref name="args"/> sets one (tests run agents side by side).</summary>
    internal static Process Start(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "replug-agent.dll"));
        if (!args.Any(a => a.StartsWith($"--{AgentOptions.Section}:HttpUrls", StringComparison.Ordinal)))
            psi.ArgumentList.Add($"--{AgentOptions.Section}:HttpUrls=");
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_ENVIRONMENT"] = "Production";
        return Process.Start(psi)!;
    }

    [Fact]
    public async Task Bad_configuration_fails_at_start_with_the_key_named_and_exit_code_2()
    {
        using var agent = Start("--sysfs", _sysfs.Root, "--Replug:Agent:Steps:Retries=-3");
        var stderr = await agent.StandardError.ReadToEndAsync();
        Assert.True(agent.WaitForExit(60_000), "the agent did not exit");
        Assert.Equal(2, agent.ExitCode);
        Assert.Contains("Replug:Agent:Steps:Retries", stderr);
    }

    /// <summary>Runs the agent until its replay has no more events, then sends SIGTERM; its exit code, stdout and stderr.</summary>
    private static async Task<(int ExitCode, string Log, string Stderr)> ReplayThenTerminate(params string[] args)
    {
        using var agent = Start(args);
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var replayDone = new TaskCompletionSource();
        agent.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            output.Enqueue(e.Data);
            if (e.Data.Contains("no more events")) replayDone.TrySetResult();
        };
        agent.BeginOutputReadLine();
        var stderr = agent.StandardError.ReadToEndAsync();

        await replayDone.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Shell.Run("kill", $"-TERM {agent.Id}");
        Assert.True(agent.WaitForExit(30_000), "the agent did not stop on SIGTERM");
        agent.WaitForExit();
        return (agent.ExitCode, string.Join("\n", output), await stderr);
    }

    [Fact]
    public async Task A_replayed_capture_drives_the_devices_and_SIGTERM_stops_the_agent_cleanly()
    {
        if (!OperatingSystem.IsLinux()) return; // SIGTERM via kill(1)
        _sysfs.AddNet("vb0", 5);
        var capture = Path.Combine(AppContext.BaseDirectory, "Sources", "Fixtures", "kernel-veth.bin");
        var (exitCode, log, stderr) = await ReplayThenTerminate("--replay", capture, "--sysfs", _sysfs.Root, "--Replug:Agent:Subsystems:0=net");

        Assert.Equal(0, exitCode);
        Assert.Contains("replay", log);
        Assert.Contains("Device net/", log);
        Assert.Contains("Replay counters", log);
        Assert.DoesNotContain("Exception", stderr);
    }

    [Theory]
    [InlineData("--Replug:Cluster:SeedNodes:0=127.0.0.1:4053", "Replug:Cluster:SeedNodes:0: '127.0.0.1:4053' is not an address like akka.tcp://replug@host:port")]
    [InlineData("--Replug:Cluster:Port=-1", "Replug:Cluster:Port: -1 is not a TCP port")]
    [InlineData("--Replug:Clustr:Port=4054", "Replug:Clustr: not a section this program reads")]
    [InlineData("--Replug:Cluster:SeedNode:0=akka.tcp://replug@127.0.0.1:4053", "SeedNode")]
    [InlineData("--Replug:Cluster:Hostname=not..a..host", "Replug:Cluster:Hostname: 'not..a..host' is not an IP address or a host name")]
    [InlineData("--Logging:LogLevel:Default=Verbose", "Logging:LogLevel:Default: 'Verbose' is not a log level")]
    [InlineData("--replay", "--replay needs a value (--replay VALUE or --replay=VALUE)")]
    [InlineData("--Replug:Agent:HistorySize=-5", "Replug:Agent:HistorySize: must be positive")]
    [InlineData("--Replug:Cluster:Tls:Certificate=/nonexistent/agent.crt", "Replug:Cluster:Tls:Key: required with Certificate and Authority")]
    [InlineData("--Replug:Cluster:SeedNodes:0=akka.ssl.tcp://replug@127.0.0.1:4053", "Replug:Cluster:SeedNodes:0: 'akka.ssl.tcp://replug@127.0.0.1:4053' must start with akka.tcp://")]
    [InlineData("--standalone", "'--standalone' is not an option (--replay, --capture, --sysfs, --netns, --host)")]
    public async Task A_bad_cluster_setting_or_argument_fails_at_start_with_the_key_named_and_exit_code_2(string setting, string problem)
    {
        using var agent = Start("--sysfs", _sysfs.Root, setting);
        var stderr = await agent.StandardError.ReadToEndAsync();
        Assert.True(agent.WaitForExit(60_000), "the agent did not exit");
        Assert.Equal(2, agent.ExitCode);
        Assert.Contains(problem, stderr);
    }

    [Fact]
    public async Task With_seed_nodes_the_agent_runs_as_a_cluster_member_and_SIGTERM_stops_it_cleanly()
    {
        if (!OperatingSystem.IsLinux()) return; // SIGTERM via kill(1)
        _sysfs.AddNet("vb0", 5);
        var capture = Path.Combine(AppContext.BaseDirectory, "Sources", "Fixtures", "kernel-veth.bin");
        // A seed nobody listens on: the agent keeps trying to join, and still hears its devices (its ports stay fenced).
        var (exitCode, log, stderr) = await ReplayThenTerminate("--replay", capture, "--sysfs", _sysfs.Root, "--Replug:Agent:Subsystems:0=net",
            "--Replug:Cluster:SeedNodes:0=akka.tcp://replug@127.0.0.1:9", "--Replug:Cluster:Port=0");

        Assert.Equal(0, exitCode);
        Assert.Contains("Cluster Node [akka.tcp://replug@127.0.0.1:", log);
        Assert.Contains("Device net/", log);
        Assert.Contains("Host agent", log);
        Assert.DoesNotContain("Exception", stderr);
    }

    [Fact]
    public async Task A_cluster_port_already_taken_stops_the_agent_with_the_setting_named_and_exit_code_1()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        var capture = Path.Combine(AppContext.BaseDirectory, "Sources", "Fixtures", "kernel-veth.bin");

        using var agent = Start("--replay", capture, "--sysfs", _sysfs.Root,
            "--Replug:Cluster:SeedNodes:0=akka.tcp://replug@127.0.0.1:9", $"--Replug:Cluster:Port={port}");
        var stderr = await agent.StandardError.ReadToEndAsync();
        Assert.True(agent.WaitForExit(60_000), "the agent did not exit");

        Assert.Equal(1, agent.ExitCode);
        Assert.Contains($"replug-agent: Failed to bind to [127.0.0.1:{port}]: address already in use (another Replug running? set Replug:Cluster:Port, Replug:Agent:HttpUrls)", stderr);
    }

    [Fact]
    public async Task A_cluster_port_another_node_listens_on_stops_the_agent_with_the_setting_named_and_exit_code_1()
    {
        // Another node's listener, as Akka's DotNetty transport opens it: ReuseAddress, which .NET
        // on Linux makes SO_REUSEADDR and SO_REUSEPORT, so a second such listener would bind too.
        using var other = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork,
            System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        other.SetSocketOption(System.Net.Sockets.SocketOptionLevel.Socket, System.Net.Sockets.SocketOptionName.ReuseAddress, true);
        other.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        other.Listen();
        var port = ((System.Net.IPEndPoint)other.LocalEndPoint!).Port;
        var capture = Path.Combine(AppContext.BaseDirectory, "Sources", "Fixtures", "kernel-veth.bin");

        using var agent = Start("--replay", capture, "--sysfs", _sysfs.Root,
            "--Replug:Cluster:SeedNodes:0=akka.tcp://replug@127.0.0.1:9", $"--Replug:Cluster:Port={port}");
        string stderr;
        try
        {
            Assert.True(agent.WaitForExit(60_000), "the agent did not exit: it shares the port with the other node");
            stderr = await agent.StandardError.ReadToEndAsync();
        }
        finally
        {
            if (!agent.HasExited) agent.Kill(entireProcessTree: true);
        }

        Assert.Equal(1, agent.ExitCode);
        Assert.Contains($"replug-agent: Failed to bind to [127.0.0.1:{port}]: address already in use (another Replug running? set Replug:Cluster:Port, Replug:Agent:HttpUrls)", stderr);
    }

    [Fact]
    public void An_address_in_use_is_found_inside_the_hosts_nested_exceptions()
    {
        var bind = new Exception("Failed to bind to [127.0.0.1:4053]. See InnerException for details.",
            new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.AddressAlreadyInUse));
        var nested = new AggregateException(new AggregateException(bind));

        Assert.Equal("Failed to bind to [127.0.0.1:4053]", AgentHost.AddressInUse(nested));
        Assert.Null(AgentHost.AddressInUse(new AggregateException(new InvalidOperationException("Failed to bind: no reason"))));
    }

    public void Dispose() => _sysfs.Dispose();
}
