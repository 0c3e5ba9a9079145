using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Replug.Agent.Observability;
using static Replug.Coordinator.Singleton.CoordinatorQueries;

namespace Replug.Coordinator.Api;

/// <summary><c>GET /health/ready</c> when ready: the coordinator singleton's readiness as before, plus every check's verdict.</summary>
public sealed record ReadyView(bool Recovered, long Epoch, int Hosts, string? Problem, IReadOnlyDictionary<string, HealthCheckView> Checks);

/// <summary>
/// The coordinator node's health endpoints. <c>/health/live</c>: the process runs (the checks
/// tagged liveness: its ActorSystem). <c>/health/ready</c>: it can do its job: the coordinator
/// singleton answers and has recovered its state (wherever it runs), and every health check holds
/// (this node is an Up cluster member, the journal and snapshot store answer, and in standalone
/// mode the agent's checks). A 503 says why in <c>error</c>, as every API error does.
/// </summary>
public static class HealthApi
{
    /// <summary>The singleton's verdict among the checks.</summary>
    public const string SingletonCheck = "coordinator-singleton";

    public static async Task<IResult> Live(IServiceProvider services, CancellationToken ct)
    {
        var report = await ObservabilityHosting.Check(services, c => c.Tags.Contains(ObservabilityHosting.LivenessTag), ct);
        var checks = ObservabilityHosting.Views(report);
        return ObservabilityHosting.Problem(report) is { } problem
            ? Results.Json(new HealthProblemView(problem, checks), CoordinatorApi.Json, statusCode: StatusCodes.Status503ServiceUnavailable)
            : Results.Json(new HealthView("live", checks), CoordinatorApi.Json);
    }

    /// <param name="readiness">The singleton's answer to <see cref="GetReadiness"/>; null when none came within <paramref name="timeout"/>.</param>
    public static async Task<IResult> Ready(IServiceProvider services, Task<Readiness?> readiness, TimeSpan timeout, CancellationToken ct)
    {
        var report = await ObservabilityHosting.Check(services, null, ct);
        var answer = await readiness;
        var singletonProblem = answer switch
        {
            null => $"the coordinator did not answer within {timeout.TotalSeconds:0.#} s: no coordinator node is up yet, or it is still recovering",
            { Recovered: false } r => r.Problem ?? "the coordinator is recovering its state",
            _ => null,
        };
        var checks = new SortedDictionary<string, HealthCheckView>(ObservabilityHosting.Views(report).ToDictionary(), StringComparer.Ordinal)
        {
            [SingletonCheck] = singletonProblem is null
                ? new HealthCheckView(HealthStatus.Healthy, $"recovered: epoch {answer!.Epoch}, {answer.Hosts} host(s)")
                : new HealthCheckView(HealthStatus.Unhealthy, singletonProblem),
        };
        if ((singletonProblem ?? ObservabilityHosting.Problem(report)) is { } problem)
            return Results.Json(new HealthProblemView(problem, checks), CoordinatorApi.Json, statusCode: StatusCodes.Status503ServiceUnavailable);
        return Results.Json(new ReadyView(answer!.Recovered, answer.Epoch, answer.Hosts, answer.Problem, checks), CoordinatorApi.Json);
    }
}
