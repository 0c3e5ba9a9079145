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
        return HostNames.Problem(text) is { } problem ? Parsed<HostId>.Invalid($"{what}: {problem}") : Parsed<HostId>.Valid(new HostId(text!));
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
                if (!TryGetText(property.Value, out var text))
                    return Invalid($"{property.Name}: not valid text (a lone UTF-16 surrogate)");
                if (!fields.TryAdd(property.Name, text))
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

    /// <summary>
    /// A device in a path segment: "eth1" (a net device), "net:eth1", "pci:0000:03:00.0", a bare PCI
    /// slot ("0000:03:00.0"), or "net%2Feth1" (the form the API prints, escaped).
    /// </summary>
    public static Parsed<DeviceId> Device(string? text)
    {
        const string forms = "\"eth1\", \"net:eth1\", \"pci:0000:03:00.0\" or \"0000:03:00.0\"";
        if (string.IsNullOrWhiteSpace(text)) return Parsed<DeviceId>.Invalid($"device: must not be empty ({forms})");
        var unescaped = Uri.UnescapeDataString(text);
        DeviceId id;
        if (unescaped.StartsWith("pci:", StringComparison.OrdinalIgnoreCase)) id = DeviceId.Pci(unescaped[4..].ToLowerInvariant());
        else if (unescaped.StartsWith("net:", StringComparison.OrdinalIgnoreCase)) id = DeviceId.Net(unescaped[4..]);
        else if (PciSlot().IsMatch(unescaped.ToLowerInvariant())) id = DeviceId.Pci(unescaped.ToLowerInvariant());
        else if (!DeviceId.TryParse(unescaped, out id)) return Parsed<DeviceId>.Invalid($"device: '{text}' is not a device name ({forms})");
        if (!DeviceNames.IsSafe(id.Name) || id.Subsystem is not (Subsystems.Net or Subsystems.Pci))
            return Parsed<DeviceId>.Invalid($"device: '{text}' is not a net or PCI device name ({forms})");
        if (id.Subsystem == Subsystems.Pci && !PciSlot().IsMatch(id.Name))
            return Parsed<DeviceId>.Invalid($"device: '{id.Name}' is not a PCI slot (e.g. 0000:03:00.0)");
        return Parsed<DeviceId>.Valid(id);
    }

    /// <summary>
    /// The optional body of a detach or attach: empty, or <c>{"reason": "..."}</c> (at most 200
    /// characters, no control characters), recorded with the operation.
    /// </summary>
    public static Parsed<string?> Reason(ReadOnlySpan<byte> body)
    {
        if (body.IsEmpty) return Parsed<string?>.Valid(null);
        try
        {
            using var document = JsonDocument.Parse(body.ToArray(), new JsonDocumentOptions { MaxDepth = 2 });
            if (document.RootElement.ValueKind != JsonValueKind.Object) return Parsed<string?>.Invalid("the body must be a JSON object {\"reason\": \"...\"}");
            string? reason = null;
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Name != "reason") return Parsed<string?>.Invalid($"unknown property '{property.Name}' (reason)");
                if (property.Value.ValueKind != JsonValueKind.String) return Parsed<string?>.Invalid("reason: must be a string");
                if (!TryGetText(property.Value, out reason)) return Parsed<string?>.Invalid("reason: not valid text (a lone UTF-16 surrogate)");
            }
            if (reason is { Length: > 200 }) return Parsed<string?>.Invalid("reason: at most 200 characters");
            if (reason?.Any(char.IsControl) == true) return Parsed<string?>.Invalid("reason: no control characters");
            return Parsed<string?>.Valid(reason);
        }
        catch (JsonException e)
        {
            return Parsed<string?>.Invalid($"the body is not JSON: {e.Message}");
        }
    }

    /// <summary>
    /// A policy's new settings from a PUT body, over <paramref name="current"/>: the whole of one
    /// policy's settings (absent fields take their defaults), or of both with the interval when
    /// <paramref name="policy"/> is null. An unknown field, a wrong type or a bad value is a 400
    /// that names the field.
    /// </summary>
    public static Parsed<Policies.PolicySettings> PolicySettings(ReadOnlySpan<byte> body, string? policy, Policies.PolicySettings current,
        JsonSerializerOptions json)
    {
        if (body.IsEmpty) return Parsed<Policies.PolicySettings>.Invalid("the body is empty: expected the policy's settings as a JSON object");
        if (body.Length > MaxBodyBytes) return Parsed<Policies.PolicySettings>.Invalid($"the body is larger than {MaxBodyBytes} bytes");
        var strict = new JsonSerializerOptions(json) { UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow };
        Policies.PolicySettings settings;
        try
        {
            settings = policy switch
            {
                null => JsonSerializer.Deserialize<Policies.PolicySettings>(body, strict),
                Policies.LoadBalancer.Name => current with { LoadBalancing = JsonSerializer.Deserialize<Policies.LoadBalancingSettings>(body, strict)! },
                _ => current with { PowerSaving = JsonSerializer.Deserialize<Policies.PowerSavingSettings>(body, strict)! },
            } ?? throw new JsonException("the body is null");
            if (settings.LoadBalancing is null || settings.PowerSaving is null) throw new JsonException("both LoadBalancing and PowerSaving are required");
        }
        catch (JsonException e)
        {
            // System.Text.Json names the field in its path ("$.Level") and says what it expected.
            return Parsed<Policies.PolicySettings>.Invalid($"{(e.Path is { Length: > 1 } path ? path.TrimStart('$', '.') + ": " : "")}{e.Message}");
        }
        catch (Exception e) when (e is InvalidOperationException or NotSupportedException or ArgumentException)
        {
            return Parsed<Policies.PolicySettings>.Invalid(e.Message);
        }
        var problems = settings.Validate();
        return problems.Count > 0 ? Parsed<Policies.PolicySettings>.Invalid(string.Join("; ", problems)) : Parsed<Policies.PolicySettings>.Valid(settings);
    }

    /// <summary>A JSON string's text; false for one that escapes a lone surrogate ("\ud800"), which is not text .NET can hold.</summary>
    private static bool TryGetText(JsonElement value, out string text)
    {
        try
        {
            text = value.GetString()!;
            return true;
        }
        catch (InvalidOperationException)
        {
            text = "";
            return false;
        }
    }

    [GeneratedRegex(@"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")]
    private static partial Regex PciSlot();

    [GeneratedRegex("^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")]
    private static partial Regex MacAddress();

    [GeneratedRegex(@"^[0-9a-f]{4}:[0-9a-f]{4}@[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")]
    private static partial Regex PciIdentity();
}
