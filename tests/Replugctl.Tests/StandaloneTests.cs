using System.Runtime.InteropServices;
using System.Text.Json;
using Replug.Agent.Tests.Support;
using Replug.Ctl.Tests.Support;
using Replug.Harness;

namespace Replug.Ctl.Tests;

/// <summary>
/// replugctl against a real standalone node (<c>src/Coordinator --standalone</c>: agent, coordinator and
/// API in one process, as the README's first command runs it), with a fake sysfs and no kernel events so
/// what it lists is known: tables, JSON, and the token the node made for itself.
/// </summary>
[Collection(RealProcesses.Name)]
public sealed class StandaloneTests : IDisposable
{
    private const string Host = "ctl-standalone";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("replugctl-standalone-");
    private readonly FakeSysfs _sysfs = new();

    [StandaloneFact]
    public async Task Against_a_standalone_node_hosts_and_devices_are_tables_and_JSON_with_its_host_and_NIC()
    {
        _sysfs.AddNet("v1", 7, mac: "52:54:00:c7:00:17");
        var nothing = Path.Combine(_work.FullName, "no-events.txt");
        await File.WriteAllTextAsync(nothing, "");
        using var node = RunningProgram.Start(Executables.Coordinator,
            ["--standalone", "--replay", nothing, "--sysfs", _sysfs.Root, "--host", Host, "--Replug:Agent:Subsystems:0=net",
             "--Replug:Cluster:Port=0", "--Replug:Coordinator:ApiUrls=http://127.0.0.1:0"],
            _work.FullName);
        var url = (await node.WaitFor(CoordinatorWithHost.ListeningOn(), Patience, "the node's API address")).Groups[1].Value;
        // Run where the node keeps ./data: replugctl finds the token the node made there by itself.
        var environment = new Dictionary<string, string> { ["REPLUG_URL"] = url };

        var deadline = DateTime.UtcNow + Patience;
        JsonElement host;
        while (true)
        {
            var hosts = await Replugctl(environment, "hosts", "--json");
            if (hosts.Code == 0 && JsonDocument.Parse(hosts.Out).RootElement.GetProperty("hosts").EnumerateArray()
                    .FirstOrDefault(h => h.GetProperty("host").GetString() == Host) is { ValueKind: JsonValueKind.Object } found)
            {
                host = found;
                break;
            }
            Assert.True(DateTime.UtcNow < deadline, $"{Host} never listed: {hosts}\nnode:\n{node.Everything}");
            await Task.Delay(300);
        }
        var table = await Replugctl(environment, "hosts");
        var devices = await Replugctl(environment, "devices", "--host", Host);
        var devicesJson = await Replugctl(environment, "devices", "--host", Host, "--json");

        Assert.Equal("Up", host.GetProperty("status").GetString());
        Assert.True(table.Code == 0, table.ToString());
        Assert.Matches(@"│\s*ctl-standalone\s*│\s*Up\s*│", table.Out);
        Assert.True(devices.Code == 0, devices.ToString());
        Assert.Matches(@"│\s*ctl-standalone\s*│\s*net/v1\s*│\s*PermanentMac:52:54:00:c7:00:17\s*│", devices.Out);
        var device = Assert.Single(JsonDocument.Parse(devicesJson.Out).RootElement.GetProperty("devices").EnumerateArray());
        Assert.Equal("net/v1", device.GetProperty("device").GetString());
        Assert.Equal(0, await node.Signal("TERM", Patience));
    }

    private Task<ReplugctlResult> Replugctl(Dictionary<string, string> environment, params string[] args) =>
        ReplugctlResult.RunAsync(_work.FullName, environment, Patience, args);

    public void Dispose()
    {
        _sysfs.Dispose();
        _work.Delete(recursive: true);
    }

    /// <summary>A standalone node installs its kernel fence (nftables): root on Linux.</summary>
    private sealed class StandaloneFactAttribute : FactAttribute
    {
        public StandaloneFactAttribute()
        {
            if (!OperatingSystem.IsLinux()) Skip = "needs Linux (a standalone node's kernel fence is nftables)";
            else if (geteuid() != 0) Skip = "needs root (a standalone node installs its kernel fence with nftables)";
        }

        [DllImport("libc")]
        private static extern uint geteuid();
    }
}
