using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace Replug.Ctl;

/// <summary>
/// The API's JSON as tables for people (scripts use <c>--json</c>: the JSON as it came). Pure: JSON in,
/// a table out; a field the API does not send shows as "-", so a newer or older coordinator still prints.
/// </summary>
public static class Views
{
    public static Table Hosts(JsonElement body) => Build(["HOST", "STATUS", "DRAINED", "NICS", "PORTS", "CAPACITY", "LOAD", "RESERVED", "SINCE"],
        Items(body, "hosts").Select(h => new[]
        {
            Text(h, "host"), Text(h, "status"), Text(h, "drained"), Count(h, "nics"), Text(h, "ports"),
            Text(h, "capacity"), Text(h, "load"), Text(h, "reserved"), Time(h, "since"),
        }));

    public static Table Devices(JsonElement body) => Build(["HOST", "DEVICE", "IDENTITY", "PCI SLOT", "HEALTHY"],
        Items(body, "devices").Select(d => new[] { Text(d, "host"), Text(d, "device"), Text(d, "identity"), Text(d, "pciSlot"), Text(d, "healthy") }));

    public static Table Nics(JsonElement body) => Build(["NIC", "HOST", "DEVICE", "SINCE"],
        Items(body, "nics").Select(n => new[] { Text(n, "nic"), Text(n, "host"), Text(n, "device"), Time(n, "since") }));

    public static Table Ports(JsonElement body) => Build(["PORT", "HOST", "STATE", "ACTIVE", "MEMBERS", "FORWARDING", "REDUNDANT", "HOME", "FAIL-OVER"],
        Items(body, "ports").Select(p => new[]
        {
            Text(Field(p, "spec"), "port"), Text(p, "host"), Text(p, "state"), Text(p, "active"), Text(p, "members"),
            Text(p, "forwarding"), Text(p, "redundant"), Text(p, "home"), Short(Text(p, "failover")),
        }));

    public static Table Failovers(JsonElement body) => Build(["ID", "PORT", "FROM", "TO", "STATUS", "REASON", "STARTED", "ENDED"],
        Items(body, "failovers").Select(f => new[]
        {
            Short(Text(f, "id")), Text(Field(f, "port"), "port"), Text(f, "from"), Text(f, "target"), Text(f, "status"),
            Text(f, "reason"), Time(f, "started"), Time(f, "ended"),
        }));

    public static Table Events(JsonElement body) => Build(["AT", "TYPE", "SUMMARY"],
        Items(body, "events").Select(e => new[] { Time(e, "at"), Text(e, "type"), Text(e, "summary") }));

    public static Table Decisions(JsonElement body) => Build(["#", "AT", "POLICY", "MODE", "ACTION", "OUTCOME", "REASON"],
        Items(body, "decisions").Select(d => new[]
        {
            Text(d, "number"), Time(d, "at"), Text(d, "policy"), Text(d, "mode"), Text(d, "summary"), Text(d, "outcome"), Text(d, "reason"),
        }));

    public static Table Operations(JsonElement body) => Build(["ID", "HOST", "KIND", "DEVICE", "PORT", "BY", "STATUS", "STARTED", "OUTCOME"],
        Items(body, "operations").Select(Operation));

    /// <summary>One operation (a detach's or attach's 202 answer) as a one-row table.</summary>
    public static Table OperationAccepted(JsonElement operation) =>
        Build(["ID", "HOST", "KIND", "DEVICE", "PORT", "BY", "STATUS", "STARTED", "OUTCOME"], [Operation(operation)]);

    public static Table Policies(JsonElement body)
    {
        var settings = Field(body, "settings");
        var table = Build(["POLICY", "MODE", "LEVEL", "SETTINGS"], new[] { ("load-balancing", "loadBalancing"), ("power-saving", "powerSaving") }.Select(p =>
        {
            var policy = Field(settings, p.Item2);
            var rest = policy.ValueKind == JsonValueKind.Object
                ? string.Join(", ", policy.EnumerateObject().Where(f => f.Name is not ("mode" or "level")).Select(f => $"{f.Name}={Format(f.Value)}"))
                : "-";
            return new[] { p.Item1, Text(policy, "mode"), Text(policy, "level"), rest };
        }));
        table.Caption($"interval {Text(settings, "interval")}; changed at run time: {Text(body, "changedAtRunTime")}; standby: {Text(body, "standby")}; " +
            $"unplugged: {Count(body, "unplugged")}; decisions made: {Text(body, "decisionsMade")}");
        return table;
    }

