namespace Replug.Ctl;

/// <summary>Where the coordinator's API is and the bearer token to send it (none: the request goes without one).</summary>
public sealed record Connection(Uri BaseUrl, string? Token)
{
    public const string DefaultUrl = "http://127.0.0.1:8080";
    public const string UrlVariable = "REPLUG_URL";
    public const string TokenVariable = "REPLUG_TOKEN";
    public const string TokenFileVariable = "REPLUG_TOKEN_FILE";
    /// <summary>Where a coordinator started in this folder writes its generated token (Replug:Coordinator:Persistence:DataDirectory's default).</summary>
    public static readonly string DefaultTokenFile = Path.Combine("data", "api-token");

    /// <summary>
    /// The URL from <paramref name="url"/>, else REPLUG_URL, else <see cref="DefaultUrl"/>. The token from
    /// <paramref name="tokenFile"/> (--token-file), else REPLUG_TOKEN, else the file REPLUG_TOKEN_FILE names,
    /// else ./data/api-token when it exists. A named file that cannot be read, or a malformed URL, is
    /// the error (a usage error): never silently no token.
    /// </summary>
    public static (Connection? Connection, string? Error) Resolve(string? url, string? tokenFile, Func<string, string?> environment, string currentDirectory)
    {
        var text = NonEmpty(url) ?? NonEmpty(environment(UrlVariable)) ?? DefaultUrl;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var baseUrl) || baseUrl.Scheme is not ("http" or "https"))
            return (null, $"'{text}' is not the coordinator's URL (e.g. {DefaultUrl})");
        // Paths are resolved under the base: "http://proxy/replug" must keep its "replug/".
        if (!baseUrl.AbsolutePath.EndsWith('/')) baseUrl = new Uri(baseUrl.GetLeftPart(UriPartial.Path) + "/");

        string? token = null, error = null;
        if (NonEmpty(tokenFile) is { } file) token = ReadToken(file, "--token-file", out error);
        else if (NonEmpty(environment(TokenVariable)) is { } value) token = value.Trim();
        else if (NonEmpty(environment(TokenFileVariable)) is { } named) token = ReadToken(named, TokenFileVariable, out error);
        else if (Path.Combine(currentDirectory, DefaultTokenFile) is var generated && File.Exists(generated))
            token = ReadToken(generated, DefaultTokenFile, out error);
        return error is null ? (new Connection(baseUrl, token), null) : (null, error);
    }

    private static string? ReadToken(string path, string source, out string? error)
    {
        error = null;
        try
        {
            var token = File.ReadAllText(path).Trim();
            if (token.Length > 0) return token;
            error = $"{source}: {path} is empty";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error = $"{source}: cannot read {path}: {e.Message}";
        }
        return null;
    }

    private static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;
}
