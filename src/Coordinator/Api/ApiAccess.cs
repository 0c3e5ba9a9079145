using System.Diagnostics.Metrics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Replug.Coordinator.Api;

/// <summary>Who made a request: the name of the token it carried and what that token may do.</summary>
public sealed record ApiCaller(string Name, ApiScope Scope);

/// <summary>Endpoint metadata: the endpoint changes nothing, so a <see cref="ApiScope.Read"/> token may call it.</summary>
public sealed class ReadsOnly
{
    public static readonly ReadsOnly Instance = new();
}

/// <summary>
/// The API's tokens as the coordinator holds them: a SHA-256 of each, never the token. A presented
/// token is hashed and compared with every known hash in constant time, so neither a match's
/// position nor a common prefix shows in the time an answer takes.
/// </summary>
public sealed class ApiTokens
{
    private readonly (byte[] Hash, ApiCaller Caller)[] _tokens;

    private ApiTokens((byte[], ApiCaller)[] tokens) => _tokens = tokens;

    /// <summary>The file a generated token was written to or read from (null: the tokens are configured).</summary>
    public string? GeneratedFile { get; private init; }

    /// <summary>
    /// The configured tokens (already validated), or, with none, the token in
    /// <paramref name="dataDirectory"/>/api-token, made on first start (mode 0600). Null with the
    /// problem when that file cannot be made or read.
    /// </summary>
    public static ApiTokens? Load(ApiAccessOptions options, string dataDirectory, out string? problem)
    {
        problem = null;
        if (options.Tokens.Count > 0)
            return new([.. options.Tokens.Select(t => (Hash(t.Value ?? ApiAccessOptions.ReadTokenFile(t.File!).Value!), new ApiCaller(t.Name, t.Scope)))]);

        var path = Path.GetFullPath(Path.Combine(dataDirectory, ApiAccessOptions.GeneratedTokenFileName));
        try
        {
            if (!File.Exists(path))
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                var made = Base64Url(RandomNumberGenerator.GetBytes(32));
                var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
                if (!OperatingSystem.IsWindows()) create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                using (var file = new FileStream(path, create)) file.Write(Encoding.ASCII.GetBytes(made + "\n"));
            }
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another coordinator on this data folder made it first: read theirs.
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            problem = $"{ApiAccessOptions.Section}:Tokens: none configured, and the generated token's file '{path}' cannot be made: {e.Message}";
            return null;
        }
        var (value, readProblem) = ApiAccessOptions.ReadTokenFile(path);
        if (readProblem is not null || !ApiAccessOptions.IsToken(value!))
        {
            problem = $"{ApiAccessOptions.Section}:Tokens: none configured, and the generated token's file {readProblem ?? $"'{path}' holds no token (delete it to make a new one)"}";
            return null;
        }
        return new([(Hash(value!), new ApiCaller("local", ApiScope.Write))]) { GeneratedFile = path };
    }

    /// <summary>The caller whose token this is, or null.</summary>
    public ApiCaller? Find(string presented)
    {
        var hash = Hash(presented);
        ApiCaller? found = null;
        // Every hash is compared, whatever matched: the time does not depend on which one did.
        foreach (var (known, caller) in _tokens)
            if (CryptographicOperations.FixedTimeEquals(known, hash)) found = caller;
        return found;
    }

    private static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

/// <summary>
/// The API's gatekeeping, in the order a request meets it: the request's size (JSON 414 and 431
/// within Kestrel's own, larger limits, whose bare answers carry no reason), the caller's rate (429),
/// then its token (401, 403). <c>/health/*</c> is open and never limited: service managers and load
/// balancers probe it without a token.
/// </summary>
public static class ApiAccess
{
    /// <summary>The longest request target (path and query) the API reads.</summary>
    public const int MaxRequestTargetLength = 8 * 1024;
    /// <summary>The most header bytes (names and values) the API reads.</summary>
    public const int MaxHeaderBytes = 32 * 1024;

    private const string CallerKey = "replug.caller";

    /// <summary>The caller of an authenticated request (null for /health/*).</summary>
    public static ApiCaller? Caller(this HttpContext context) => context.Items.TryGetValue(CallerKey, out var caller) ? caller as ApiCaller : null;

    /// <summary>Who did it, as the journal and the log record it: the token's name and the remote address.</summary>
    public static string Who(this HttpContext context) =>
        $"{(context.Caller() is { } caller ? $"'{caller.Name}'" : "operator")} at {context.Connection.RemoteIpAddress}";

    /// <summary>Kestrel's own limits above the API's, so the API answers an oversized request with its JSON.</summary>
    public static void RaiseKestrelLimits(KestrelServerOptions kestrel)
    {
        kestrel.Limits.MaxRequestLineSize = 8 * MaxRequestTargetLength;
        kestrel.Limits.MaxRequestHeadersTotalSize = 4 * MaxHeaderBytes;
    }

