using System.Text.Encodings.Web;
using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Replug.Agent.Observability;
using Replug.Coordinator.Singleton;
using Replug.Shared.Devices;
using Replug.Shared.Hosting;
using Replug.Shared.Protocol;
using Replug.Shared.Serialization;
using static Replug.Coordinator.Singleton.CoordinatorQueries;

namespace Replug.Coordinator.Api;

/// <summary>Every error the API answers: <c>{ "error": "..." }</c>.</summary>
public sealed record ApiError(string Error);

/// <summary>One NIC of one host, as <c>GET /devices</c> lists it.</summary>
public sealed record DeviceView(HostId Host, DeviceId Device, NicIdentity Identity, string? PciSlot, bool Healthy);
public sealed record DevicesView(IReadOnlyList<DeviceView> Devices);
public sealed record DrainView(HostId Host, bool Drained);
public sealed record LiveView(string Status);

/// <summary>
/// The operators' HTTP API. It runs on every coordinator node and asks the coordinator singleton
/// (wherever it runs) through the node's <see cref="CoordinatorProxyKey"/> proxy; an answer that
/// does not come within the timeout is a 503, never a hung request.
/// </summary>
public static class CoordinatorApi
{
    public static readonly TimeSpan DefaultAskTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Replug's JSON (ids as strings, enums by name, records by their constructor) plus the
    /// coordinator's <see cref="FailoverId"/>, indented for people reading curl output. Quotes and
    /// '+' stay as they are (the default encoder escapes them for HTML pages; this is only ever JSON).
    /// </summary>
    public static readonly JsonSerializerOptions Json = new(ReplugJson.CreateOptions(
        new GuidIdConverter<FailoverId>(g => new FailoverId(g), id => id.Value)))
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static IEndpointRouteBuilder MapReplugApi(this IEndpointRouteBuilder endpoints, TimeSpan? askTimeout = null)
    {
        // Resolved at the first request: resolving it here would create the ActorSystem while the host is still being built.
        var coordinator = new CoordinatorAsker(new Lazy<IRequiredActor<CoordinatorProxyKey>>(
            () => endpoints.ServiceProvider.GetRequiredService<IRequiredActor<CoordinatorProxyKey>>()), askTimeout ?? DefaultAskTimeout);

        endpoints.MapRead("/health/live", (CancellationToken ct) => HealthApi.Live(endpoints.ServiceProvider, ct));
        endpoints.MapRead("/health/ready", (CancellationToken ct) =>
            HealthApi.Ready(endpoints.ServiceProvider, coordinator.AskValue<Readiness>(new GetReadiness(), ct), coordinator.Timeout, ct));
        endpoints.MapReplugMetrics();

        endpoints.MapRead("/hosts", (CancellationToken ct) => coordinator.Ask<HostsView>(new GetHosts(), ct, Ok));
        endpoints.MapRead("/hosts/{id}", (string id, CancellationToken ct) =>
        {
            var host = ApiRequests.Host(id);
            if (!host.Ok) return Task.FromResult(BadRequest(host.Error!));
            return coordinator.Ask<HostsView>(new GetHosts(), ct, view => view.Hosts.FirstOrDefault(h => h.Host == host.Value) is { } found
                ? Ok(found)
                : Error(StatusCodes.Status404NotFound, $"unknown host {host.Value}"));
        });
        endpoints.MapRead("/devices", (CancellationToken ct) => coordinator.Ask<HostsView>(new GetHosts(), ct, view => Ok(new DevicesView(
            [.. view.Hosts.SelectMany(h => h.Nics.Select(n => new DeviceView(h.Host, n.Device, n.Identity, n.PciSlot, n.Healthy)))]))));
        endpoints.MapRead("/nics", (CancellationToken ct) => coordinator.Ask<NicsView>(new GetNics(), ct, Ok));
        endpoints.MapRead("/ports", (CancellationToken ct) => coordinator.Ask<PortsView>(new GetPorts(), ct, Ok));
        endpoints.MapRead("/failovers", (CancellationToken ct) => coordinator.Ask<FailoversView>(new GetFailovers(), ct, Ok));
        endpoints.MapRead("/failovers/{id}", (string id, CancellationToken ct) =>
        {
            var prefix = ApiRequests.FailoverIdPrefix(id);
            if (!prefix.Ok) return Task.FromResult(BadRequest(prefix.Error!));
            return coordinator.Ask<FailoversView>(new GetFailovers(), ct, view =>
                view.Failovers.Where(f => f.Id.Value.ToString("N").StartsWith(prefix.Value, StringComparison.Ordinal)).Take(2).ToList() switch
                {
                    [var one] => Ok(one),
                    [] => Error(StatusCodes.Status404NotFound, $"unknown fail-over {id}"),
                    _ => BadRequest($"'{id}' names more than one fail-over: give more of its id"),
                });
        });
        endpoints.MapRead("/events", (HttpRequest request, CancellationToken ct) =>
        {
            // One "max", not several: ?max=1&max=2 is a mistake, not a choice.
            var values = request.Query["max"];
            if (values.Count > 1) return Task.FromResult(BadRequest("max: given more than once"));
            var max = ApiRequests.Max(values.Count == 0 ? null : values[0]);
            if (!max.Ok) return Task.FromResult(BadRequest(max.Error!));
            return coordinator.Ask<EventsView>(new GetRecentEvents(max.Value), ct, Ok);
        });

        endpoints.MapDelete("/hosts/{id}", (string id, HttpContext context, CancellationToken ct) =>
        {
            var host = ApiRequests.Host(id);
            if (!host.Ok) return Task.FromResult(BadRequest(host.Error!));
            return coordinator.Ask<object>(new CoordinatorRequests.ForgetHost(host.Value, context.Who()), ct, Answer);
        });
        endpoints.MapPost("/hosts/{id}/drain", (string id, CancellationToken ct) => ChangeDrain(coordinator, id, true, ct));
        endpoints.MapPost("/hosts/{id}/undrain", (string id, CancellationToken ct) => ChangeDrain(coordinator, id, false, ct));

        endpoints.MapPost("/migrations", async (HttpRequest request, CancellationToken ct) =>
        {
            var (body, refusal) = await ReadBody(request, ApiRequests.MaxBodyBytes, ct);
            if (refusal is not null) return refusal;
            var notice = ApiRequests.Migration(body);
            if (!notice.Ok) return BadRequest(notice.Error!);
            return await coordinator.Ask<OperatorProtocol.OperatorAck>(notice.Value, ct, ack => ack.Accepted
                ? Results.Json(notice.Value, Json, statusCode: StatusCodes.Status202Accepted)
                : BadRequest(ack.Error ?? "refused by the coordinator"));
        });
        endpoints.MapPost("/hosts/{id}/devices/{device}/detach", (string id, string device, HttpRequest request, CancellationToken ct) =>
            DeviceOperation(coordinator, id, device, request, (h, d, r) => new CoordinatorRequests.DetachDevice(h, d, r), ct));
        endpoints.MapPost("/hosts/{id}/devices/{device}/attach", (string id, string device, HttpRequest request, CancellationToken ct) =>
            DeviceOperation(coordinator, id, device, request, (h, d, r) => new CoordinatorRequests.AttachDevice(h, d, r), ct));
        endpoints.MapRead("/operations", (CancellationToken ct) => coordinator.Ask<CoordinatorRequests.OperationsView>(new CoordinatorRequests.GetOperations(), ct, Ok));

        endpoints.MapRead("/policies", (CancellationToken ct) => coordinator.Ask<CoordinatorRequests.PoliciesView>(new CoordinatorRequests.GetPolicies(), ct, Ok));
        endpoints.MapPut("/policies", (HttpRequest request, CancellationToken ct) => ConfigurePolicies(coordinator, null, request, ct));
        endpoints.MapPut("/policies/{name}", (string name, HttpRequest request, CancellationToken ct) =>
            Policies.PolicySettings.IsPolicy(name)
                ? ConfigurePolicies(coordinator, name, request, ct)
                : Task.FromResult(UnknownPolicy(name)));
        endpoints.MapPost("/policies/{name}/dry-run", (string name, CancellationToken ct) =>
            Policies.PolicySettings.IsPolicy(name)
                ? coordinator.Ask<object>(new CoordinatorRequests.DryRunPolicy(name), ct, Answer)
                : Task.FromResult(UnknownPolicy(name)))
            .WithMetadata(ReadsOnly.Instance); // it says what the policy would do, and does nothing
        endpoints.MapRead("/decisions", (HttpRequest request, CancellationToken ct) =>
        {
            var values = request.Query["max"];
            if (values.Count > 1) return Task.FromResult(BadRequest("max: given more than once"));
            var max = ApiRequests.Max(values.Count == 0 ? null : values[0]);
            if (!max.Ok) return Task.FromResult(BadRequest(max.Error!));
            return coordinator.Ask<CoordinatorRequests.DecisionsView>(new CoordinatorRequests.GetDecisions(max.Value), ct, Ok);
        });
        endpoints.MapEventStream(coordinator.AskValue<EventFeed.EventPage>);
        endpoints.MapOpenApi(); // GET /openapi/v1.json: needs AddOpenApi() among the services
        return endpoints;
    }

