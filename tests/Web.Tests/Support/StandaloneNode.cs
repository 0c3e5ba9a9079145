using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Replug.Agent.Tests.Support;
using Replug.Ctl.Tests.Support;
using Replug.Harness;

namespace Replug.Web.Tests.Support;

/// <summary>
/// A real standalone node (<c>src/Coordinator --standalone</c>: agent, coordinator and API in one
/// process) on the real kernel, in a fresh network namespace as host <see cref="HostName"/>: port
/// <c>uplink</c> is bridge br0 over veths v1 (preferred) and v2, port <c>spare</c> bridge br1 over
/// v3 and v4 (the one a test may break). Two tokens: <see cref="WriteToken"/> and a
/// <see cref="ReadToken"/>. Shared by a test class; removed, namespace and all, at its end.
/// </summary>
public sealed class StandaloneNode : IAsyncLifetime
{
    public const string HostName = "web-host";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("replug-web-");
    private TestNetworkNamespace? _namespace;
    private RunningProgram? _node;

    public TestNetworkNamespace Namespace => _namespace!;
    public Uri Url { get; private set; } = null!;
    public string WriteToken { get; } = "web-tests-write-" + Guid.NewGuid().ToString("N");
    public string ReadToken { get; } = "web-tests-read-" + Guid.NewGuid().ToString("N");
    /// <summary>A client with the write token.</summary>
    public HttpClient Http { get; private set; } = null!;
    public string Log => _node?.Everything ?? "";

    public async Task InitializeAsync()
    {
        if (BrowserRequirements.MissingReason() is not null) return; // the facts skip
        _namespace = new TestNetworkNamespace("rpw");
        foreach (var (bridge, devices) in new[] { ("br0", new[] { "v1", "v2" }), ("br1", ["v3", "v4"]) })
        {
            _namespace.Ip($"link add {bridge} type bridge");
            _namespace.Ip($"link set {bridge} up");
            foreach (var device in devices)
            {
                // Peers up, so each member's link is up: a healthy standby, not a dead one.
                _namespace.Ip($"link add {device} type veth peer name {device}p");
                _namespace.Ip($"link set {device}p up");
                _namespace.Ip($"link set {device} up");
            }
        }
        var writeFile = Path.Combine(_work.FullName, "write.token");
        var readFile = Path.Combine(_work.FullName, "read.token");
        await File.WriteAllTextAsync(writeFile, WriteToken);
        await File.WriteAllTextAsync(readFile, ReadToken);
        _node = RunningProgram.Start(Executables.Coordinator,
        [
            "--standalone", "--netns", _namespace.Name, "--sysfs", _namespace.SysfsRoot, "--host", HostName,
            "--Replug:Agent:Subsystems:0=net", "--Replug:Cluster:Port=0", "--Replug:Coordinator:ApiUrls=http://127.0.0.1:0",
            "--Replug:Agent:Ports:0:Name=uplink", "--Replug:Agent:Ports:0:Devices:0=net/v1", "--Replug:Agent:Ports:0:Devices:1=net/v2",
            "--Replug:Agent:Ports:0:DataPath:Bridge=br0",
            "--Replug:Agent:Ports:1:Name=spare", "--Replug:Agent:Ports:1:Devices:0=net/v3", "--Replug:Agent:Ports:1:Devices:1=net/v4",
            "--Replug:Agent:Ports:1:DataPath:Bridge=br1",
            "--Replug:Coordinator:Api:Tokens:0:Name=operator", "--Replug:Coordinator:Api:Tokens:0:Scope=Write", $"--Replug:Coordinator:Api:Tokens:0:File={writeFile}",
            "--Replug:Coordinator:Api:Tokens:1:Name=viewer", "--Replug:Coordinator:Api:Tokens:1:Scope=Read", $"--Replug:Coordinator:Api:Tokens:1:File={readFile}",
        ], _work.FullName);
        Url = new Uri((await _node.WaitFor(CoordinatorWithHost.ListeningOn(), Patience, "the node's API address")).Groups[1].Value);
        Http = new HttpClient { BaseAddress = Url, Timeout = TimeSpan.FromSeconds(10) };
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", WriteToken);
        await Until(async () => (await Port("uplink")) is { } uplink && uplink.GetProperty("forwarding").GetBoolean()
            && (await Port("spare")) is { } spare && spare.GetProperty("forwarding").GetBoolean(), "uplink and spare forwarding on " + HostName);
    }

    /// <summary>The port as <c>GET /ports</c> shows it, or null.</summary>
    public async Task<JsonElement?> Port(string name)
    {
        using var response = await Http.GetAsync("/ports");
        if (response.StatusCode != HttpStatusCode.OK) return null;
        var ports = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("ports");
        return ports.EnumerateArray().Where(p => p.GetProperty("spec").GetProperty("port").GetString() == name).Select(p => (JsonElement?)p).FirstOrDefault();
    }

    /// <summary>The host as <c>GET /hosts/{host}</c> shows it.</summary>
    public Task<JsonElement> Host() => Get($"/hosts/{HostName}");

    /// <summary>The API's answer to <c>GET path</c> with the write token; throws unless it is a 200.</summary>
    public async Task<JsonElement> Get(string path)
    {
        using var response = await Http.GetAsync(path);
        response.EnsureSuccessStatusCode();
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    public async Task Until(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            try { if (await condition()) return; }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"no {what} within {Patience.TotalSeconds:0} s\nnode:\n{Log}");
            await Task.Delay(200);
        }
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (_node is not null)
        {
            if (!_node.Process.HasExited)
            {
                try { await _node.Signal("TERM", TimeSpan.FromSeconds(30)); }
                catch (OperationCanceledException) { }
            }
            _node.Dispose();
        }
        _namespace?.Dispose();
        _work.Delete(recursive: true);
    }
}
