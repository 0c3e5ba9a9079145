using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Replug.Agent.Observability;

/// <summary>One health check's verdict as the health endpoints show it.</summary>
public sealed record HealthCheckView(HealthStatus Status, string? Description);

/// <summary>A health endpoint's answer: <c>{ "status": "live" | "ready", "checks": { name: { status, description } } }</c>.</summary>
public sealed record HealthView(string Status, IReadOnlyDictionary<string, HealthCheckView> Checks);

/// <summary>A health endpoint's refusal (503), in the API's error format plus the checks: <c>{ "error": "...", "checks": {...} }</c>.</summary>
public sealed record HealthProblemView(string Error, IReadOnlyDictionary<string, HealthCheckView> Checks);

/// <summary>Metrics and health for a Replug host: the services, and what the endpoints over them share.</summary>
public static class ObservabilityHosting
{
    /// <summary>The tag of the checks /health/live runs (Akka.Hosting's ActorSystem liveness check has it); /health/ready runs them all.</summary>
    public const string LivenessTag = "liveness";

    /// <summary>How long a health endpoint waits for its checks: an answer that comes later is a 503.</summary>
    public static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The Prometheus export of this host's meters, and the health checks' service.</summary>
    public static IServiceCollection AddReplugMetrics(this IServiceCollection services)
    {
        services.AddMetrics();
        services.AddHealthChecks();
        services.TryAddSingleton<PrometheusExport>();
        return services;
    }

    /// <summary>
    /// The agent's instruments and health (<see cref="AgentMetrics"/>, <see cref="AgentHealth"/>) and
    /// its checks: the uevent source, and in a cluster the coordinator's lease and the kernel fence.
    /// </summary>
    public static IServiceCollection AddAgentObservability(this IServiceCollection services, bool clustered)
    {
        services.AddReplugMetrics();
        // The export listens before the first instrument is made: a count recorded before it would be lost.
        services.TryAddSingleton(sp =>
        {
            sp.GetRequiredService<PrometheusExport>();
            return new AgentMetrics(sp.GetRequiredService<IMeterFactory>());
        });
        var health = new AgentHealth();
        services.AddSingleton(health);
        services.TryAddSingleton<AgentEndpoints>();
        var checks = services.AddHealthChecks()
            .AddCheck("uevent-source", new AgentHealthCheck(health, (h, _) => h.UeventSource()), tags: ["agent"]);
        if (clustered)
            checks.AddCheck("lease", new AgentHealthCheck(health, (h, now) => h.Lease(now)), tags: ["agent"])
                .AddCheck("kernel-fence", new AgentHealthCheck(health, (h, now) => h.KernelFence(now)), tags: ["agent"]);
        return services;
    }

    /// <summary>Runs the checks (all, or those <paramref name="predicate"/> selects), bounded by <see cref="CheckTimeout"/>.</summary>
    public static async Task<HealthReport> Check(IServiceProvider services, Func<HealthCheckRegistration, bool>? predicate, CancellationToken ct)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bounded.CancelAfter(CheckTimeout);
        try
        {
            return await services.GetRequiredService<HealthCheckService>().CheckHealthAsync(predicate, bounded.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // A check that hangs (a database that does not answer) is a verdict, not a server error.
            return new HealthReport(new Dictionary<string, HealthReportEntry>
            {
                ["checks"] = new(HealthStatus.Unhealthy, $"the health checks did not finish within {CheckTimeout.TotalSeconds:0} s", CheckTimeout, null, null),
            }, CheckTimeout);
        }
    }

    /// <summary>Each check's verdict by name.</summary>
    public static IReadOnlyDictionary<string, HealthCheckView> Views(HealthReport report) =>
        report.Entries.OrderBy(e => e.Key, StringComparer.Ordinal)
            .ToDictionary(e => e.Key, e => new HealthCheckView(e.Value.Status, e.Value.Description ?? e.Value.Exception?.Message));

    /// <summary>The first failing check as "name: why", or null when none fails. Degraded is shown, but does not fail.</summary>
    public static string? Problem(HealthReport report) =>
        report.Entries.Where(e => e.Value.Status == HealthStatus.Unhealthy).OrderBy(e => e.Key, StringComparer.Ordinal)
            .Select(e => $"{e.Key}: {e.Value.Description ?? e.Value.Exception?.Message ?? "unhealthy"}").FirstOrDefault();
}