    /// <summary>A token bucket per remote address; none for /health/* and when the limit is 0.</summary>
    public static IServiceCollection AddReplugRateLimit(this IServiceCollection services, ApiRateLimitOptions limit) => services
        .AddSingleton<ApiRefusals>()
        .AddRateLimiter(options =>
        {
            options.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
                limit.PermitsPerSecond == 0 || IsHealth(context.Request)
                    ? RateLimitPartition.GetNoLimiter("")
                    : RateLimitPartition.GetTokenBucketLimiter(context.Connection.RemoteIpAddress?.ToString() ?? "", _ => new TokenBucketRateLimiterOptions
                    {
                        TokenLimit = limit.Burst,
                        TokensPerPeriod = limit.PermitsPerSecond,
                        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                        QueueLimit = 0,
                        AutoReplenishment = true,
                    }));
            options.OnRejected = (rejected, _) =>
            {
                rejected.HttpContext.RequestServices.GetRequiredService<ApiRefusals>().Count("rate");
                rejected.HttpContext.Response.Headers.RetryAfter = "1";
                return new ValueTask(CoordinatorApi.WriteError(rejected.HttpContext.Response, StatusCodes.Status429TooManyRequests,
                    $"too many requests from {rejected.HttpContext.Connection.RemoteIpAddress}: at most {limit.PermitsPerSecond} a second (bursts of {limit.Burst}); retry later"));
            };
        });

    /// <summary>Size checks, the rate limit and the token check, before the endpoints.</summary>
    public static IApplicationBuilder UseReplugApiAccess(this IApplicationBuilder app, ApiTokens tokens, ILogger logger)
    {
        var refusals = app.ApplicationServices.GetRequiredService<ApiRefusals>();
        Task Refuse(HttpContext context, string reason, int status, string message)
        {
            refusals.Count(reason);
            return CoordinatorApi.WriteError(context.Response, status, message);
        }

        app.Use(async (context, next) =>
        {
            var request = context.Request;
            var target = request.Path.Value?.Length + request.QueryString.Value?.Length ?? 0;
            if (target > MaxRequestTargetLength)
            {
                await Refuse(context, "size", StatusCodes.Status414UriTooLong, $"the request target is longer than {MaxRequestTargetLength} characters");
                return;
            }
            long headerBytes = 0;
            foreach (var (name, values) in request.Headers) headerBytes += name.Length + values.Sum(v => v?.Length ?? 0);
            if (headerBytes > MaxHeaderBytes)
            {
                await Refuse(context, "size", StatusCodes.Status431RequestHeaderFieldsTooLarge, $"the request's headers are larger than {MaxHeaderBytes} bytes");
                return;
            }
            await next();
        });
        app.UseRateLimiter();
        app.Use(async (context, next) =>
        {
            if (IsHealth(context.Request))
            {
                await next();
                return;
            }
            var presented = BearerToken(context.Request);
            if (presented is null)
            {
                context.Response.Headers.WWWAuthenticate = "Bearer realm=\"replug\"";
                await Refuse(context, "no-token", StatusCodes.Status401Unauthorized,
                    "a bearer token is required (Authorization: Bearer TOKEN)" + (tokens.GeneratedFile is { } file ? $"; this coordinator's is in {file}" : ""));
                return;
            }
            if (tokens.Find(presented) is not { } caller)
            {
                context.Response.Headers.WWWAuthenticate = "Bearer realm=\"replug\", error=\"invalid_token\"";
                await Refuse(context, "bad-token", StatusCodes.Status401Unauthorized, "the bearer token is not one of this API's");
                return;
            }
            context.Items[CallerKey] = caller;
            // A GET or HEAD never changes anything (/metrics, /events/stream); other methods only where the endpoint says so.
            var readsOnly = HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method)
                || context.GetEndpoint() is not { } endpoint || endpoint.Metadata.GetMetadata<ReadsOnly>() is not null;
            if (!readsOnly && caller.Scope < ApiScope.Write)
            {
                await Refuse(context, "scope", StatusCodes.Status403Forbidden,
                    $"the token '{caller.Name}' may only read (scope {caller.Scope}); {context.Request.Method} {context.Request.Path} changes the cluster");
                return;
            }
            await next();
            if (!readsOnly)
                logger.LogInformation("API {Method} {Path} by {Caller} at {Remote}: {Status}", context.Request.Method, context.Request.Path,
                    caller.Name, context.Connection.RemoteIpAddress, context.Response.StatusCode);
        });
        return app;
    }

    private static bool IsHealth(HttpRequest request) => request.Path.StartsWithSegments("/health");

    /// <summary>The token of an "Authorization: Bearer TOKEN" header (the scheme in any case), or null.</summary>
    private static string? BearerToken(HttpRequest request)
    {
        const string scheme = "Bearer ";
        var values = request.Headers.Authorization;
        if (values.Count != 1 || values[0] is not { } header) return null;
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return null;
        var token = header[scheme.Length..].Trim();
        return token.Length == 0 ? null : token;
    }
}

/// <summary>
/// Requests the API refused before an endpoint saw them, by reason (<c>size</c>, <c>rate</c>,
/// <c>no-token</c>, <c>bad-token</c>, <c>scope</c>): <c>replug_coordinator_api_requests_refused</c>.
/// </summary>
public sealed class ApiRefusals
{
    public const string MeterName = "replug.coordinator.api";
    private readonly Agent.Observability.Totals _refused = new("reason");

    public ApiRefusals(IMeterFactory meters) =>
        meters.Create(MeterName).CreateObservableCounter("requests.refused", _refused.Observe, "{request}",
            "API requests refused before they reached an endpoint, by reason");

    public void Count(string reason) => _refused.Add(1, reason);
}
