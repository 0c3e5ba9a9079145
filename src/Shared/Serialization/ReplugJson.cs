using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;

namespace Replug.Shared.Serialization;

/// <summary>
/// The JSON conventions of every Replug serializer, stated once. Reflection-based (no source
/// generator) but nothing implicit:
/// <list type="bullet">
/// <item>properties camelCase; enums by member name (PascalCase, numbers refused);</item>
/// <item>ids as plain strings: <see cref="DeviceId"/> "subsystem/name", <see cref="HostId"/> and
/// <see cref="PortId"/> their value, <see cref="NicIdentity"/> "Kind:value" (as its ToString),
/// <see cref="CommandId"/> a GUID "D" string;</item>
/// <item>a record is its constructor: get-only computed properties (<c>PortReport.Port</c>) are not written;</item>
/// <item>reading is strict: a missing constructor parameter without a default, an unknown
/// property, a null in a non-nullable reference, or a number for an enum is an error. A change
/// of shape therefore needs a new version and an upcaster, never a silent default.</item>
/// </list>
/// </summary>
public static class ReplugJson
{
    /// <summary>The options of <c>HostProtocolSerializer</c> and <c>OperatorProtocolSerializer</c>.</summary>
    public static JsonSerializerOptions Options { get; } = CreateOptions();

    /// <summary>
    /// Replug's options plus <paramref name="additionalConverters"/> (for a project's own value
    /// types, e.g. <c>new GuidIdConverter&lt;FailoverId&gt;(g => new(g), id => id.Value)</c>);
    /// these take precedence over the built-in ones. The result is read-only.
    /// </summary>
    public static JsonSerializerOptions CreateOptions(params IEnumerable<JsonConverter> additionalConverters)
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.General)
        {
            PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
            PropertyNameCaseInsensitive = false,
            DefaultIgnoreCondition = JsonIgnoreCondition.Never,
            IncludeFields = false,
            NumberHandling = JsonNumberHandling.Strict,
            UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
            RespectNullableAnnotations = true,
            RespectRequiredConstructorParameters = true,
            AllowTrailingCommas = false,
            ReadCommentHandling = JsonCommentHandling.Disallow,
            MaxDepth = 32,
            WriteIndented = false,
            TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { WriteConstructorStateOnly } },
        };
        foreach (var converter in additionalConverters) options.Converters.Add(converter);
        options.Converters.Add(new DeviceIdConverter());
        options.Converters.Add(new StringIdConverter<HostId>(s => new HostId(s), id => id.Value));
        options.Converters.Add(new StringIdConverter<PortId>(s => new PortId(s), id => id.Value));
        options.Converters.Add(new NicIdentityConverter());
        options.Converters.Add(new GuidIdConverter<CommandId>(g => new CommandId(g), id => id.Value));
        options.Converters.Add(new JsonStringEnumConverter(namingPolicy: null, allowIntegerValues: false));
        options.MakeReadOnly(populateMissingResolver: false);
        return options;
    }

    /// <summary>
    /// Drops get-only properties that no constructor parameter sets (e.g. <c>PortReport.Port =>
    /// Spec.Port</c>): they are derived, so writing them only duplicates state and, with unknown
    /// members disallowed, would make the payload unreadable.
    /// </summary>
    private static void WriteConstructorStateOnly(JsonTypeInfo typeInfo)
    {
        if (typeInfo.Kind != JsonTypeInfoKind.Object) return;
        for (var i = typeInfo.Properties.Count - 1; i >= 0; i--)
        {
            var property = typeInfo.Properties[i];
            if (property.Set is null && property.AssociatedParameter is null) typeInfo.Properties.RemoveAt(i);
        }
    }
}

/// <summary>A <see cref="DeviceId"/> as "subsystem/name", the form <see cref="DeviceId.ToString"/> writes.</summary>
public sealed class DeviceIdConverter : JsonConverter<DeviceId>
{
    public override DeviceId Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        Parse(reader.TokenType == JsonTokenType.String ? reader.GetString() : throw new JsonException("A device id must be a string \"subsystem/name\"."));

    public override void Write(Utf8JsonWriter writer, DeviceId value, JsonSerializerOptions options) =>
        writer.WriteStringValue(Format(value));

    public override DeviceId ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        Parse(reader.GetString());

    public override void WriteAsPropertyName(Utf8JsonWriter writer, DeviceId value, JsonSerializerOptions options) =>
        writer.WritePropertyName(Format(value));