    public static Table DryRun(JsonElement body) => Build(["POLICY", "MODE", "WOULD DO", "REASON"],
        Items(body, "wouldDo").Select(d => new[] { Text(body, "policy"), Text(body, "mode"), Text(d, "summary"), Text(d, "reason") }));

    /// <summary>A change's answer (drain, migration, policy set...): its fields, one per row.</summary>
    public static Table Fields(JsonElement body) => Build(["FIELD", "VALUE"],
        body.ValueKind == JsonValueKind.Object ? body.EnumerateObject().Select(f => new[] { f.Name, Format(f.Value) }) : [["value", Format(body)]]);

    /// <summary>A streamed event as one line: when, its sequence number, its type, its summary.</summary>
    public static string EventLine(JsonElement data) =>
        $"{Time(data, "at")}  #{Text(data, "sequence")}  {Text(data, "type")}  {Text(data, "summary")}";

    /// <summary>An answer's <c>{"error": "..."}</c>, or the body itself when it is not that.</summary>
    public static string ErrorReason(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("error", out var error)
                && error.ValueKind == JsonValueKind.String)
                return error.GetString()!;
        }
        catch (JsonException)
        {
        }
        return body.Length == 0 ? "(no reason given)" : body.Trim();
    }

    private static string[] Operation(JsonElement o) =>
    [
        Short(Text(o, "id")), Text(o, "host"), Text(o, "kind"), Text(o, "device"), Text(o, "port"), Text(o, "by"), Text(o, "status"),
        Time(o, "started"), Text(o, "outcome"),
    ];

    private static Table Build(string[] columns, IEnumerable<string[]> rows)
    {
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var column in columns) table.AddColumn(new TableColumn(column));
        // Markup.Escape: a value is text, never Spectre markup ("[red]" in a reason stays as typed).
        foreach (var row in rows) table.AddRow([.. row.Select(Markup.Escape)]);
        return table;
    }

    private static IEnumerable<JsonElement> Items(JsonElement body, string name) =>
        Field(body, name) is { ValueKind: JsonValueKind.Array } items ? items.EnumerateArray() : [];

    private static JsonElement Field(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var value) ? value : default;

    private static string Text(JsonElement e, string name) => Format(Field(e, name));

    private static string Count(JsonElement e, string name) =>
        Field(e, name) is { ValueKind: JsonValueKind.Array } items ? items.GetArrayLength().ToString(CultureInfo.InvariantCulture) : "-";

    /// <summary>A time as the operator reads it: UTC to the second.</summary>
    private static string Time(JsonElement e, string name) =>
        Field(e, name) is { ValueKind: JsonValueKind.String } s && DateTimeOffset.TryParse(s.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.None, out var at)
            ? at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture)
            : Text(e, name);

    /// <summary>A GUID as the logs print it: its first 12 hex digits (enough for <c>GET /failovers/{id}</c>).</summary>
    private static string Short(string id) => Guid.TryParse(id, out var guid) ? guid.ToString("N")[..12] : id;

    private static string Format(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Undefined or JsonValueKind.Null => "-",
        JsonValueKind.String => value.GetString() is { Length: > 0 } s ? s : "\"\"",
        JsonValueKind.True => "yes",
        JsonValueKind.False => "no",
        JsonValueKind.Array => value.GetArrayLength() == 0 ? "-" : string.Join(", ", value.EnumerateArray().Select(Format)),
        JsonValueKind.Object => "{" + string.Join(", ", value.EnumerateObject().Select(f => $"{f.Name}={Format(f.Value)}")) + "}",
        _ => value.GetRawText(),
    };
}
