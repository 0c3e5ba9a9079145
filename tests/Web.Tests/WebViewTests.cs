using System.Diagnostics;
using Microsoft.Playwright;
using Replug.Ctl.Tests.Support;
using Replug.Web.Tests.Support;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace Replug.Web.Tests;

/// <summary>
/// The web view in headless Chromium against a real standalone node on the real kernel
/// (<see cref="StandaloneNode"/>): what the page shows, how fast a kernel event reaches it, and that
/// its actions go through the API's token checks.
/// </summary>
[Collection(RealProcesses.Name)]
public sealed class WebViewTests(StandaloneNode node, ITestOutputHelper output) : IClassFixture<StandaloneNode>, IAsyncLifetime
{
    private static readonly LocatorAssertionsToBeVisibleOptions Loaded = new() { Timeout = 30_000 };
    private Browser _browser = null!;

    public async Task InitializeAsync()
    {
        if (BrowserRequirements.MissingReason() is null) _browser = await Browser.Launch();
    }

    private async Task<IPage> OpenWithToken(string token)
    {
        var page = await _browser.NewPage();
        var first = await page.GotoAsync(new Uri(node.Url, "/").ToString());
        Assert.EndsWith("/ui/", page.Url);
        Assert.Equal(200, first!.Status);
        await page.Locator("#token").FillAsync(token);
        await page.GetByRole(AriaRole.Button, new() { Name = "Use token" }).ClickAsync();
        await Expect(Host(page)).ToBeVisibleAsync(Loaded);
        return page;
    }

    private static ILocator Host(IPage page) => page.Locator($"article[data-host='{StandaloneNode.HostName}']");
    private static ILocator Port(IPage page, string name) => Host(page).Locator($"li.port[data-port='{name}']");

    [BrowserFact]
    public async Task The_page_shows_the_host_its_NICs_and_its_ports_with_the_active_and_standby_devices()
    {
        var page = await OpenWithToken(node.WriteToken);

        await Expect(Host(page).Locator(".badge.Up")).ToBeVisibleAsync();
        await Expect(Host(page).Locator("li.nic[data-device='net/v1']")).ToBeVisibleAsync();
        await Expect(Port(page, "uplink")).ToHaveAttributeAsync("data-active", "net/v1");
        await Expect(Port(page, "uplink").Locator("[data-role='active']")).ToHaveTextAsync("net/v1 ▶ active");
        await Expect(Port(page, "uplink").Locator("[data-role='standby']")).ToContainTextAsync("net/v2");
        await Expect(page.Locator("#connection")).ToHaveTextAsync("live");
        await Browser.Screenshot(page, "host-and-ports", output);
    }

    [BrowserFact]
    public async Task Deleting_the_active_veth_of_a_port_shows_it_faulted_and_the_standby_active_within_a_second()
    {
        var page = await OpenWithToken(node.WriteToken);
        await Expect(Port(page, "spare")).ToHaveAttributeAsync("data-active", "net/v3");
        await Expect(page.Locator("#connection")).ToHaveTextAsync("live");

        var clock = Stopwatch.StartNew();
        node.Namespace.Ip("link del v3");
        // The bound, from the deletion to the page (kernel, agent, coordinator, event stream, page).
        var budget = (float)Math.Max(1, 1000 - clock.Elapsed.TotalMilliseconds);
        await Expect(Port(page, "spare")).ToHaveAttributeAsync("data-active", "net/v4", new() { Timeout = budget });
        await Expect(Port(page, "spare").Locator("[data-role='faulted']")).ToContainTextAsync("net/v3",
            new() { Timeout = (float)Math.Max(1, 1000 - clock.Elapsed.TotalMilliseconds) });
        output.WriteLine($"the page showed spare faulted over to net/v4 {clock.Elapsed.TotalMilliseconds:0} ms after v3 was deleted");
        await Expect(page.Locator("#feed li[data-type='PortReported']").First).ToBeVisibleAsync();
        await Browser.Screenshot(page, "veth-deleted", output);
    }

