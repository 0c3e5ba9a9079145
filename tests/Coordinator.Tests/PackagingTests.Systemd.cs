using System.Text.RegularExpressions;
using Replug.Coordinator.Tests.Support;

namespace Replug.Coordinator.Tests;

/// <summary>
/// deploy/systemd's units as systemd reads them: <c>systemd-analyze verify</c> (which needs the
/// programs they start: the units are checked as copies whose /opt/replug points at a temp folder
/// holding executables by those names), the capability names, and the settings the programs rely on.
/// </summary>
public sealed partial class PackagingTests
{
    private static readonly string[] Units = ["replug-agent.service", "replug-coordinator.service"];

    private static string Unit(string name) => File.ReadAllText(Path.Combine(RepositoryRoot(), "deploy", "systemd", name));

    /// <summary>Every value of <paramref name="key"/> in a unit's text, in order.</summary>
    private static List<string> Values(string unit, string key) =>
        [.. unit.Split('\n').Where(l => l.StartsWith(key + "=", StringComparison.Ordinal)).Select(l => l[(key.Length + 1)..].Trim())];

    private static Task<(int Exit, string Output)> RunProgram(string program, params string[] args) => ExternalProgram.RunAsync(program, args);

    [SystemdAnalyzeFact]
    public async Task Systemd_verifies_both_units_without_a_complaint()
    {
        using var root = new TempDirectory();
        var units = new List<string>();
        foreach (var name in Units)
        {
            var text = Unit(name);
            var program = Assert.Single(Values(text, "ExecStart"));
            Assert.StartsWith("/opt/replug/", program);
            // The program the unit starts, where the copy looks for it: verify checks it is an executable file.
            var standIn = root.Combine(program.TrimStart('/'));
            Directory.CreateDirectory(Path.GetDirectoryName(standIn)!);
            File.Copy("/bin/true", standIn);
            var copy = root.Combine(name);
            File.WriteAllText(copy, text.Replace("/opt/replug/", root.Combine("opt", "replug") + "/"));
            units.Add(copy);
        }

        var (exit, output) = await RunProgram("systemd-analyze", ["verify", .. units]);

        Assert.True(exit == 0 && output.Length == 0, $"systemd-analyze verify (exit {exit}):\n{output}");
    }

    [SystemdAnalyzeFact]
    public async Task Every_capability_the_units_name_is_one_systemd_knows()
    {
        var (exit, known) = await RunProgram("systemd-analyze", "capability");
        Assert.Equal(0, exit);
        var names = new HashSet<string>(Regex.Matches(known, @"^(cap_\w+)", RegexOptions.Multiline).Select(m => m.Groups[1].Value.ToUpperInvariant()));
        Assert.Contains("CAP_NET_ADMIN", names);

        foreach (var name in Units)
            foreach (var key in new[] { "CapabilityBoundingSet", "AmbientCapabilities" })
                foreach (var capability in Values(Unit(name), key).SelectMany(v => v.Split(' ', StringSplitOptions.RemoveEmptyEntries)))
                    Assert.True(names.Contains(capability), $"{name}: {key}= names {capability}, which systemd does not know");
    }

    [Fact]
    public void Both_units_are_notify_services_with_a_watchdog_and_restart_always()
    {
        foreach (var name in Units)
        {
            var unit = Unit(name);
            Assert.Equal(["notify"], Values(unit, "Type"));
            Assert.Equal(["always"], Values(unit, "Restart"));
            // SystemdWatchdog pings at half of it: an interval too short for a loaded host's GC pause is a restart loop.
            var watchdog = Assert.Single(Values(unit, "WatchdogSec"));
            Assert.Matches(@"^\d+s$", watchdog);
            Assert.InRange(int.Parse(watchdog[..^1]), 5, 60);
            // .NET's JIT writes the code it runs.
            Assert.Empty(Values(unit, "MemoryDenyWriteExecute"));
        }
    }

    [Fact]
    public void The_agent_is_root_with_only_CAP_NET_ADMIN_and_fences_its_ports_when_it_stops()
    {
        var unit = Unit("replug-agent.service");

        Assert.Equal(["root"], Values(unit, "User"));
        Assert.Equal(["CAP_NET_ADMIN"], Values(unit, "CapabilityBoundingSet"));
        Assert.Equal(["yes"], Values(unit, "NoNewPrivileges"));
        Assert.Equal(["strict"], Values(unit, "ProtectSystem"));
        // It writes /sys (driver binding, MTU, link flags).
        Assert.Empty(Values(unit, "ProtectKernelTunables"));
        // The fence's table and set, as the agent installs them by default.
        Assert.Equal([$"-/usr/sbin/nft flush set bridge {Replug.Agent.Ports.NftablesLease.DefaultTable} leased"], Values(unit, "ExecStopPost"));
    }

    [Fact]
    public void The_coordinator_is_a_dynamic_user_with_no_capabilities_keeping_its_data_in_its_state_directory()
    {
        var unit = Unit("replug-coordinator.service");

        Assert.Equal(["yes"], Values(unit, "DynamicUser"));
        Assert.Equal([""], Values(unit, "CapabilityBoundingSet"));
        Assert.Equal([""], Values(unit, "AmbientCapabilities"));
        Assert.Equal(["replug"], Values(unit, "StateDirectory"));
        Assert.Equal(["Replug__Coordinator__Persistence__DataDirectory=/var/lib/replug"], Values(unit, "Environment"));
    }
}

/// <summary>A fact that needs systemd-analyze (Debian's systemd package), and says so when it skips.</summary>
public sealed class SystemdAnalyzeFactAttribute : FactAttribute
{
    public SystemdAnalyzeFactAttribute()
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries);
        if (!path.Any(dir => File.Exists(Path.Combine(dir, "systemd-analyze"))))
            Skip = "systemd-analyze is not installed (Debian's systemd package): the units were not verified";
    }
}
