using System.Net.Http.Json;
using System.Text.Json;
using Akka.Actor;
using Akka.Cluster;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Replug.Coordinator.Hosting;
using Replug.Coordinator.Tests.Support;

namespace Replug.Coordinator.Tests.Api;

/// <summary>
/// The coordinator executable's own composition (<see cref="CoordinatorHost.TryBuild"/>) in this
/// process: real Kestrel on 127.0.0.1 with a free port, remoting on a free port, SQLite in a
/// temporary folder, the fast failure detection of <see cref="TestNode.FastCluster"/>.
/// </summary>
public sealed class ApiTestHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly TempDirectory _data;

    /// <summary>The tokens every test coordinator is configured with: one that may change the cluster, one that may only read.</summary>
    public const string WriterToken = "test-writer-token-0123456789";
    public const string ReaderToken = "test-reader-token-0123456789";

    private ApiTestHost(WebApplication app, TempDirectory data, Uri baseAddress)
    {
        _app = app;
        _data = data;
        BaseAddress = baseAddress;
        Http = Client(WriterToken);
    }

    public Uri BaseAddress { get; }
    /// <summary>A client with the writer's token.</summary>
    public HttpClient Http { get; }

    /// <summary>A client of this coordinator's API with <paramref name="token"/> (none: no Authorization header).</summary>
    public HttpClient Client(string? token)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (token is not null) client.DefaultRequestHeaders.Authorization = new("Bearer", token);
        return client;
    }
    public ActorSystem System => _app.Services.GetRequiredService<ActorSystem>();
    public IServiceProvider Services => _app.Services;
    public Address ClusterAddress => Akka.Cluster.Cluster.Get(System).SelfAddress;

    /// <summary>The settings of <see cref="TestNode.FastCluster"/>, as an operator would type them.</summary>
    public static string[] FastClusterArguments() =>
    [
        "--Replug:Cluster:Port=0",
        "--Replug:Cluster:HeartbeatInterval=00:00:00.200",
        "--Replug:Cluster:AcceptableHeartbeatPause=00:00:01",
        "--Replug:Cluster:Lease=00:00:01",
        "--Replug:Cluster:LeaseMargin=00:00:00.500",
        "--Replug:Cluster:StableAfter=00:00:02",
    ];

    public static async Task<ApiTestHost> Start(params string[] extra)
    {
        var data = new TempDirectory();
        string[] args =
        [
            .. FastClusterArguments(),
            "--Replug:Coordinator:ApiUrls=http://127.0.0.1:0",
            $"--Replug:Coordinator:Persistence:DataDirectory={data.Path}",
            "--Logging:LogLevel:Default=Warning",
            "--Replug:Coordinator:Api:Tokens:0:Name=writer", "--Replug:Coordinator:Api:Tokens:0:Scope=Write", $"--Replug:Coordinator:Api:Tokens:0:Value={WriterToken}",
            "--Replug:Coordinator:Api:Tokens:1:Name=reader", "--Replug:Coordinator:Api:Tokens:1:Scope=Read", $"--Replug:Coordinator:Api:Tokens:1:Value={ReaderToken}",
            .. extra,
        ];
        Assert.True(CoordinatorHost.TryBuild(args, out var app, out var errors), string.Join("; ", errors));
        await app.StartAsync();
        // Kestrel reports the port it bound for ":0".
        var address = new Uri(app.Urls.Single());
        return new ApiTestHost(app, data, address);
    }

    public async Task<(System.Net.HttpStatusCode Status, JsonElement Body)> Get(string path)
    {
        using var response = await Http.GetAsync(path);
        return (response.StatusCode, await Body(response));
    }

    public async Task<(System.Net.HttpStatusCode Status, JsonElement Body)> Post(string path, string? json = null)
    {
        using var content = json is null ? null : new StringContent(json, global::System.Text.Encoding.UTF8, "application/json");
        using var response = await Http.PostAsync(path, content);
        return (response.StatusCode, await Body(response));
    }

    public async Task<(System.Net.HttpStatusCode Status, JsonElement Body)> Put(string path, string json)
    {
        using var content = new StringContent(json, global::System.Text.Encoding.UTF8, "application/json");
        using var response = await Http.PutAsync(path, content);
        return (response.StatusCode, await Body(response));
    }

    private static async Task<JsonElement> Body(HttpResponseMessage response)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        try { await _app.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token); } catch (OperationCanceledException) { }
        await _app.DisposeAsync();
        _data.Dispose();
    }
}

/// <summary>
/// Tests that start real coordinator nodes (in this process or as executables) run one at a time:
/// on a small machine several clusters forming at once miss their joins' deadlines.
/// </summary>
[CollectionDefinition(Name)]
public sealed class RealNodes
{
    public const string Name = "real coordinator nodes";
}