    /// <summary>A read: GET, and HEAD for the same headers without the body (curl -I, load balancers' probes).</summary>
    public static RouteHandlerBuilder MapRead(this IEndpointRouteBuilder endpoints, string pattern, Delegate handler) =>
        endpoints.MapMethods(pattern, [HttpMethods.Get, HttpMethods.Head], handler).WithMetadata(ReadsOnly.Instance);

    private static IResult UnknownPolicy(string name) =>
        Error(StatusCodes.Status404NotFound, $"unknown policy '{name}' (there are {Policies.LoadBalancer.Name} and {Policies.PowerSaver.Name})");

    /// <summary>An answer that is either the view asked for or a refusal with its status.</summary>
    private static IResult Answer(object answer) => answer switch
    {
        CoordinatorRequests.Refused r => Error(r.Status, r.Reason),
        CoordinatorRequests.OperationAccepted a => Results.Json(a.Operation, Json, statusCode: StatusCodes.Status202Accepted),
        _ => Results.Text(JsonSerializer.Serialize(answer, answer.GetType(), Json), "application/json; charset=utf-8"),
    };

    private static async Task<IResult> DeviceOperation(CoordinatorAsker coordinator, string id, string device, HttpRequest request,
        Func<HostId, DeviceId, string?, ICoordinatorRequest> make, CancellationToken ct)
    {
        var host = ApiRequests.Host(id);
        if (!host.Ok) return BadRequest(host.Error!);
        var parsed = ApiRequests.Device(device);
        if (!parsed.Ok) return BadRequest(parsed.Error!);
        var (body, refusal) = await ReadBody(request, ApiRequests.MaxBodyBytes, ct);
        if (refusal is not null) return refusal;
        var reason = ApiRequests.Reason(body);
        if (!reason.Ok) return BadRequest(reason.Error!);
        return await coordinator.Ask<object>(make(host.Value, parsed.Value, reason.Value), ct, Answer);
    }