    private static string Format(DeviceId value)
    {
        if (string.IsNullOrEmpty(value.Subsystem) || string.IsNullOrEmpty(value.Name))
            throw new JsonException("A default or empty DeviceId cannot be written.");
        return value.ToString();
    }

    private static DeviceId Parse(string? text)
    {
        // The wire form always has the subsystem: a bare name (which DeviceId.TryParse reads as
        // a net device, for operators' convenience) is not something a Replug node writes.
        if (text is null || text.IndexOf('/') <= 0 || !DeviceId.TryParse(text, out var id))
            throw new JsonException($"'{text}' is not a device id \"subsystem/name\" with a safe kernel name.");
        return id;
    }
}

/// <summary>A <see cref="NicIdentity"/> as "Kind:value" (as its ToString), e.g. "PermanentMac:00:1b:21:aa:bb:cc".</summary>
public sealed class NicIdentityConverter : JsonConverter<NicIdentity>
{
    public override NicIdentity Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String) throw new JsonException("A NIC identity must be a string \"Kind:value\".");
        var text = reader.GetString()!;
        // The value itself holds colons (a MAC); the kind never does, so the first colon splits.
        var colon = text.IndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
            throw new JsonException($"'{text}' is not a NIC identity \"Kind:value\".");
        var kindText = text.AsSpan(0, colon);
        // Enum.TryParse also accepts numbers ("1") and undefined values: only a member name will do.
        if (!char.IsAsciiLetter(kindText[0]) || !Enum.TryParse<NicIdentityKind>(kindText, ignoreCase: false, out var kind) || !Enum.IsDefined(kind))
            throw new JsonException($"'{kindText}' is not a NIC identity kind ({string.Join(", ", Enum.GetNames<NicIdentityKind>())}).");
        return new NicIdentity(kind, text[(colon + 1)..]);
    }

    public override void Write(Utf8JsonWriter writer, NicIdentity value, JsonSerializerOptions options)
    {
        if (string.IsNullOrEmpty(value.Value) || !Enum.IsDefined(value.Kind))
            throw new JsonException($"The NIC identity '{value.Kind}:{value.Value}' cannot be written: it needs a defined kind and a value.");
        writer.WriteStringValue(value.ToString());
    }
}

/// <summary>
/// A strongly typed id wrapping one non-empty string, written as that string
/// (<see cref="HostId"/>, <see cref="PortId"/>; reusable for a project's own ids).
/// </summary>
public sealed class StringIdConverter<T>(Func<string, T> create, Func<T, string?> value) : JsonConverter<T>
    where T : struct
{
    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        Create(reader.TokenType == JsonTokenType.String ? reader.GetString() : throw new JsonException($"A {typeof(T).Name} must be a string."));

    public override void Write(Utf8JsonWriter writer, T id, JsonSerializerOptions options) => writer.WriteStringValue(ValueOf(id));

    public override T ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => Create(reader.GetString());

    public override void WriteAsPropertyName(Utf8JsonWriter writer, T id, JsonSerializerOptions options) => writer.WritePropertyName(ValueOf(id));

    private T Create(string? text) =>
        string.IsNullOrEmpty(text) ? throw new JsonException($"A {typeof(T).Name} cannot be empty.") : create(text);

    private string ValueOf(T id)
    {
        var text = value(id);
        return string.IsNullOrEmpty(text) ? throw new JsonException($"A default or empty {typeof(T).Name} cannot be written.") : text;
    }
}

/// <summary>
/// A strongly typed id wrapping a <see cref="Guid"/>, written as a "D" string
/// (<see cref="CommandId"/>; reusable, e.g. for the coordinator's FailoverId).
/// </summary>
public sealed class GuidIdConverter<T>(Func<Guid, T> create, Func<T, Guid> value) : JsonConverter<T>
    where T : struct
{
    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String && reader.TryGetGuid(out var guid)
            ? create(guid)
            : throw new JsonException($"A {typeof(T).Name} must be a GUID string.");

    public override void Write(Utf8JsonWriter writer, T id, JsonSerializerOptions options) => writer.WriteStringValue(value(id));

    public override T ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        Guid.TryParseExact(reader.GetString(), "D", out var guid) ? create(guid) : throw new JsonException($"A {typeof(T).Name} must be a GUID string.");

    public override void WriteAsPropertyName(Utf8JsonWriter writer, T id, JsonSerializerOptions options) =>
        writer.WritePropertyName(value(id).ToString("D"));
}
