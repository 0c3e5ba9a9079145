using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Replug.Coordinator.Api;

namespace Replug.Coordinator.Tests.Api;

/// <summary>
/// The web view's files as the coordinator serves them (the executable's own composition): without a
/// token, with headers that keep the page to its own origin, revalidated by entity tag; the API behind
/// them still wants its token. What the page does with them is tested in a browser (tests/Web.Tests).
/// </summary>
[Collection(RealNodes.Name)]
public sealed partial class WebViewServingTests : IAsyncLifetime
{
    private ApiTestHost _api = null!;

    public async Task InitializeAsync() => _api = await ApiTestHost.Start();

    public async Task DisposeAsync() => await _api.DisposeAsync();

    [Fact]
    public async Task The_page_is_served_without_a_token_with_a_strict_content_security_policy_and_revalidated_by_its_entity_tag()
    {
        using var anonymous = _api.Client(null);

        using var page = await anonymous.GetAsync("/ui/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.StartsWith("default-src 'self';", Assert.Single(page.Headers.GetValues("Content-Security-Policy")));
        Assert.Equal("nosniff", Assert.Single(page.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal("no-cache", page.Headers.CacheControl?.ToString());
        var tag = page.Headers.ETag;
        Assert.NotNull(tag);

        using var again = new HttpRequestMessage(HttpMethod.Get, "/ui/");
        again.Headers.IfNoneMatch.Add(tag);
        using var notModified = await anonymous.SendAsync(again);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        Assert.Empty(await notModified.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task The_root_redirects_to_the_page_and_the_API_still_wants_its_token()
    {
        using var anonymous = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = _api.BaseAddress };

        using var root = await anonymous.GetAsync("/");
        using var hosts = await anonymous.GetAsync("/hosts");

        Assert.Equal(HttpStatusCode.Redirect, root.StatusCode);
        Assert.Equal("/ui/", root.Headers.Location?.ToString());
        Assert.Equal(HttpStatusCode.Unauthorized, hosts.StatusCode);
    }

    [Fact]
    public async Task An_unknown_file_is_a_404_and_a_change_a_405_each_with_the_APIs_error_JSON()
    {
        using var anonymous = _api.Client(null);

        using var missing = await anonymous.GetAsync("/ui/missing.js");
        using var posted = await anonymous.PostAsync("/ui/", new StringContent("{}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("no such file of the web view: /ui/missing.js", await missing.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.MethodNotAllowed, posted.StatusCode);
        Assert.Contains("only read", await posted.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Every_file_the_page_names_is_served_and_none_comes_from_another_origin()
    {
        using var anonymous = _api.Client(null);
        var index = await anonymous.GetStringAsync("/ui/");
        var named = LocalReference().Matches(index).Select(m => m.Groups[1].Value).ToList();

        Assert.Contains("app.js", named);
        Assert.Contains("app.css", named);
        foreach (var file in named)
        {
            using var response = await anonymous.GetAsync("/ui/" + file);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{file}: {response.StatusCode}");
        }
        // No CDN, no fonts or scripts from elsewhere: many data centres have no internet.
        foreach (var asset in WebView.Assets.Values)
            Assert.DoesNotMatch(ExternalUrl(), Encoding.UTF8.GetString(asset.Content));
    }

    [GeneratedRegex("""(?:src|href)="([^"#:]+)" """, RegexOptions.IgnorePatternWhitespace)]
    private static partial Regex LocalReference();

    [GeneratedRegex(@"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", RegexOptions.IgnoreCase)]
    private static partial Regex ExternalUrl();
}
