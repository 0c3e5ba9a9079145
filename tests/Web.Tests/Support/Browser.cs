using Microsoft.Playwright;
using Replug.Agent.Tests.Support;
using Xunit.Abstractions;

namespace Replug.Web.Tests.Support;

/// <summary>
/// Headless Chromium driven by Playwright: Debian's <c>chromium</c> package (installed by
/// <c>.ci/run</c>), never a browser Playwright would download. Each test gets a fresh context (its
/// own sessionStorage, so its own token) and keeps a screenshot of what it saw.
/// </summary>
public sealed class Browser : IAsyncDisposable
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private readonly IPlaywright _playwright;
    private readonly IBrowser _browser;

    private Browser(IPlaywright playwright, IBrowser browser)
    {
        _playwright = playwright;
        _browser = browser;
    }

    /// <summary>Where the screenshots go: TestResults/screenshots under the test's output folder.</summary>
    public static string ScreenshotFolder => Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "TestResults", "screenshots")).FullName;

    public static async Task<Browser> Launch()
    {
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            // As root, Chromium refuses to start with its sandbox on.
            Args = ["--no-sandbox"],
        });
        return new Browser(playwright, browser);
    }

    /// <summary>A new page, optionally with <paramref name="token"/> already in its sessionStorage (as if pasted before).</summary>
    public async Task<IPage> NewPage(string? token = null)
    {
        var context = await _browser.NewContextAsync(new BrowserNewContextOptions
        {
            ViewportSize = new ViewportSize { Width = 1440, Height = 900 },
            ColorScheme = ColorScheme.Light,
        });
        if (token is not null)
            await context.AddInitScriptAsync($"sessionStorage.setItem('replug.token', {System.Text.Json.JsonSerializer.Serialize(token)});");
        return await context.NewPageAsync();
    }

    /// <summary>Saves the page (the viewport, or all of it) as TestResults/screenshots/NAME.png and says where.</summary>
    public static async Task<string> Screenshot(IPage page, string name, ITestOutputHelper output, bool fullPage = true)
    {
        var path = Path.Combine(ScreenshotFolder, name + ".png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = fullPage });
        output.WriteLine($"screenshot: {path}");
        return path;
    }

    public async ValueTask DisposeAsync()
    {
        await _browser.CloseAsync();
        _playwright.Dispose();
    }
}

/// <summary>Why the browser tests cannot run here, or null: a real coordinator on the real kernel, and Chromium.</summary>
public static class BrowserRequirements
{
    /// <summary>For a standalone node on the real kernel: root on Linux, nftables, and Chromium.</summary>
    public static string? MissingReason()
    {
        if (KernelRequirements.MissingReason() is { } kernel) return kernel;
        if (!Shell.TryRun("nft", "--version", out _)) return "needs nftables ('nft'): a standalone node installs its kernel fence";
        return MissingChromium();
    }

    /// <summary>For a coordinator alone: Chromium on Linux (as root it runs without its sandbox).</summary>
    public static string? MissingChromium()
    {
        if (!OperatingSystem.IsLinux()) return "needs Linux (Debian's chromium)";
        if (!File.Exists(Browser.ChromiumPath)) return $"needs Chromium at {Browser.ChromiumPath} (Debian's chromium package; .ci/run installs it)";
        return null;
    }
}

/// <summary>A fact that needs Chromium only (a coordinator process, no kernel), and says why when it skips.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (BrowserRequirements.MissingChromium() is { } reason) Skip = reason;
    }
}

/// <summary>A fact that runs only where <see cref="BrowserRequirements"/> are met, and says why when it skips.</summary>
public sealed class BrowserFactAttribute : FactAttribute
{
    public BrowserFactAttribute()
    {
        if (BrowserRequirements.MissingReason() is { } reason) Skip = reason;
    }
}
