using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Replug.Agent.Tests.Hosting;
using Replug.Agent.Tests.Support;

namespace Replug.Agent.Tests.Observability;

/// <summary>The agent executable's /metrics and /health/* after real kernel events: a veth pair made and deleted in a namespace.</summary>
public sealed partial class AgentMetricsEndpointTests : IDisposable
{
    private readonly TestNetworkNamespace _host = new("rpm");

    [KernelFact]
    public async Task After_a_veth_pair_comes_and_goes_metrics_count_its_uevents_and_device_states_and_the_agent_is_ready()
    {
        using var agent = AgentExecutableTests.Start("--netns", _host.Name, "--sysfs", _host.SysfsRoot,
            "--Replug:Agent:Subsystems:0=net", "--Replug:Agent:HttpUrls=http://127.0.0.1:0");
        try
        {
            using var http = new HttpClient { BaseAddress = await ListeningAddress(agent), Timeout = TimeSpan.FromSeconds(10) };
            await Until(async () => (await http.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK, "the agent ready");
            var before = Parse(await http.GetStringAsync("/metrics"));

            _host.Ip("link add obs0 type veth peer name obs1");
            await Until(async () => Value(await http.GetStringAsync("/metrics"), "replug_agent_devices{state=\"Active\"}")
                == before["replug_agent_devices{state=\"Active\"}"] + 2, "both veths Active");
            _host.Ip("link del obs0");
            await Until(async () => Value(await http.GetStringAsync("/metrics"), "replug_agent_devices{state=\"Active\"}")
                == before["replug_agent_devices{state=\"Active\"}"], "both veths gone");

            var after = Parse(await http.GetStringAsync("/metrics"));
            // Each of the two interfaces was added and removed: at least four uevents heard from the kernel, none forged.
            Assert.True(after["replug_agent_uevents_received"] >= before["replug_agent_uevents_received"] + 4,
                $"received {before["replug_agent_uevents_received"]} -> {after["replug_agent_uevents_received"]}");
            // Forged messages are counted (other tests forge some while this one runs): the series exists.
            Assert.True(after.ContainsKey("replug_agent_uevents_forged"));
            Assert.Equal(0, after["replug_agent_uevents_overflows"]);
            Assert.Equal(1, after["replug_agent_uevents_resyncs"]); // the scan at start
            Assert.Equal(0, after["replug_agent_devices{state=\"Faulted\"}"]);

            using var ready = await http.GetAsync("/health/ready");
            var body = JsonDocument.Parse(await ready.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            Assert.Equal("ready", body.GetProperty("status").GetString());
            Assert.Equal("Healthy", body.GetProperty("checks").GetProperty("uevent-source").GetProperty("status").GetString());
            using var live = await http.GetAsync("/health/live");
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        }
        finally
        {
            if (!agent.HasExited) agent.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task An_http_url_by_host_name_stops_the_agent_with_the_key_named_and_exit_code_2()
    {
        using var sysfs = new FakeSysfs();
        using var agent = AgentExecutableTests.Start("--sysfs", sysfs.Root, "--Replug:Agent:HttpUrls=http://metrics.example:9464");
        var stderr = await agent.StandardError.ReadToEndAsync();
        Assert.True(agent.WaitForExit(60_000), "the agent did not exit");
        Assert.Equal(2, agent.ExitCode);
        Assert.Contains("Replug:Agent:HttpUrls: 'http://metrics.example:9464': give an IP address (or localhost)", stderr);
    }

    private static async Task<Uri> ListeningAddress(Process agent)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            var line = await agent.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            if (line is null) break;
            if (Listening().Match(line) is { Success: true } m) return new Uri(m.Groups[1].Value);
        }
        throw new TimeoutException($"the agent did not say where it listens; stderr: {await agent.StandardError.ReadToEndAsync()}");
    }

    /// <summary>Every sample of Prometheus' text format by its name and labels.</summary>
    internal static Dictionary<string, double> Parse(string text) =>
        text.Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => (Key: l[..l.LastIndexOf(' ')], Value: double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture)))
            .ToDictionary(s => s.Key, s => s.Value);

    private static double Value(string text, string sample) => Parse(text).GetValueOrDefault(sample, double.NaN);

    private static async Task Until(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }

    [GeneratedRegex(@"listening on (http://[0-9.]+:\d+)")]
    private static partial Regex Listening();

    public void Dispose() => _host.Dispose();
}
