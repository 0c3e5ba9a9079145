using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Replug.Agent.Observability;

/// <summary>
/// What the agent's listener answers (<see cref="AgentHttpListener"/>): <c>/metrics</c> (this host's
/// instruments in Prometheus' text format), <c>/health/live</c> (the process runs: its ActorSystem's
/// liveness) and <c>/health/ready</c> (every check: it hears the kernel, and in a cluster holds its
/// lease and renews the kernel fence): 200 with the checks, or 503 naming the first that fails.
/// GET and HEAD; another method is a 405, another path a 404.
/// </summary>
public sealed class AgentEndpoints(PrometheusExport export, IServiceProvider services)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    private const string Allowed = "GET, HEAD";

    /// <summary>The whole response to <paramref name="method"/> <paramref name="path"/> (a path without its query).</summary>
    public async Task<byte[]> AnswerAsync(string method, string path, CancellationToken ct)
    {
        var endpoint = path.Length > 1 ? path.TrimEnd('/') : path;
        var known = endpoint is "/metrics" or "/health/live" or "/health/ready";
        if (!known) return HttpResponse.Text(404, $"no such endpoint: {path} (the agent serves /metrics, /health/live and /health/ready)");
        if (method is not ("GET" or "HEAD")) return HttpResponse.Text(405, $"{method} is not allowed: {Allowed}", Allowed);
        var head = method == "HEAD";
        if (endpoint == "/metrics")
        {
            using var body = new MemoryStream();
            await export.WriteAsync(body, ct);
            return HttpResponse.Make(200, PrometheusExport.ContentType, body.GetBuffer().AsSpan(0, (int)body.Length), head);
        }
        var (status, json) = endpoint == "/health/live"
            ? await Health("live", c => c.Tags.Contains(ObservabilityHosting.LivenessTag), ct)
            : await Health("ready", null, ct);
        return HttpResponse.Make(status, HttpResponse.JsonContentType, json, head);
    }

    private async Task<(int Status, byte[] Json)> Health(string status, Func<HealthCheckRegistration, bool>? predicate, CancellationToken ct)
    {
        var report = await ObservabilityHosting.Check(services, predicate, ct);
        var checks = ObservabilityHosting.Views(report);
        return ObservabilityHosting.Problem(report) is { } problem
            ? (503, JsonSerializer.SerializeToUtf8Bytes(new HealthProblemView(problem, checks), Json))
            : (200, JsonSerializer.SerializeToUtf8Bytes(new HealthView(status, checks), Json));
    }
}