    [BrowserFact]
    public async Task A_drain_from_the_page_asks_for_confirmation_and_shows_in_the_API()
    {
        var page = await OpenWithToken(node.WriteToken);
        Assert.False((await node.Host()).GetProperty("drained").GetBoolean());

        await Host(page).GetByRole(AriaRole.Button, new() { Name = $"drain {StandaloneNode.HostName}", Exact = true }).ClickAsync();
        await Expect(page.Locator("#confirm")).ToBeVisibleAsync();
        await Expect(page.Locator("#confirm-text")).ToContainTextAsync($"Drain {StandaloneNode.HostName}");
        await Browser.Screenshot(page, "drain-confirmation", output);
        await page.Locator("#confirm-ok").ClickAsync();

        await node.Until(async () => (await node.Host()).GetProperty("drained").GetBoolean(), "the drain in GET /hosts");
        await Expect(Host(page).Locator(".badge.drained")).ToBeVisibleAsync();
        await Browser.Screenshot(page, "drained", output);

        // Back as it was, through the page too.
        await Host(page).GetByRole(AriaRole.Button, new() { Name = $"undrain {StandaloneNode.HostName}", Exact = true }).ClickAsync();
        await page.Locator("#confirm-ok").ClickAsync();
        await node.Until(async () => !(await node.Host()).GetProperty("drained").GetBoolean(), "the undrain in GET /hosts");
    }

    [BrowserFact]
    public async Task A_policys_mode_switched_from_the_page_after_confirmation_shows_in_the_API()
    {
        var page = await OpenWithToken(node.WriteToken);
        var policy = page.Locator(".policy[data-policy='power-saving']");
        await Expect(policy).ToContainTextAsync("now Advise");

        await policy.GetByLabel("Power saving").SelectOptionAsync("Off");
        await policy.GetByRole(AriaRole.Button, new() { Name = "apply" }).ClickAsync();
        await Expect(page.Locator("#confirm-text")).ToContainTextAsync("Switch power-saving to Off");
        await page.Locator("#confirm-ok").ClickAsync();

        await node.Until(async () => (await node.Get("/policies")).GetProperty("settings").GetProperty("powerSaving").GetProperty("mode").GetString() == "Off",
            "power saving Off in GET /policies");
        await Expect(policy).ToContainTextAsync("now Off");
        await Browser.Screenshot(page, "policy-mode", output);

        await policy.GetByLabel("Power saving").SelectOptionAsync("Advise");
        await policy.GetByRole(AriaRole.Button, new() { Name = "apply" }).ClickAsync();
        await page.Locator("#confirm-ok").ClickAsync();
        await node.Until(async () => (await node.Get("/policies")).GetProperty("settings").GetProperty("powerSaving").GetProperty("mode").GetString() == "Advise",
            "power saving back to Advise");
    }

    [BrowserFact]
    public async Task With_a_read_token_a_drain_is_refused_and_the_page_says_so()
    {
        var page = await OpenWithToken(node.ReadToken);

        await Host(page).GetByRole(AriaRole.Button, new() { Name = $"drain {StandaloneNode.HostName}", Exact = true }).ClickAsync();
        await page.Locator("#confirm-ok").ClickAsync();

        await Expect(page.Locator("#banner")).ToContainTextAsync("refused (403)");
        await Expect(page.Locator("#banner")).ToContainTextAsync("may only read");
        Assert.False((await node.Host()).GetProperty("drained").GetBoolean());
        await Browser.Screenshot(page, "read-token-refused", output);
    }

    [BrowserFact]
    public async Task Without_a_token_the_page_asks_for_one_and_a_wrong_one_is_refused()
    {
        var page = await _browser.NewPage();
        await page.GotoAsync(new Uri(node.Url, "/ui/").ToString());
        await Expect(page.Locator("#banner")).ToContainTextAsync("token missing");
        Assert.Equal(0, await page.Locator("article.host").CountAsync());

        await page.Locator("#token").FillAsync("not-a-token-of-this-coordinator");
        await page.GetByRole(AriaRole.Button, new() { Name = "Use token" }).ClickAsync();
        await Expect(page.Locator("#banner")).ToContainTextAsync("token missing or refused (401)");
        Assert.Equal(0, await page.Locator("article.host").CountAsync());
        await Browser.Screenshot(page, "no-token", output);

        // The page's files carry no data and are served without a token; the data is not.
        using var anonymous = new HttpClient { BaseAddress = node.Url };
        using var drain = await anonymous.PostAsync($"/hosts/{StandaloneNode.HostName}/drain", null);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, drain.StatusCode);
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null) await _browser.DisposeAsync();
    }
}
