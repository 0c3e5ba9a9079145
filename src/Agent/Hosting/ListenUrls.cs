using System.Net;

namespace Replug.Agent.Hosting;

/// <summary>A listener's URLs from configuration (';' between several): the agent's metrics listener, the coordinator's API.</summary>
public static class ListenUrls
{
    /// <summary>The URLs, trimmed; none for an empty setting.</summary>
    public static IReadOnlyList<string> Split(string? urls) =>
        (urls ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>
    /// Why <paramref name="urls"/> cannot be listened on, each naming <paramref name="key"/>: every URL
    /// is http, or https when <paramref name="httpsCertificate"/> says a certificate was given (null: this
    /// listener has no https), with an IP address or localhost (Kestrel listens on every interface for
    /// a name it cannot use as an address, which would open the listener to the network), and with no
    /// path (Kestrel refuses a path base at start). <paramref name="listeners"/>: the URLs that parsed.
    /// </summary>
    public static IReadOnlyList<string> Problems(string? urls, string key, bool? httpsCertificate, out IReadOnlyList<Uri> listeners)
    {
        var problems = new List<string>();
        var parsed = new List<Uri>();
        foreach (var url in Split(urls))
        {
            var printable = ConfigurationSections.Printable(url);
            if (!Uri.TryCreate(url, UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https"))
            {
                problems.Add($"{key}: '{printable}' is not an http{(httpsCertificate is null ? "" : "(s)")} URL");
                continue;
            }
            parsed.Add(u);
            if (u.Scheme == "https" && httpsCertificate is not true)
                problems.Add(httpsCertificate is null
                    ? $"{key}: '{printable}' is not an http URL (this listener has no certificate for https)"
                    : $"{key}: '{printable}': https needs a certificate (Kestrel:Certificates:Default:Path, and :KeyPath or :Password)");
            if (!IPAddress.TryParse(u.Host.Trim('[', ']'), out _) && u.Host != "localhost")
                problems.Add($"{key}: '{printable}': give an IP address (or localhost); for a host name Kestrel listens on every interface");
            if (u.AbsolutePath != "/" || u.Query.Length > 0)
                problems.Add($"{key}: '{printable}': give the address and port only (no path)");
        }
        listeners = parsed;
        return problems;
    }

    /// <inheritdoc cref="Problems(string?, string, bool?, out IReadOnlyList{Uri})"/>
    public static IReadOnlyList<string> Problems(string? urls, string key) => Problems(urls, key, httpsCertificate: null, out _);
}
