namespace Replug.Ctl;

/// <summary>One server-sent event: its type (<c>message</c> when the server named none), its id, its data.</summary>
public sealed record ServerSentEvent(string Type, long? Id, string Data);

/// <summary>
/// Reads server-sent events as the HTML standard's event-stream format defines them: fields up to a
/// blank line, several <c>data:</c> lines joined by newlines, comments (<c>:</c>) and unknown fields
/// skipped, one optional space after the colon. Pure over a <see cref="TextReader"/>.
/// </summary>
public static class ServerSentEvents
{
    public static async IAsyncEnumerable<ServerSentEvent> Read(TextReader reader, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        string? type = null;
        long? id = null;
        var data = new List<string>();
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (line.Length == 0)
            {
                if (data.Count > 0 || type is not null) yield return new ServerSentEvent(type ?? "message", id, string.Join('\n', data));
                type = null;
                id = null;
                data.Clear();
                continue;
            }
            if (line[0] == ':') continue;
            var colon = line.IndexOf(':');
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..];
            if (value.StartsWith(' ')) value = value[1..];
            switch (field)
            {
                case "event": type = value; break;
                case "data": data.Add(value); break;
                case "id" when long.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n): id = n; break;
            }
        }
    }
}
