using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Replug.Harness;

/// <summary>A port as <c>GET /ports</c> lists it (only what the harness compares with the traffic).</summary>
public sealed record ApiPort(string Port, string Host, string State, bool Forwarding, string? Active, string? Failover, IReadOnlyList<string> Members)
{
    public override string ToString() => $"{Port}: {State} on {Host}{(Forwarding ? ", forwarding" : "")}{(Active is null ? "" : $" over {Active}")}";
}

public sealed record ApiHost(string Host, string Status, long Incarnation);

/// <summary>
/// The coordinators' HTTP API as an operator uses it: every node serves it; a node that is down or
/// answers 503 (no singleton yet) is skipped for the next.
/// </summary>
public sealed class ReplugApi(Func<IReadOnlyList<Uri>> endpoints, string token) : IDisposable
{
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(6), DefaultRequestHeaders = { Authorization = new("Bearer", token) } };

    public async Task<IReadOnlyList<ApiPort>?> PortsAsync(CancellationToken ct = default)
    {
        var json = await GetAsync("/ports", ct);
        if (json is null) return null;
        return [.. json.Value.GetProperty("ports").EnumerateArray().Select(p => new ApiPort(
            p.GetProperty("spec").GetProperty("port").GetString()!,
            p.GetProperty("host").GetString()!,
            p.GetProperty("state").GetString()!,
            p.GetProperty("forwarding").GetBoolean(),
            p.TryGetProperty("active", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString() : null,
            p.TryGetProperty("failover", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null,
            p.TryGetProperty("members", out var m) && m.ValueKind == JsonValueKind.Array ? [.. m.EnumerateArray().Select(x => x.GetString()!)] : []))];
    }

    public async Task<IReadOnlyList<ApiHost>?> HostsAsync(CancellationToken ct = default)
    {
        var json = await GetAsync("/hosts", ct);
        if (json is null) return null;
        return [.. json.Value.GetProperty("hosts").EnumerateArray().Select(h => new ApiHost(
            h.GetProperty("host").GetString()!, h.GetProperty("status").GetString()!, h.GetProperty("incarnation").GetInt64()))];
    }

    /// <summary>Why a fail-over could not place its port: its status and last step, as <c>GET /failovers/{id}</c> tells.</summary>
    public async Task<string?> FailoverCauseAsync(string id, CancellationToken ct = default)
    {
        var json = await GetAsync($"/failovers/{id}", ct);
        if (json is null) return null;
        var status = json.Value.GetProperty("status").GetString();
        var steps = json.Value.GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("what").GetString()).ToList();
        return $"{status}: {steps.LastOrDefault() ?? json.Value.GetProperty("reason").GetString()}";
    }

    public async Task<string?> RawAsync(string path, CancellationToken ct = default) =>
        (await GetAsync(path, ct))?.GetRawText();

    /// <summary>Announces a live migration phase (start, complete, abort); true when a node accepted it (202).</summary>
    public async Task<bool> MigrationAsync(string nic, string from, string to, string phase, CancellationToken ct = default)
    {
        var body = JsonSerializer.Serialize(new { nic, from, to, phase });
        foreach (var endpoint in endpoints())
        {
            try
            {
                using var content = new StringContent(body, Encoding.UTF8, "application/json");
                using var response = await _http.PostAsync(new Uri(endpoint, "/migrations"), content, ct);
                if ((int)response.StatusCode == 202) return true;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
        }
        return false;
    }

    /// <summary>
    /// An operator's request (POST or PUT) with a JSON body: the first node that answers decides
    /// (a node that is down or answers 503 is skipped). Null when none answered.
    /// </summary>
    public async Task<(int Status, JsonElement Body)?> SendAsync(HttpMethod method, string path, string? json = null, CancellationToken ct = default)
    {
        foreach (var endpoint in endpoints())
        {
            try
            {
                using var request = new HttpRequestMessage(method, new Uri(endpoint, path));
                if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
                using var response = await _http.SendAsync(request, ct);
                if ((int)response.StatusCode == 503) continue;
                return ((int)response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>(ct));
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException) { }
        }
        return null;
    }

    /// <summary>A JSON document as <c>GET</c> gives it, or null when no node answered.</summary>
    public Task<JsonElement?> JsonAsync(string path, CancellationToken ct = default) => GetAsync(path, ct);

    private async Task<JsonElement?> GetAsync(string path, CancellationToken ct)
    {
        foreach (var endpoint in endpoints())
        {
            try
            {
                using var response = await _http.GetAsync(new Uri(endpoint, path), ct);
                if (!response.IsSuccessStatusCode) continue;
                return await response.Content.ReadFromJsonAsync<JsonElement>(ct);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException) { }
        }
        return null;
    }

    public void Dispose() => _http.Dispose();
}
