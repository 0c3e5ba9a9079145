using System.Reflection;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Replug.Coordinator.Api;

/// <summary>One file of the web view, as served: its bytes, type and entity tag.</summary>
public sealed record WebAsset(string Name, byte[] Content, string ContentType, string ETag);

/// <summary>
/// The operators' web view: <c>GET /ui/</c> serves a page (HTML, CSS, one JavaScript module) built
/// into this assembly, so a data centre without internet access has it (no CDN, no fonts from
/// elsewhere, no build step). The files carry no cluster data, so they are served without a token;
/// the page asks the API for everything with the token the operator gives it, like any other client.
/// <c>GET /</c> redirects to the page.
/// <para>
/// Every answer forbids what the page never needs: scripts, styles, images and connections from
/// anywhere but this origin (<c>Content-Security-Policy: default-src 'self'</c>, so an injected
/// inline script or style does not run), framing, MIME sniffing and referrers. Caches revalidate
/// with the file's entity tag (a SHA-256 of its bytes): a new coordinator's page is never stale.
/// </para>
/// </summary>
public static class WebView
{
    public const string Root = "/ui";
    public const string IndexName = "index.html";
    private const string ResourcePrefix = "Replug.WebAssets.";

    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly Lazy<IReadOnlyDictionary<string, WebAsset>> Embedded = new(() => Load(typeof(WebView).Assembly));

    /// <summary>The page's files by name (<c>index.html</c>, <c>app.js</c>, …), read once from the assembly.</summary>
    public static IReadOnlyDictionary<string, WebAsset> Assets => Embedded.Value;

    /// <summary>
    /// Serves <c>/</c> (a redirect) and <c>/ui/…</c> before the API's token check: call it before
    /// <see cref="ApiAccess.UseReplugApiAccess"/>. Every other path goes on to the API.
    /// </summary>
    public static IApplicationBuilder UseReplugWebView(this IApplicationBuilder app)
    {
        var assets = Assets;
        app.Use(async (context, next) =>
        {
            var path = context.Request.Path;
            if (path == "/" || path == Root)
            {
                if (!IsRead(context.Request)) await next();
                else context.Response.Redirect(Root + "/");
                return;
            }
            if (!path.StartsWithSegments(Root, out var rest))
            {
                await next();
                return;
            }
            SecurityHeaders(context.Response);
            if (!IsRead(context.Request))
            {
                context.Response.Headers.Allow = "GET, HEAD";
                await CoordinatorApi.WriteError(context.Response, StatusCodes.Status405MethodNotAllowed,
                    $"{context.Request.Method} is not allowed on {path}: the web view's files are only read");
                return;
            }
            var name = rest.Value is "/" or "" ? IndexName : rest.Value![1..];
            if (!assets.TryGetValue(name, out var asset))
            {
                await CoordinatorApi.WriteError(context.Response, StatusCodes.Status404NotFound, $"no such file of the web view: {path}");
                return;
            }
            await Serve(context, asset);
        });
        return app;
    }

    private static bool IsRead(HttpRequest request) => HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method);

    private static void SecurityHeaders(HttpResponse response)
    {
        response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers.XFrameOptions = "DENY";
        response.Headers["Referrer-Policy"] = "no-referrer";
    }

    private static async Task Serve(HttpContext context, WebAsset asset)
    {
        var response = context.Response;
        response.Headers.ETag = asset.ETag;
        // Revalidated every time (a 304 costs a round trip, not the file): a coordinator upgraded under an open browser serves its new page.
        response.Headers.CacheControl = "no-cache";
        if (context.Request.Headers.IfNoneMatch.Any(tag => tag is not null && (tag == asset.ETag || tag == "*")))
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }
        response.ContentType = asset.ContentType;
        response.ContentLength = asset.Content.Length;
        if (HttpMethods.IsHead(context.Request.Method)) return;
        await response.Body.WriteAsync(asset.Content, context.RequestAborted);
    }

    /// <summary>The embedded files (logical names <c>Replug.WebAssets.NAME</c>, see the project file).</summary>
    public static IReadOnlyDictionary<string, WebAsset> Load(Assembly assembly)
    {
        var assets = new Dictionary<string, WebAsset>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var content = copy.ToArray();
            var name = resource[ResourcePrefix.Length..];
            var tag = new EntityTagHeaderValue($"\"{Convert.ToHexStringLower(SHA256.HashData(content))[..32]}\"").ToString();
            assets[name] = new WebAsset(name, content, ContentTypeOf(name), tag);
        }
        return assets;
    }

    private static string ContentTypeOf(string name) => Path.GetExtension(name) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".svg" => "image/svg+xml",
        ".png" => "image/png",
        _ => "application/octet-stream",
    };
}
