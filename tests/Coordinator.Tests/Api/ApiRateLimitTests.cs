using System.Net;
using System.Text.Json;

namespace Replug.Coordinator.Tests.Api;

/// <summary>A caller that floods the API is slowed down with 429s; health probes never are.</summary>
[Collection(RealNodes.Name)]
public sealed class ApiRateLimitTests
{
    [Fact]
    public async Task A_flood_from_one_caller_gets_429s_with_a_reason_and_when_to_retry_while_health_stays_open()
    {
        await using var api = await ApiTestHost.Start("--Replug:Coordinator:Api:RateLimit:PermitsPerSecond=1", "--Replug:Coordinator:Api:RateLimit:Burst=3");

        // 20 requests in a row: without a limit of about one a second after a burst of 3, none would be refused.
        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? refused = null;
        for (var i = 0; i < 20 && refused is null; i++)
        {
            var response = await api.Http.GetAsync("/policies");
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests) refused = response;
            else response.Dispose();
        }
        var health = new List<HttpStatusCode>();
        for (var i = 0; i < 20; i++)
        {
            using var response = await api.Http.GetAsync("/health/live");
            health.Add(response.StatusCode);
        }

        Assert.NotNull(refused);
        Assert.True(statuses.Take(3).All(s => s == HttpStatusCode.OK), string.Join(", ", statuses));
        Assert.Equal("1", refused.Headers.RetryAfter?.Delta?.TotalSeconds.ToString());
        using var json = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
        Assert.StartsWith("too many requests from 127.0.0.1", json.RootElement.GetProperty("error").GetString());
        Assert.All(health, s => Assert.Equal(HttpStatusCode.OK, s));
        refused.Dispose();
    }
}
