using System.Diagnostics;
using Replug.Agent.Ports;
using Replug.Shared.Devices;

namespace Replug.Agent.Tests.Ports;

/// <summary>CommandDataPath running real bash scripts from a temporary folder.</summary>
public sealed class CommandDataPathTests : IDisposable
{
    private static readonly PortId Port = new("web0");
    private readonly string _dir = Directory.CreateTempSubdirectory("command-data-path-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string ArgsFile => Path.Combine(_dir, "args");

    /// <summary>A script that writes each argument on its own line to the args file.</summary>
    private string Recorder(string name = "switch-port") =>
        Script(name, $"printf '%s\\n' \"$@\" > '{ArgsFile}'");

    [Fact]
    public async Task Switching_runs_the_command_with_port_previous_and_next_as_separate_arguments()
    {
        var path = new CommandDataPath($"{Recorder()} {{action}} --port={{port}} {{previous}} {{next}}");

        var result = await path.SwitchAsync(Port, DeviceId.Net("eth0"), DeviceId.Net("eth1"), CancellationToken.None);

        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal(["switch", "--port=web0", "eth0", "eth1"], File.ReadAllLines(ArgsFile));
    }

    [Fact]
    public async Task Switching_from_nothing_passes_a_dash_as_previous()
    {
        var path = new CommandDataPath($"{Recorder()} {{port}} {{previous}} {{next}}");

        await path.SwitchAsync(Port, null, DeviceId.Pci("0000:03:10.0"), CancellationToken.None);

        Assert.Equal(["web0", "-", "0000:03:10.0"], File.ReadAllLines(ArgsFile));
    }

    [Fact]
    public async Task Values_are_single_arguments_and_never_reach_a_shell()
    {
        var path = new CommandDataPath([Recorder(), "{port}", "{next}"]);

        await path.SwitchAsync(new PortId("web 0;$(touch pwned)"), null, DeviceId.Net("eth1"), CancellationToken.None);

        Assert.Equal(["web 0;$(touch pwned)", "eth1"], File.ReadAllLines(ArgsFile));
        Assert.False(File.Exists(Path.Combine(_dir, "pwned")));
    }

    [Fact]
    public async Task Deactivating_without_a_deactivate_command_runs_the_switch_command_towards_nothing()
    {
        var path = new CommandDataPath($"{Recorder()} {{port}} {{previous}} {{next}}");

        var result = await path.DeactivateAsync(Port, DeviceId.Net("eth1"), CancellationToken.None);

        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal(["web0", "eth1", "-"], File.ReadAllLines(ArgsFile));
    }

    [Fact]
    public async Task Deactivating_runs_the_deactivate_command_with_the_action_and_device()
    {
        var path = new CommandDataPath(
            $"{Script("unused", "exit 3")} {{port}}",
            deactivateCommand: $"{Recorder("detach-port")} {{action}} {{port}} {{device}}");

        var result = await path.DeactivateAsync(Port, DeviceId.Net("eth1"), CancellationToken.None);

        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal(["deactivate", "web0", "eth1"], File.ReadAllLines(ArgsFile));
    }

    [Fact]
    public async Task A_non_zero_exit_is_a_failure_with_the_exit_code_and_the_first_line_of_stderr()
    {
        var script = Script("failing", "echo 'some output'; echo '' >&2; echo 'bridge br7 does not exist' >&2; echo 'more detail' >&2; exit 3");
        var path = new CommandDataPath($"{script} {{port}}");

        var result = await path.SwitchAsync(Port, null, DeviceId.Net("eth1"), CancellationToken.None);

        Assert.False(result.Succeeded);
        Assert.Equal($"'{script}' exited with code 3: bridge br7 does not exist", result.Error);
    }

    [Fact]
    public async Task A_command_that_outlives_its_timeout_fails_with_timed_out_and_is_killed_with_its_children()
    {
        var pids = Path.Combine(_dir, "pids");
        var script = Script("hanging", $"sleep 60 & echo \"$$ $!\" > '{pids}'; wait");
        var path = new CommandDataPath($"{script} {{port}}", timeout: TimeSpan.FromMilliseconds(300));
        var clock = Stopwatch.StartNew();

        var result = await path.SwitchAsync(Port, null, DeviceId.Net("eth1"), CancellationToken.None);

        Assert.False(result.Succeeded);
        Assert.Equal($"'{script}' timed out after 300 ms and was killed", result.Error);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        foreach (var pid in File.ReadAllText(pids).Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse))
            Assert.True(await IsGoneAsync(pid), $"process {pid} still runs");
    }

    [Fact]
    public async Task The_callers_cancellation_kills_the_command_and_cancels()
    {
        var pids = Path.Combine(_dir, "pids");
        var script = Script("hanging", $"echo $$ > '{pids}'; exec sleep 60");
        var path = new CommandDataPath($"{script} {{port}}");
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => path.SwitchAsync(Port, null, DeviceId.Net("eth1"), cancel.Token));

        Assert.True(await IsGoneAsync(int.Parse(File.ReadAllText(pids))));
    }

    [Fact]
    public async Task A_program_that_cannot_be_started_is_a_failure_not_an_exception()
    {
        var path = new CommandDataPath(Path.Combine(_dir, "no-such-program") + " {port}");

        var result = await path.SwitchAsync(Port, null, DeviceId.Net("eth1"), CancellationToken.None);

        Assert.False(result.Succeeded);
        Assert.StartsWith("cannot start", result.Error);
    }

    [Fact]
    public async Task A_device_name_that_looks_like_an_option_is_refused()
    {
        var path = new CommandDataPath($"{Recorder()} {{next}}");

        var result = await path.SwitchAsync(Port, null, DeviceId.Net("--help"), CancellationToken.None);

        Assert.False(result.Succeeded);
        Assert.Contains("starts with '-'", result.Error);
        Assert.False(File.Exists(ArgsFile));
    }

    [Theory]
    [InlineData("/bin/true {slot}")]
    [InlineData("/bin/true --x={PORT}")]
    [InlineData("")]
    public void A_bad_command_is_refused_at_construction(string command)
    {
        Assert.Throws<ArgumentException>(() => new CommandDataPath(command));
    }

    [Fact]
    public void The_timeout_defaults_to_five_seconds()
    {
        Assert.Equal(TimeSpan.FromSeconds(5), new CommandDataPath("/bin/true").Timeout);
        Assert.Equal("command", new CommandDataPath("/bin/true").Kind);
    }

    private string Script(string name, string body)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, $"#!/bin/bash\n{body}\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    /// <summary>Gone, or a zombie waiting for a parent that is not us (the kernel has stopped it either way).</summary>
    private static async Task<bool> IsGoneAsync(int pid)
    {
        for (var i = 0; i < 40; i++)
        {
            string stat;
            try { stat = await File.ReadAllTextAsync($"/proc/{pid}/stat"); }
            catch (IOException) { return true; }
            var state = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
            if (state is "Z" or "X") return true;
            await Task.Delay(50);
        }
        return false;
    }
}
