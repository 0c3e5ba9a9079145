using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

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
        var head = $"POST /migrations HTTP/1.1\r\nHost: {Api.Http.BaseAddress.Authority}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n";
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
}
