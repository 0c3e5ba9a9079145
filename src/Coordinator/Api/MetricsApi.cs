using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Replug.Agent.Observability;

namespace Replug.Coordinator.Api;

/// <summary>
/// The API's <c>GET /metrics</c>: this node's instruments in Prometheus' text format (and in
/// standalone mode the agent's, from the same registry). The agent alone answers it on its own
/// listener (<see cref="AgentHttpListener"/>), without ASP.NET Core.
/// </summary>
public static class MetricsApi
{
    public static IEndpointConventionBuilder MapReplugMetrics(this IEndpointRouteBuilder endpoints, string pattern = "/metrics") =>
        // A route handler (a Delegate, not a RequestDelegate), so the API's OpenAPI document lists it too.
        endpoints.MapMethods(pattern, [HttpMethods.Get, HttpMethods.Head], (Delegate)(async (HttpContext context) =>
        {
            var export = context.RequestServices.GetRequiredService<PrometheusExport>();
            context.Response.ContentType = PrometheusExport.ContentType;
            if (HttpMethods.IsHead(context.Request.Method)) return;
            await export.WriteAsync(context.Response.Body, context.RequestAborted);
        }));
}
