using System.Net;

namespace Replug.Coordinator.Api;

/// <summary>What a token may do: <see cref="Read"/> every GET and HEAD; <see cref="Write"/> everything.</summary>
public enum ApiScope
{
    Read = 1,
    Write = 2,
}

/// <summary>One bearer token of the API (section "Replug:Coordinator:Api:Tokens:N"): its value, or a file that holds it.</summary>
public sealed class ApiTokenOptions
{
    /// <summary>Who holds it ("prometheus", "ops"): logged with what it changed, never the token itself.</summary>
    public string Name { get; set; } = "";
    public ApiScope Scope { get; set; } = ApiScope.Read;
    /// <summary>The token itself; prefer <see cref="File"/>, which keeps it out of the environment and the command line.</summary>
    public string? Value { get; set; }
    /// <summary>A file whose content (surrounding white space removed) is the token, e.g. a container secret.</summary>
    public string? File { get; set; }
}

/// <summary>How many requests one caller (one remote address) may make (section "Replug:Coordinator:Api:RateLimit").</summary>
public sealed class ApiRateLimitOptions
{
    /// <summary>Requests per second a caller may keep up; 0 turns the limit off.</summary>
    public int PermitsPerSecond { get; set; } = 100;
    /// <summary>Requests a caller may make at once after a quiet spell.</summary>
    public int Burst { get; set; } = 200;
}

/// <summary>
/// Who may use the operators' HTTP API (section "Replug:Coordinator:Api"). Every call but
/// <c>/health/*</c> needs a bearer token. With no token configured and only loopback listeners, the
/// coordinator makes one (scope Write) in <see cref="GeneratedTokenFileName"/> under its data folder,
/// readable by its owner only; a listener on any other address needs tokens configured.
/// </summary>
public sealed class ApiAccessOptions
{
    public const string Section = "Replug:Coordinator:Api";
    public const string GeneratedTokenFileName = "api-token";
    /// <summary>Shorter tokens could be guessed; 16 characters of a random base64 string are 96 bits.</summary>
    public const int MinimumTokenLength = 16;

    public List<ApiTokenOptions> Tokens { get; set; } = [];
    public ApiRateLimitOptions RateLimit { get; set; } = new();

    /// <summary>Every problem, each naming its key; <paramref name="apiUrls"/> are the listeners (already checked as URLs).</summary>
    public IReadOnlyList<string> Validate(IEnumerable<Uri> apiUrls)
    {
        var errors = new List<string>();
        void Check(bool ok, string key, string problem) { if (!ok) errors.Add($"{Section}:{key}: {problem}"); }
        for (var i = 0; i < Tokens.Count; i++)
        {
            var token = Tokens[i];
            var key = $"Tokens:{i}";
            Check(token.Name is { Length: > 0 } && token.Name.All(c => Shared.Devices.HostNames.IsPrintable(c) && !char.IsWhiteSpace(c)),
                $"{key}:Name", $"'{Agent.Hosting.ConfigurationSections.Printable(token.Name)}' must be a name of printable characters without spaces");
            Check(Enum.IsDefined(token.Scope), $"{key}:Scope", $"'{token.Scope}' is not a scope ({string.Join(", ", Enum.GetNames<ApiScope>())})");
            Check((token.Value is null) != (token.File is null), key, "give the token as Value or as File (one of them)");
            if (token.Value is not null)
                Check(IsToken(token.Value), $"{key}:Value", $"must be at least {MinimumTokenLength} printable characters without spaces");
            if (token.File is not null)
            {
                var (value, problem) = ReadTokenFile(token.File);
                Check(problem is null, $"{key}:File", problem ?? "");
                if (problem is null)
                    Check(IsToken(value!), $"{key}:File", $"'{token.File}' must hold at least {MinimumTokenLength} printable characters without spaces");
            }
        }
        var names = Tokens.Select(t => t.Name).Where(n => n.Length > 0).GroupBy(n => n, StringComparer.Ordinal).Where(g => g.Count() > 1);
        foreach (var name in names) Check(false, "Tokens", $"the name '{name.Key}' is given to more than one token");
        var exposed = apiUrls.Where(u => !IsLoopback(u)).Select(u => u.ToString()).ToList();
        Check(Tokens.Count > 0 || exposed.Count == 0, "Tokens",
            $"the API listens on {string.Join(", ", exposed)}, not only on loopback: configure its tokens (none is made up for a listener others can reach)");
        Check(RateLimit.PermitsPerSecond >= 0, "RateLimit:PermitsPerSecond", $"{RateLimit.PermitsPerSecond} must not be negative (0: no limit)");
        Check(RateLimit.Burst >= 1, "RateLimit:Burst", $"{RateLimit.Burst} must be at least 1");
        return errors;
    }

    /// <summary>A URL whose host is a loopback address or "localhost".</summary>
    public static bool IsLoopback(Uri url)
    {
        var host = url.Host.Trim('[', ']');
        return host == "localhost" || (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address));
    }

    public static bool IsToken(string text) =>
        text.Length >= MinimumTokenLength && text.All(c => c is > ' ' and < '\u007f');

    /// <summary>The token a file holds (trimmed), or why it cannot be read.</summary>
    public static (string? Value, string? Problem) ReadTokenFile(string path)
    {
        try
        {
            return (System.IO.File.ReadAllText(path).Trim(), null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return (null, $"'{path}' cannot be read: {e.Message}");
        }
    }
}
