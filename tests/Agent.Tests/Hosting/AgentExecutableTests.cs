using System.Diagnostics;
using Replug.Agent.Tests.Support;

namespace Replug.Agent.Tests.Hosting;

/// <summary>The agent executable as an operator runs it: configuration errors, replay, clean shutdown.</summary>
public sealed class AgentExecutableTests : IDisposable
{
    private readonly FakeSysfs _sysfs = new();

    private static Process Start(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "replug-agent.dll"));
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

    [Fact]
    public async Task A_replayed_capture_drives_the_devices_and_SIGTERM_stops_the_agent_cleanly()
    {
        if (!OperatingSystem.IsLinux()) return; // SIGTERM via kill(1)
        _sysfs.AddNet("vb0", 5);
        var capture = Path.Combine(AppContext.BaseDirectory, "Sources", "Fixtures", "kernel-veth.bin");
        using var agent = Start("--replay", capture, "--sysfs", _sysfs.Root, "--Replug:Agent:Subsystems:0=net");
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

        Assert.Equal(0, agent.ExitCode);
        var log = string.Join("\n", output);
        Assert.Contains("replay", log);
        Assert.Contains("Device net/", log);
        Assert.Contains("Replay counters", log);
        Assert.DoesNotContain("Exception", await stderr);
    }

    public void Dispose() => _sysfs.Dispose();
}
