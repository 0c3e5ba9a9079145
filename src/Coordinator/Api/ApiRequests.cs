using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;

namespace Replug.Coordinator.Api;

/// <summary>A request value that was checked: either the value, or the reason it was refused (a 400's message).</summary>
public sealed record Parsed<T>
{
    private Parsed(T value, string? error) { Value = value; Error = error; }

    public T Value { get; }
    public string? Error { get; }
    public bool Ok => Error is null;

    public static Parsed<T> Valid(T value) => new(value, null);
    public static Parsed<T> Invalid(string reason) => new(default!, reason);
}

/// <summary>
/// Everything an operator sends the HTTP API is checked here, in order, before anything reaches
/// the coordinator; every refusal names what was wrong. Pure: no HTTP, no actors.
/// </summary>
public static partial class ApiRequests
{
    /// <summary>Larger bodies are refused unread: a migration notice is a few dozen bytes.</summary>
    public const int MaxBodyBytes = 4096;
    public const int DefaultEvents = 100;
    /// <summary>What the coordinator keeps (<see cref="Singleton.CoordinatorSettings.RecentEventsKept"/>).</summary>
    public const int MaxEvents = 1000;
    /// <summary>The shortest fail-over id accepted: the 12 hex digits the logs print.</summary>
    public const int ShortFailoverIdLength = 12;

    private static readonly string[] MigrationFields = ["nic", "from", "to", "phase"];

    /// <summary>A host's name as the agent gives it (a path segment, already URL-decoded).</summary>
    public static Parsed<HostId> Host(string? text, string what = "host")
    {
        if (string.IsNullOrWhiteSpace(text)) return Parsed<HostId>.Invalid($"{what}: a host name must not be empty");
        if (text.Length > 255) return Parsed<HostId>.Invalid($"{what}: a host name is at most 255 characters");
        if (text.Any(char.IsControl)) return Parsed<HostId>.Invalid($"{what}: a host name has no control characters");
        return Parsed<HostId>.Valid(new HostId(text));
    }

