using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Replug.Coordinator.Api;

namespace Replug.Coordinator.Tests.Api;

/// <summary>Inputs an operator's tool (or an attacker) can send that once made the API answer 405 or 500: each gets its status and a reason.</summary>
[Collection(RealNodes.Name)]
public sealed class CoordinatorApiInputTests(ApiClusterFixture cluster) : IClassFixture<ApiClusterFixture>
{
    private ApiTestHost Api => cluster.Coordinator;

    [Theory]
    [InlineData("/hosts")]
    [InlineData("/policies")]
    [InlineData("/health/live")]
    public async Task HEAD_answers_as_GET_does_without_a_body(string path)
    {
        using var head = await Api.Http.SendAsync(new HttpRequestMessage(HttpMethod.Head, path));
        using var get = await Api.Http.GetAsync(path);

        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(get.Content.Headers.ContentType?.MediaType, head.Content.Headers.ContentType?.MediaType);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData("/migrations", "{\"nic\": \"\\ud800\", \"from\": \"a\", \"to\": \"b\", \"phase\": \"start\"}", "nic: not valid text")]
    [InlineData("/hosts/host-a/devices/v1/detach", "{\"reason\": \"x\\udfff\"}", "reason: not valid text")]
    public async Task A_JSON_string_with_a_lone_surrogate_is_a_400_not_a_500(string path, string json, string reason)
    {
        var (status, body) = await Api.Post(path, json);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.StartsWith(reason, body.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_body_sent_slower_than_the_servers_minimum_rate_is_a_408_with_a_reason()
    {
        // One byte every 300 ms: far below Kestrel's minimum data rate (240 bytes/s after a 5 s grace).
        using var client = new TcpClient();
        await client.ConnectAsync(Api.Http.BaseAddress!.Host, Api.Http.BaseAddress.Port);
        var stream = client.GetStream();
        var body = "{\"nic\": \"PermanentMac:52:54:00:12:34:56\", \"from\": \"a\", \"to\": \"b\", \"phase\": \"start\"}";
        var head = $"POST /migrations HTTP/1.1\r\nHost: {Api.Http.BaseAddress.Authority}\r\nContent-Type: application/json\r\n" +
            $"Authorization: Bearer {ApiTestHost.WriterToken}\r\nContent-Length: {body.Length}\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        var response = new StringBuilder();
        var buffer = new byte[4096];
        var reading = stream.ReadAsync(buffer).AsTask();
        foreach (var b in Encoding.ASCII.GetBytes(body))
        {
            if (reading.IsCompleted) break;
            try { await stream.WriteAsync(new[] { b }); }
            catch (IOException) { break; } // the server closed the connection after answering
            await Task.WhenAny(reading, Task.Delay(300));
        }
        var read = await reading.WaitAsync(TimeSpan.FromSeconds(30));
        response.Append(Encoding.UTF8.GetString(buffer, 0, read));

        var text = response.ToString();
        Assert.StartsWith("HTTP/1.1 408", text);
        // The body is chunked: the JSON object between its braces.
        using var json = JsonDocument.Parse(text[text.IndexOf('{')..(text.LastIndexOf('}') + 1)]);
        Assert.Contains("too slowly", json.RootElement.GetProperty("error").GetString());
    }

    [Theory]
    [InlineData("GET", "/hosts")]
    [InlineData("POST", "/hosts/host-a/drain")]
    [InlineData("GET", "/no/such/path")]
    public async Task A_request_without_a_token_is_a_401_with_a_reason_and_the_scheme(string method, string path)
    {
        using var anonymous = Api.Client(null);
        using var response = await anonymous.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", Assert.Single(response.Headers.WwwAuthenticate).Scheme);
        Assert.StartsWith("a bearer token is required", await Reason(response));
    }

    [Fact]
    public async Task A_token_the_API_does_not_know_is_a_401_and_health_needs_none()
    {
        using var stranger = Api.Client("not-a-token-of-this-cluster");
        using var refused = await stranger.GetAsync("/hosts");
        using var anonymous = Api.Client(null);
        using var live = await anonymous.GetAsync("/health/live");

        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal("the bearer token is not one of this API's", await Reason(refused));
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        var metrics = await Api.Http.GetStringAsync("/metrics");
        Assert.Matches("replug_coordinator_api_requests_refused\\{[^}]*reason=\"bad-token\"[^}]*\\} [1-9]", metrics);
    }

    [Fact]
    public async Task A_read_token_reads_and_dry_runs_but_a_change_is_a_403_that_changes_nothing()
    {
        using var reader = Api.Client(ApiTestHost.ReaderToken);
        using var hosts = await reader.GetAsync("/hosts");
        using var metrics = await reader.GetAsync("/metrics");
        using var dryRun = await reader.PostAsync("/policies/power-saving/dry-run", null);
        using var drain = await reader.PostAsync("/hosts/host-a/drain", null);

        Assert.Equal(HttpStatusCode.OK, hosts.StatusCode);
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode); // what Prometheus scrapes with
        Assert.Equal(HttpStatusCode.OK, dryRun.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, drain.StatusCode);
        Assert.StartsWith("the token 'reader' may only read", await Reason(drain));
        var (_, host) = await Api.Get("/hosts/host-a");
        Assert.False(host.GetProperty("drained").GetBoolean());
    }

    [Fact]
    public async Task A_request_target_or_headers_beyond_the_APIs_limits_get_414_and_431_with_a_reason()
    {
        using var longTarget = await Api.Http.GetAsync("/hosts?x=" + new string('a', ApiAccess.MaxRequestTargetLength));
        var big = new HttpRequestMessage(HttpMethod.Get, "/hosts");
        big.Headers.Add("X-Padding", new string('b', ApiAccess.MaxHeaderBytes));
        using var bigHeaders = await Api.Http.SendAsync(big);

        Assert.Equal(HttpStatusCode.RequestUriTooLong, longTarget.StatusCode);
        Assert.Contains("request target is longer", await Reason(longTarget));
        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, bigHeaders.StatusCode);
        Assert.Contains("headers are larger", await Reason(bigHeaders));
    }

    [Fact]
    public async Task DELETE_of_a_host_that_is_up_is_a_409_of_an_unknown_one_a_404_and_with_a_read_token_a_403()
    {
        using var up = await Api.Http.DeleteAsync("/hosts/host-b");
        using var unknown = await Api.Http.DeleteAsync("/hosts/no-such-host");
        using var reader = Api.Client(ApiTestHost.ReaderToken);
        using var readOnly = await reader.DeleteAsync("/hosts/host-b");

        Assert.Equal(HttpStatusCode.Conflict, up.StatusCode);
        Assert.Contains("only a Down host can be forgotten", await Reason(up));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, readOnly.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Api.Get("/hosts/host-b")).Status);
    }

    private static async Task<string?> Reason(HttpResponseMessage response)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("error").GetString();
    }
}
