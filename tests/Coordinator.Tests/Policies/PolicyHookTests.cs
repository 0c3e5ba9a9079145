using Replug.Coordinator.Policies;
using Replug.Coordinator.Tests.Support;
using Replug.Shared.Devices;

namespace Replug.Coordinator.Tests.Policies;

/// <summary>The orchestrator's hook, run as the coordinator runs it: a real command (a shell script), its environment and input.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PolicyHookTests
{
    /// <summary>The hooks here are shell scripts.</summary>
    private sealed class UnixFactAttribute : FactAttribute
    {
        public UnixFactAttribute()
        {
            if (!OperatingSystem.IsLinux()) Skip = "the test's hooks are shell scripts (Linux)";
        }
    }

    private static PolicyDecision Standby() => new(PowerSaver.Name, new PolicyAction.StandbyHost(new HostId("h7")), "empty for 40 min",
        PolicyDecision.Figures(("minutes empty", 41)));

    private static async Task<string> WaitForFile(string path)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!File.Exists(path) || new FileInfo(path).Length == 0)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{path} was not written");
            await Task.Delay(20);
        }
        return await File.ReadAllTextAsync(path);
    }

    [UnixFact]
    public async Task The_hook_gets_the_verdict_in_its_environment_and_as_JSON_on_its_input()
    {
        using var folder = new TempDirectory();
        var script = folder.Combine("hook.sh");
        var seen = folder.Combine("seen");
        await File.WriteAllTextAsync(script,
            $"#!/bin/sh\ncat > {seen}.json\nprintf '%s|%s|%s|%s|%s' \"$REPLUG_POLICY\" \"$REPLUG_MODE\" \"$REPLUG_ACTION\" \"$REPLUG_HOST\" \"$REPLUG_SUMMARY\" > {seen}.tmp\nmv {seen}.tmp {seen}\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var hook = new PolicyHook(script, Akka.Event.NoLogger.Instance);

        hook.Run(Standby(), PolicyMode.Auto);

        Assert.Equal("power-saving|auto|standby-host|h7|standby host h7", await WaitForFile(seen));
        var json = await File.ReadAllTextAsync(seen + ".json");
        Assert.Contains("\"kind\": \"standby-host\"", json);
        Assert.Contains("empty for 40 min", json);
        Assert.Equal(0, hook.Failures);
    }

    [UnixFact]
    public async Task A_failing_hook_is_counted_and_never_the_coordinators_failure()
    {
        using var folder = new TempDirectory();
        var script = folder.Combine("hook.sh");
        var ran = folder.Combine("ran");
        await File.WriteAllTextAsync(script, $"#!/bin/sh\necho ran > {ran}\necho 'orchestrator said no' >&2\nexit 3\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var hook = new PolicyHook(script, Akka.Event.NoLogger.Instance);

        hook.Run(Standby(), PolicyMode.Advise);
        await WaitForFile(ran);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (hook.Failures == 0 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.Equal(1, hook.Failures);
    }
}