    private static async Task<IResult> ConfigurePolicies(CoordinatorAsker coordinator, string? name, HttpRequest request, CancellationToken ct)
    {
        var (body, refusal) = await ReadBody(request, ApiRequests.MaxBodyBytes, ct);
        if (refusal is not null) return refusal;
        // One policy's change keeps the other's settings as the coordinator has them now.
        if (await coordinator.AskValue<CoordinatorRequests.PoliciesView>(new CoordinatorRequests.GetPolicies(), ct) is not { } current)
            return Error(StatusCodes.Status503ServiceUnavailable, $"the coordinator did not answer within {coordinator.Timeout.TotalSeconds:0.#} s");
        return await Configure(current);

        async Task<IResult> Configure(CoordinatorRequests.PoliciesView current)
        {
            var settings = ApiRequests.PolicySettings(body, name, current.Settings, Json);
            if (!settings.Ok) return BadRequest(settings.Error!);
            var by = request.HttpContext.Who();
            return await coordinator.Ask<object>(new CoordinatorRequests.ConfigurePolicies(settings.Value, by), ct, Answer);
        }
    }

    /// <summary>
    /// Every error as <c>{ "error": "..." }</c>: an unknown path or method (answered by routing
    /// with an empty body) and an unexpected exception (logged by the middleware) included.
    /// </summary>
    public static IApplicationBuilder UseReplugApiErrors(this IApplicationBuilder app)
    {
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            ExceptionHandler = context => WriteError(context.Response, StatusCodes.Status500InternalServerError,
                "internal error (see the coordinator's log)"),
        });
        app.UseStatusCodePages(context =>
        {
            var request = context.HttpContext.Request;
            var response = context.HttpContext.Response;
            return WriteError(response, response.StatusCode, response.StatusCode switch
            {
                StatusCodes.Status404NotFound => $"no such resource: {request.Path}",
                StatusCodes.Status405MethodNotAllowed => $"{request.Method} is not allowed on {request.Path}",
                var code => ReasonPhrases.GetReasonPhrase(code),
            });
        });
        return app;
    }

    private static Task<IResult> ChangeDrain(CoordinatorAsker coordinator, string id, bool drained, CancellationToken ct)
    {
        var host = ApiRequests.Host(id);
        if (!host.Ok) return Task.FromResult(BadRequest(host.Error!));
        object request = drained ? new OperatorProtocol.DrainHost(host.Value) : new OperatorProtocol.UndrainHost(host.Value);
        // The coordinator refuses only a host it does not know.
        return coordinator.Ask<OperatorProtocol.OperatorAck>(request, ct, ack => ack.Accepted
            ? Ok(new DrainView(host.Value, drained))
            : Error(StatusCodes.Status404NotFound, ack.Error ?? $"unknown host {host.Value}"));
    }

    /// <summary>
    /// The body, or why it was not read: larger than <paramref name="limit"/> (413, read no further),
    /// or sent too slowly or cut off (Kestrel's own verdict and status: 408 for a body slower than its
    /// minimum data rate), never a 500.
    /// </summary>
    private static async Task<(byte[] Body, IResult? Refusal)> ReadBody(HttpRequest request, int limit, CancellationToken ct)
    {
        var tooLarge = Error(StatusCodes.Status413PayloadTooLarge, $"the body is larger than {limit} bytes");
        if (request.ContentLength > limit) return ([], tooLarge);
        using var buffer = new MemoryStream();
        var chunk = new byte[1024];
        try
        {
            int read;
            while ((read = await request.Body.ReadAsync(chunk, ct)) > 0)
            {
                if (buffer.Length + read > limit) return ([], tooLarge);
                buffer.Write(chunk, 0, read);
            }
        }
        catch (BadHttpRequestException e)
        {
            return ([], Error(e.StatusCode, e.StatusCode == StatusCodes.Status408RequestTimeout
                ? "the body came too slowly (below the server's minimum data rate)"
                : $"the body could not be read: {e.Message}"));
        }
        return (buffer.ToArray(), null);
    }

    private static IResult Ok<T>(T value) => Results.Json(value, Json);
    private static IResult BadRequest(string reason) => Error(StatusCodes.Status400BadRequest, reason);
    private static IResult Error(int status, string reason) => Results.Json(new ApiError(reason), Json, statusCode: status);

    internal static Task WriteError(HttpResponse response, int status, string reason)
    {
        response.StatusCode = status;
        response.ContentType = "application/json; charset=utf-8";
        return JsonSerializer.SerializeAsync(response.Body, new ApiError(reason), Json);
    }

    /// <summary>Asks the singleton through the node's proxy; no answer in time is a 503 with the reason.</summary>
    private sealed class CoordinatorAsker(Lazy<IRequiredActor<CoordinatorProxyKey>> proxy, TimeSpan timeout)
    {
        public TimeSpan Timeout => timeout;

        /// <summary>The answer, or null when none came in time.</summary>
        public async Task<T?> AskValue<T>(object query, CancellationToken ct) where T : class
        {
            var target = await proxy.Value.GetAsync(ct);
            try
            {
                return await target.Ask<T>(query, timeout, ct);
            }
            catch (AskTimeoutException)
            {
                return null;
            }
        }

        public async Task<IResult> Ask<T>(object query, CancellationToken ct, Func<T, IResult> answer)
        {
            var target = await proxy.Value.GetAsync(ct);
            try
            {
                return answer(await target.Ask<T>(query, timeout, ct));
            }
            catch (AskTimeoutException)
            {
                return Error(StatusCodes.Status503ServiceUnavailable,
                    $"the coordinator did not answer within {timeout.TotalSeconds:0.#} s: no coordinator node is up yet, or it is still recovering");
            }
        }
    }
}
