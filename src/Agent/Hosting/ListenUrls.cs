using System.Net;

namespace Replug.Agent.Hosting;

/// <summary>A listener's URLs from configuration (';' between several), checked as the coordinator's ApiUrls are.</summary>
public static class ListenUrls
{
    /// <summary>The URLs, trimmed; none for an empty setting.</summary>
    public static IReadOnlyList<string> Split(string? urls) =>
        (urls ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>
    /// Why <paramref name="urls"/> cannot be listened on, each naming <paramref name="key"/>: every
    /// URL is http with an IP address or localhost (Kestrel listens on every interface for a name
    /// it cannot use as an address, which would open the listener to the network).
    /// </summary>
    public static IReadOnlyList<string> Problems(string? urls, string key)
    {
        var problems = new List<string>();
        foreach (var url in Split(urls))
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var u) || u.Scheme != "http")
                problems.Add($"{key}: '{ConfigurationSections.Printable(url)}' is not an http URL (this listener has no certificate for https)");
            else if (!IPAddress.TryParse(u.Host.Trim('[', ']'), out _) && u.Host != "localhost")
                problems.Add($"{key}: '{url}': give an IP address (or localhost); for a host name Kestrel listens on every interface");
            else if (u.AbsolutePath != "/" || u.Query.Length > 0)
                problems.Add($"{key}: '{url}': give the address and port only (the paths are /metrics and /health/*)");
        }
        return problems;
    }
}
