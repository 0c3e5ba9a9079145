using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Replug.Ctl.Tests.Support;
using Replug.Harness;

namespace Replug.Ctl.Tests;

/// <summary>
/// The real replugctl executable against a real coordinator process with one real agent process
/// (<see cref="CoordinatorWithHost"/>): what it prints, as tables and as JSON, and the exit codes scripts rely on.
/// </summary>
[Collection(RealProcesses.Name)]
public sealed partial class ReplugctlTests(CoordinatorWithHost cluster) : IClassFixture<CoordinatorWithHost>
{
    private const string Host = CoordinatorWithHost.HostName;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private Task<ReplugctlResult> Replugctl(params string[] args) => Run(cluster.Environment(), args);

    private Task<ReplugctlResult> Run(Dictionary<string, string> environment, params string[] args) => RunIn(cluster.WorkingDirectory, environment, args);

    private static Task<ReplugctlResult> RunIn(string workingDirectory, Dictionary<string, string> environment, params string[] args) =>
        ReplugctlResult.RunAsync(workingDirectory, environment, Patience, args);

    private static JsonElement Json(ReplugctlResult result)
    {
        Assert.True(result.Code == 0, result.ToString());
        return JsonDocument.Parse(result.Out).RootElement;
    }

    [Fact]
    public async Task Hosts_are_a_table_with_the_registered_host_on_one_row()
    {
        var result = await Replugctl("hosts");

        Assert.True(result.Code == 0, result.ToString());
        Assert.Contains("HOST", result.Out);
        var row = Assert.Single(result.Out.Split('\n'), l => l.Contains(Host));
        Assert.Matches(@"│\s*ctl-host\s*│\s*Up\s*│\s*no\s*│\s*1\s*│", row);
    }