    /// <summary>"?max=N" of /events: absent means <see cref="DefaultEvents"/>.</summary>
    public static Parsed<int> Max(string? text)
    {
        if (text is null) return Parsed<int>.Valid(DefaultEvents);
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var max) || max is < 1 or > MaxEvents)
            return Parsed<int>.Invalid($"max must be a whole number from 1 to {MaxEvents}, not '{text}'");
        return Parsed<int>.Valid(max);
    }

    /// <summary>A migration's phase: start, complete or abort (any case).</summary>
    public static Parsed<MigrationPhase> Phase(string? text) => text?.ToLowerInvariant() switch
    {
        "start" => Parsed<MigrationPhase>.Valid(MigrationPhase.Start),
        "complete" => Parsed<MigrationPhase>.Valid(MigrationPhase.Complete),
        "abort" => Parsed<MigrationPhase>.Valid(MigrationPhase.Abort),
        _ => Parsed<MigrationPhase>.Invalid($"phase: '{text}' is not a phase (start, complete, abort)"),
    };

    /// <summary>
    /// A NIC identity as <c>/nics</c> prints it, "Kind:value": "PermanentMac:52:54:00:12:34:56",
    /// "Mac:...", or "Pci:8086:10fb@0000:03:00.0". Written the way the agents report it (lower-case
    /// hex), so an upper-case MAC still names the same NIC.
    /// </summary>
    public static Parsed<NicIdentity> Nic(string? text)
    {
        var kinds = string.Join(", ", Enum.GetNames<NicIdentityKind>());
        if (string.IsNullOrEmpty(text)) return Parsed<NicIdentity>.Invalid($"nic: must be \"Kind:value\" ({kinds})");
        // The value itself holds colons (a MAC); the kind never does, so the first colon splits.
        var colon = text.IndexOf(':');
        if (colon <= 0) return Parsed<NicIdentity>.Invalid($"nic: '{text}' is not \"Kind:value\" ({kinds})");
        var kindText = text[..colon];
        var value = text[(colon + 1)..].ToLowerInvariant();
        // Enum.TryParse also takes numbers ("1"): only a member name will do.
        if (!char.IsAsciiLetter(kindText[0]) || !Enum.TryParse<NicIdentityKind>(kindText, ignoreCase: false, out var kind) || !Enum.IsDefined(kind))
            return Parsed<NicIdentity>.Invalid($"nic: '{kindText}' is not a NIC identity kind ({kinds})");
        return kind switch
        {
            NicIdentityKind.PermanentMac or NicIdentityKind.Mac when !MacAddress().IsMatch(value) =>
                Parsed<NicIdentity>.Invalid($"nic: '{value}' is not a MAC address (six hex octets, e.g. 52:54:00:12:34:56)"),
            NicIdentityKind.PermanentMac or NicIdentityKind.Mac when value.Replace(":", "").All(c => c == '0') =>
                Parsed<NicIdentity>.Invalid("nic: an all-zero MAC never identifies a NIC"),
            NicIdentityKind.Pci when !PciIdentity().IsMatch(value) =>
                Parsed<NicIdentity>.Invalid($"nic: '{value}' is not a PCI identity \"vendor:device@slot\" (e.g. 8086:10fb@0000:03:00.0)"),
            _ => Parsed<NicIdentity>.Valid(new NicIdentity(kind, value)),
        };
    }

    /// <summary>
    /// A fail-over id: the full GUID, or at least its first 12 hex digits (as the logs print it).
    /// The result is the lower-case hex prefix to match against <c>Guid.ToString("N")</c>.
    /// </summary>
    public static Parsed<string> FailoverIdPrefix(string? text)
    {
        if (Guid.TryParse(text, out var guid)) return Parsed<string>.Valid(guid.ToString("N"));
        if (text is null || text.Length is < ShortFailoverIdLength or > 32 || !text.All(char.IsAsciiHexDigit))
            return Parsed<string>.Invalid($"'{text}' is not a fail-over id (a GUID, or at least its first {ShortFailoverIdLength} hex digits)");
        return Parsed<string>.Valid(text.ToLowerInvariant());
    }

    /// <summary>
    /// The body of <c>POST /migrations</c>: a JSON object with exactly the string properties
    /// nic, from, to and phase. Checked in order: not empty, JSON, an object, known and single
    /// properties, each a string, none missing, then each value.
    /// </summary>
    public static Parsed<OperatorProtocol.MigrationNotice> Migration(ReadOnlySpan<byte> body)
    {
        const string shape = "expected a JSON object {\"nic\": \"PermanentMac:52:54:00:12:34:56\", \"from\": \"host-a\", \"to\": \"host-b\", \"phase\": \"start|complete|abort\"}";
        if (body.IsEmpty) return Invalid($"the body is empty: {shape}");
        if (body.Length > MaxBodyBytes) return Invalid($"the body is larger than {MaxBodyBytes} bytes");

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body.ToArray(), new JsonDocumentOptions { MaxDepth = 4 });
        }
        catch (JsonException e)
        {
            return Invalid($"the body is not JSON: {e.Message}");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object) return Invalid($"the body is a JSON {Kind(document.RootElement)}: {shape}");
            var fields = new Dictionary<string, string>();
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!MigrationFields.Contains(property.Name))
                    return Invalid($"unknown property '{property.Name}' ({string.Join(", ", MigrationFields)})");
                if (property.Value.ValueKind != JsonValueKind.String)
                    return Invalid($"{property.Name}: must be a string, not a JSON {Kind(property.Value)}");
                if (!fields.TryAdd(property.Name, property.Value.GetString()!))
                    return Invalid($"{property.Name}: given twice");
            }
            if (MigrationFields.FirstOrDefault(f => !fields.ContainsKey(f)) is { } missing)
                return Invalid($"missing property '{missing}': {shape}");

            var nic = Nic(fields["nic"]);
            if (!nic.Ok) return Invalid(nic.Error!);
            var from = Host(fields["from"], "from");
            if (!from.Ok) return Invalid(from.Error!);
            var to = Host(fields["to"], "to");
            if (!to.Ok) return Invalid(to.Error!);
            if (from.Value == to.Value) return Invalid($"from and to are the same host '{from.Value}'");
            var phase = Phase(fields["phase"]);
            if (!phase.Ok) return Invalid(phase.Error!);
            return Parsed<OperatorProtocol.MigrationNotice>.Valid(new OperatorProtocol.MigrationNotice(nic.Value, from.Value, to.Value, phase.Value));
        }

        static Parsed<OperatorProtocol.MigrationNotice> Invalid(string reason) => Parsed<OperatorProtocol.MigrationNotice>.Invalid(reason);
        static string Kind(JsonElement e) => e.ValueKind.ToString().ToLowerInvariant();
    }

    [GeneratedRegex("^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")]
    private static partial Regex MacAddress();

    [GeneratedRegex(@"^[0-9a-f]{4}:[0-9a-f]{4}@[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")]
    private static partial Regex PciIdentity();
}
