using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Replug.Agent.Hosting;
using Replug.Agent.Observability;

namespace Replug.Agent.Tests.Observability;

/// <summary>
/// The agent's own HTTP listener over real loopback sockets: the three endpoints with their content
/// types and statuses, and what it does with requests it will not serve (each answered and counted).
/// </summary>
public sealed class AgentHttpListenerTests : IAsyncLifetime
{
    private readonly ServiceProvider _services;
    private readonly AgentHttpListener _listener;
    private readonly AgentHealth _health;
    private IPEndPoint _at = null!;

    public AgentHttpListenerTests()
    {
        var collection = new ServiceCollection();
        collection.AddLogging();
        collection.AddAgentObservability(clustered: false);
        collection.AddSingleton(new AgentOptions { HttpUrls = "http://127.0.0.1:0" });
        collection.AddSingleton<AgentHttpListener>();
        _services = collection.BuildServiceProvider();
        _health = _services.GetRequiredService<AgentHealth>();
        _listener = _services.GetRequiredService<AgentHttpListener>();
    }

    public async Task InitializeAsync()
    {
        await _listener.StartAsync(CancellationToken.None);
        _at = Assert.Single(_listener.Listening);
    }

    public async Task DisposeAsync()
    {
        await _listener.DisposeAsync();
        await _services.DisposeAsync();
    }

    [Fact]
    public async Task Metrics_are_served_in_prometheus_text_format_to_get_and_head()
    {
        using var http = Client();
        using var get = await http.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(PrometheusExport.ContentType, get.Content.Headers.ContentType!.ToString());
        Assert.Contains("# TYPE replug_agent_uevents_received gauge", await get.Content.ReadAsStringAsync());

        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/metrics?scrape=1"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.True(head.Content.Headers.ContentLength > 0);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Readiness_is_503_naming_the_failing_check_until_the_uevent_source_listens_then_200()
    {
        using var http = Client();
        using var before = await http.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, before.StatusCode);
        Assert.Equal("application/json; charset=utf-8", before.Content.Headers.ContentType!.ToString());
        var problem = JsonDocument.Parse(await before.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("uevent-source: the uevent source has not started", problem.GetProperty("error").GetString());
        Assert.Equal("Unhealthy", problem.GetProperty("checks").GetProperty("uevent-source").GetProperty("status").GetString());

        _health.ObserveSource(() => (true, "netlink uevent socket"));
        using var after = await http.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        var ready = JsonDocument.Parse(await after.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("ready", ready.GetProperty("status").GetString());
        Assert.Equal("netlink uevent socket: listening", ready.GetProperty("checks").GetProperty("uevent-source").GetProperty("description").GetString());

        using var live = await http.GetAsync("/health/live");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Equal("live", JsonDocument.Parse(await live.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Another_path_is_404_and_another_method_405_with_the_methods_allowed()
    {
        using var http = Client();
        using var missing = await http.GetAsync("/hosts");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("no such endpoint: /hosts", await missing.Content.ReadAsStringAsync());

        using var post = await http.PostAsync("/metrics", new StringContent("x"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
        Assert.Equal(["GET", "HEAD"], post.Content.Headers.Allow);
    }

    [Theory]
    [InlineData("GARBAGE\r\n\r\n", "the request line is not 'METHOD PATH HTTP/1.1'")]
    [InlineData("GET /metrics HTTP/2.0\r\n\r\n", "'HTTP/2.0' is not HTTP/1.0 or HTTP/1.1")]
    [InlineData("GET metrics HTTP/1.1\r\n\r\n", "the path must start with '/'")]
    [InlineData("get /metrics HTTP/1.1\r\n\r\n", "'get' is not a method")]
    [InlineData("GET /m\u00e9trics HTTP/1.1\r\n\r\n", "the request line has a control or non-ASCII byte")]
    public async Task A_malformed_request_is_400_with_why_and_counted(string request, string why)
    {
        var response = await Raw(Encoding.UTF8.GetBytes(request));
        Assert.StartsWith("HTTP/1.1 400 Bad Request\r\n", response);
        Assert.EndsWith($"\r\n\r\n{why}\n", response);
        Assert.Contains("replug_agent_http_requests_refused{reason=\"bad_request\"} 1", await Client().GetStringAsync("/metrics"));
    }

    [Fact]
    public async Task A_request_head_over_8_KiB_is_431_and_counted()
    {
        var request = Encoding.ASCII.GetBytes("GET /metrics HTTP/1.1\r\nX-Filler: " + new string('a', HttpRequestHead.MaxBytes) + "\r\n\r\n");
        var response = await Raw(request);
        Assert.StartsWith("HTTP/1.1 431 Request Header Fields Too Large\r\n", response);
        Assert.Contains("replug_agent_http_requests_refused{reason=\"too_large\"} 1", await Client().GetStringAsync("/metrics"));
    }

    [Fact]
    public async Task A_request_sent_in_pieces_is_answered_once_its_head_is_complete()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(_at);
        await socket.SendAsync("GET /health/li"u8.ToArray());
        await socket.SendAsync("ve HTTP/1.0\r\nHost: x\r\n"u8.ToArray());
        await socket.SendAsync("\r\n"u8.ToArray());
        var response = await ReadToEnd(socket);
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", response);
        Assert.Contains("\"status\": \"live\"", response);
    }

    [Fact]
    public async Task A_port_in_use_fails_the_start_naming_the_url_as_an_address_in_use()
    {
        var url = $"http://127.0.0.1:{_at.Port}";
        await using var second = new AgentHttpListener(new AgentOptions { HttpUrls = url },
            _services.GetRequiredService<AgentEndpoints>(), NullLogger<AgentHttpListener>.Instance);
        var e = await Assert.ThrowsAsync<IOException>(() => second.StartAsync(CancellationToken.None));
        Assert.Equal($"Failed to bind to address {url}", AgentHost.AddressInUse(e));
    }

    [Fact]
    public void The_request_head_parser_waits_for_the_blank_line_but_refuses_a_bad_request_line_at_once()
    {
        Assert.Equal(HttpRequestHead.Outcome.Incomplete, HttpRequestHead.Parse("GET /metrics HTTP/1.1\r\nHost: a\r\n"u8).Outcome);
        Assert.Equal(HttpRequestHead.Outcome.Bad, HttpRequestHead.Parse("GET /metrics HTTP/9\r\n"u8).Outcome);
        var complete = HttpRequestHead.Parse("HEAD /health/ready?verbose HTTP/1.1\r\nHost: a\r\n\r\n"u8);
        Assert.Equal(new HttpRequestHead.Parsed(HttpRequestHead.Outcome.Complete, "HEAD", "/health/ready"), complete);
    }

    private HttpClient Client() => new() { BaseAddress = new Uri($"http://{_at}"), Timeout = TimeSpan.FromSeconds(10) };

    private async Task<string> Raw(byte[] request)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(_at);
        await socket.SendAsync(request);
        return await ReadToEnd(socket);
    }

    private static async Task<string> ReadToEnd(Socket socket)
    {
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10));
    }
}