    [Fact]
    public async Task Hosts_with_json_are_the_API_s_JSON()
    {
        var hosts = Json(await Replugctl("hosts", "--json")).GetProperty("hosts");

        var host = Assert.Single(hosts.EnumerateArray(), h => h.GetProperty("host").GetString() == Host);
        Assert.Equal("Up", host.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Devices_of_one_host_list_its_NIC_in_the_table_and_in_JSON()
    {
        var table = await Replugctl("devices", "--host", Host);
        var json = Json(await Replugctl("devices", "--host", Host, "--json"));
        var none = Json(await Replugctl("devices", "--host", "no-such-host", "--json"));

        Assert.True(table.Code == 0, table.ToString());
        Assert.Matches(@"│\s*ctl-host\s*│\s*net/v1\s*│\s*PermanentMac:52:54:00:c7:00:07\s*│", table.Out);
        var device = Assert.Single(json.GetProperty("devices").EnumerateArray());
        Assert.Equal("net/v1", device.GetProperty("device").GetString());
        Assert.Empty(none.GetProperty("devices").EnumerateArray());
    }

    [Theory]
    [InlineData("nics", "nics")]
    [InlineData("ports", "ports")]
    [InlineData("failovers", "failovers")]
    [InlineData("events", "events")]
    [InlineData("decisions", "decisions")]
    [InlineData("operations", "operations")]
    [InlineData("policy get", "settings")]
    [InlineData("policy dry-run power-saving", "wouldDo")]
    public async Task Every_read_prints_a_table_and_with_json_the_API_s_JSON(string command, string property)
    {
        var table = await Replugctl(command.Split(' '));
        var json = Json(await Replugctl([.. command.Split(' '), "--json"]));

        Assert.True(table.Code == 0, table.ToString());
        Assert.StartsWith("╭", table.Out);
        Assert.True(json.TryGetProperty(property, out _), json.ToString());
    }

    [Fact]
    public async Task Detaching_a_device_the_host_does_not_have_is_exit_code_1_with_the_reason()
    {
        var result = await Replugctl("detach", Host, "eth9", "--reason", "card swap");

        Assert.True(result.Code == 1, result.ToString());
        Assert.Contains("net/eth9", result.Err);
    }

    [Fact]
    public async Task Drain_and_undrain_change_the_host_and_exit_0()
    {
        var drain = await Replugctl("drain", Host, "--json");
        var drained = Json(await Replugctl("hosts", "--json"));
        var undrain = await Replugctl("undrain", Host);
        var undrained = Json(await Replugctl("hosts", "--json"));

        Assert.True(JsonDocument.Parse(Json(drain).GetRawText()).RootElement.GetProperty("drained").GetBoolean());
        Assert.True(Drained(drained));
        Assert.True(undrain.Code == 0, undrain.ToString());
        Assert.Matches(@"│\s*drained\s*│\s*no\s*│", undrain.Out);
        Assert.False(Drained(undrained));

        static bool Drained(JsonElement hosts) =>
            hosts.GetProperty("hosts").EnumerateArray().Single(h => h.GetProperty("host").GetString() == Host).GetProperty("drained").GetBoolean();
    }

    [Fact]
    public async Task An_unknown_host_is_exit_code_1_with_the_API_s_reason_on_stderr()
    {
        var result = await Replugctl("drain", "no-such-host");
        var json = await Replugctl("drain", "no-such-host", "--json");

        Assert.True(result.Code == 1, result.ToString());
        Assert.Equal("", result.Out);
        Assert.Contains("replugctl: the API refused (404): unknown host no-such-host", result.Err);
        Assert.Equal(1, json.Code);
        Assert.Equal("unknown host no-such-host", JsonDocument.Parse(json.Err).RootElement.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Forgetting_an_unknown_host_or_one_that_is_up_is_exit_code_1_with_the_reason()
    {
        var unknown = await Replugctl("forget", "no-such-host");
        var up = await Replugctl("forget", Host);

        Assert.True(unknown.Code == 1, unknown.ToString());
        Assert.Contains("replugctl: the API refused (404): unknown host no-such-host", unknown.Err);
        Assert.True(up.Code == 1, up.ToString());
        Assert.Contains("replugctl: the API refused (409): ", up.Err);
        Assert.Equal("Up", Json(await Replugctl("hosts", "--json")).GetProperty("hosts").EnumerateArray()
            .Single(h => h.GetProperty("host").GetString() == Host).GetProperty("status").GetString());
    }

    [Fact]
    public async Task An_unreachable_API_is_exit_code_3_naming_the_URL()
    {
        var url = $"http://127.0.0.1:{FreePort()}";

        var result = await Run(new Dictionary<string, string> { ["REPLUG_URL"] = url }, "hosts");
        var flag = await Replugctl("--url", url, "events", "--follow");

        Assert.True(result.Code == 3, result.ToString());
        Assert.Contains($"cannot reach {url}/", result.Err);
        Assert.True(flag.Code == 3, flag.ToString());
        Assert.Contains(url, flag.Err);
    }

    [Theory]
    [InlineData]
    [InlineData("bogus")]
    [InlineData("drain")]
    [InlineData("hosts", "--bogus")]
    [InlineData("policy", "set", "turbo", "--mode", "Auto")]
    [InlineData("policy", "set", "power-saving", "--mode", "Sometimes")]
    [InlineData("policy", "set", "power-saving")]
    [InlineData("migrate", "announce", "Mac:52:54:00:00:00:01", "--to", "ctl-host")]
    [InlineData("--token-file", "/nonexistent/token", "hosts")]
    [InlineData("--url", "ftp://example", "hosts")]
    public async Task Bad_usage_is_exit_code_2_with_the_problem_on_stderr(params string[] args)
    {
        var result = await Replugctl(args);

        Assert.True(result.Code == 2, result.ToString());
        Assert.Equal("", result.Out);
        Assert.StartsWith("replugctl: ", result.Err);
    }

    [Fact]
    public async Task Help_documents_the_commands_and_the_exit_codes()
    {
        var result = await Replugctl("--help");

        Assert.True(result.Code == 0, result.ToString());
        foreach (var command in new[] { "hosts", "devices", "failovers", "events", "drain", "forget", "detach", "policy", "migrate" })
            Assert.Contains($"  {command}", result.Out);
        Assert.Contains("Exit codes: 0 ok; 1 the API refused", result.Out);
        Assert.Contains("5 server error", result.Out);
    }

    [Fact]
    public async Task A_wrong_token_or_none_is_exit_code_4_with_what_to_do()
    {
        var url = new Dictionary<string, string> { ["REPLUG_URL"] = cluster.Url.ToString() };

        var wrong = await Run(new(url) { ["REPLUG_TOKEN"] = "not-the-token" }, "hosts");
        var none = await Run(url, "hosts");

        Assert.True(wrong.Code == 4, wrong.ToString());
        Assert.Contains("replugctl: unauthorized (401): ", wrong.Err);
        Assert.True(none.Code == 4, none.ToString());
        Assert.Contains("give the API's token: REPLUG_TOKEN, --token-file or REPLUG_TOKEN_FILE", none.Err);
    }

    [Fact]
    public async Task Run_where_the_coordinator_keeps_its_data_it_finds_the_generated_token_by_itself()
    {
        // As an operator in the coordinator's folder: ./data/api-token is the token the coordinator generated.
        var folder = Directory.CreateDirectory(Path.Combine(cluster.WorkingDirectory, "operator"));
        Directory.CreateDirectory(Path.Combine(folder.FullName, "data"));
        File.Copy(cluster.TokenFile, Path.Combine(folder.FullName, "data", "api-token"), overwrite: true);

        var result = await RunIn(folder.FullName, new Dictionary<string, string> { ["REPLUG_URL"] = cluster.Url.ToString() }, "hosts", "--json");

        Assert.True(result.Code == 0, result.ToString());
    }

    [Fact]
    public async Task Events_follow_prints_a_drain_as_it_happens_and_stops_on_ctrl_c_with_exit_code_0()
    {
        using var table = RunningProgram.Start(Executables.Replugctl, ["events", "--follow"], cluster.WorkingDirectory, cluster.Environment());
        using var json = RunningProgram.Start(Executables.Replugctl, ["events", "--follow", "--json"], cluster.WorkingDirectory, cluster.Environment());
        await table.WaitFor(Following(), Patience, "the stream to open");
        await json.WaitFor(Following(), Patience, "the stream to open");

        using var drain = await cluster.Http.PostAsync($"/hosts/{Host}/drain", null);
        Assert.Equal(HttpStatusCode.OK, drain.StatusCode);
        var line = await table.WaitFor(DrainedLine(), Patience, "the drain's event line");
        var jsonLine = await json.WaitFor(new Regex("^{.*\"type\":\"HostDrainChanged\".*}$"), Patience, "the drain's JSON line");
        using var undrain = await cluster.Http.PostAsync($"/hosts/{Host}/undrain", null);

        Assert.Matches(@"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ  #\d+  HostDrainChanged  Host=ctl-host, Drained=true", line.Value);
        var data = JsonDocument.Parse(jsonLine.Value).RootElement;
        Assert.Contains("Host=ctl-host", data.GetProperty("summary").GetString());
        Assert.True(data.GetProperty("sequence").GetInt64() > 0);
        Assert.Equal(0, await table.Signal("INT", Patience));
        Assert.Equal(0, await json.Signal("INT", Patience));
    }

    [Fact]
    public async Task Failovers_follow_prints_only_fail_over_events()
    {
        using var follow = RunningProgram.Start(Executables.Replugctl, ["failovers", "--follow"], cluster.WorkingDirectory, cluster.Environment());
        using var events = RunningProgram.Start(Executables.Replugctl, ["events", "--follow"], cluster.WorkingDirectory, cluster.Environment());
        await follow.WaitFor(Following(), Patience, "the stream to open");
        await events.WaitFor(Following(), Patience, "the stream to open");

        using var drain = await cluster.Http.PostAsync($"/hosts/{Host}/drain", null);
        using var undrain = await cluster.Http.PostAsync($"/hosts/{Host}/undrain", null);
        // Both streams read the same events in order: once the other has the undrain, so has this one.
        await events.WaitFor(new Regex("HostDrainChanged  Host=ctl-host, Drained=false"), Patience, "the undrain's event line");
        Assert.Equal(0, await follow.Signal("INT", Patience));
        await events.Signal("INT", Patience);

        Assert.DoesNotContain(follow.Stdout, l => l.Contains("HostDrainChanged"));
    }

    [GeneratedRegex(@"^replugctl: following http://")]
    private static partial Regex Following();

    [GeneratedRegex(@".*HostDrainChanged  Host=ctl-host, Drained=true.*")]
    private static partial Regex DrainedLine();

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
