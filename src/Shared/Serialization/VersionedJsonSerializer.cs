using System.Runtime.Serialization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using Akka.Actor;
using Akka.Serialization;

namespace Replug.Shared.Serialization;

/// <summary>
/// An Akka serializer for a closed set of types (its <see cref="ManifestRegistry"/>), written as
/// System.Text.Json with <see cref="ReplugJson"/>'s conventions, or for the few hot types given a
/// <see cref="CompactCodec"/>, in that compact binary form at their current version. The manifest is the registered
/// name and version ("host.register-host.v1"); reading an older version runs the registered
/// upcasters first, reading a newer one or an unknown name is a <see cref="SerializationException"/>.
/// Every registered type's JSON contract is built in the constructor, i.e. when the ActorSystem
/// starts, so a type System.Text.Json cannot handle fails the start, not the first message.
/// </summary>
/// <example>
/// The coordinator's persisted events (id 7103), with an upcaster for an event now at v2:
/// <code>
/// public sealed class CoordinatorEventSerializer(ExtendedActorSystem system)
///     : VersionedJsonSerializer(system, Manifests, Json)
/// {
///     public static readonly ManifestRegistry Manifests = ManifestRegistry.Create()
///         .Add&lt;CoordinatorEvents.EpochStarted&gt;("coordinator.epoch-started")
///         .Add&lt;CoordinatorEvents.PortMoved&gt;("coordinator.port-moved", version: 2)
///         .Upcast&lt;CoordinatorEvents.PortMoved&gt;(fromVersion: 1, v1 =>
///         {
///             v1["reason"] = "unknown"; // v2 added Reason
///             return v1;
///         })
///         // ... every ICoordinatorEvent: SerializationCheck fails the start for one left out.
///         .Build();
///
///     private static readonly JsonSerializerOptions Json =
///         ReplugJson.CreateOptions(new GuidIdConverter&lt;FailoverId&gt;(g => new FailoverId(g), id => id.Value));
///
///     /// &lt;summary&gt;For &lt;c&gt;builder.WithReplugSerializers(CoordinatorEventSerializer.Binding)&lt;/c&gt;.&lt;/summary&gt;
///     public static readonly SerializerBinding Binding =
///         new("replug-coordinator-events", [typeof(ICoordinatorEvent)], s => new CoordinatorEventSerializer(s));
///
///     public override int Identifier => ReplugSerializers.CoordinatorEventsId;
/// }
/// </code>
/// A stored payload of each old version belongs in the coordinator's tests as a fixture file
/// (see tests/Shared.Tests/Serialization/Fixtures), read through <c>Sys.Serialization</c>.
/// </example>
public abstract class VersionedJsonSerializer : SerializerWithStringManifest
{
    private readonly JsonTypeInfo[] _contracts;
    private readonly CompactCodec?[] _compact;

    [ThreadStatic] private static CompactWriter? _writer;

    /// <param name="system">The actor system (Akka passes it to the factory).</param>
    /// <param name="registry">Every type this serializer writes and reads.</param>
    /// <param name="options">JSON options; <see cref="ReplugJson.Options"/> when null. Must be read-only.</param>
    /// <param name="compact">
    /// Types written at their current version in a compact binary form instead of JSON (<see cref="CompactCodec"/>);
    /// each must be in <paramref name="registry"/>. Their older versions are still read as JSON.
    /// </param>
    protected VersionedJsonSerializer(ExtendedActorSystem system, ManifestRegistry registry, JsonSerializerOptions? options = null,
        IEnumerable<CompactCodec>? compact = null)
        : base(system)
    {
        ArgumentNullException.ThrowIfNull(registry);
        Registry = registry;
        Options = options ?? ReplugJson.Options;
        if (!Options.IsReadOnly)
            throw new ArgumentException("The JSON options must be read-only (ReplugJson.CreateOptions returns such).", nameof(options));
        _contracts = new JsonTypeInfo[registry.Entries.Count];
        foreach (var entry in registry.Entries)
        {
            try
            {
                _contracts[entry.Index] = Options.GetTypeInfo(entry.Type);
            }
            catch (Exception e) when (e is NotSupportedException or InvalidOperationException or ArgumentException)
            {
                throw new SerializationException($"{GetType().Name}: {entry} cannot be serialized as JSON: {e.Message}", e);
            }
        }
        _compact = new CompactCodec?[registry.Entries.Count];
        foreach (var codec in compact ?? [])
        {
            if (!registry.TryGet(codec.Type, out var entry))
                throw new ArgumentException($"{GetType().Name}: a compact codec for {codec.Type.FullName}, which the registry does not hold.", nameof(compact));
            if (_compact[entry.Index] is not null)
                throw new ArgumentException($"{GetType().Name}: two compact codecs for {entry}.", nameof(compact));
            _compact[entry.Index] = codec;
        }
    }

    /// <summary>Fixed per serializer, above 100 (Akka reserves the low ids): see <see cref="ReplugSerializers"/>.</summary>
    public abstract override int Identifier { get; }

    public ManifestRegistry Registry { get; }

    public JsonSerializerOptions Options { get; }

    /// <summary>The registered name and current version; cached, so asking allocates nothing.</summary>
    public override string Manifest(object o)
    {
        ArgumentNullException.ThrowIfNull(o);
        return Registry.For(o.GetType()).Manifest;
    }

    public override byte[] ToBinary(object obj)
    {
        ArgumentNullException.ThrowIfNull(obj);
        var entry = Registry.For(obj.GetType());
        if (_compact[entry.Index] is { } codec)
        {
            var writer = _writer ??= new CompactWriter();
            writer.Reset();
            codec.Write(writer, obj);
            return writer.ToArray();
        }
        try
        {
            return JsonSerializer.SerializeToUtf8Bytes(obj, _contracts[entry.Index]);
        }
        catch (JsonException e)
        {
            throw new SerializationException($"Cannot write {entry}: {e.Message}", e);
        }
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (!Registry.TryGetReadable(manifest, out var entry, out var version)) throw Unreadable(manifest);

        var contract = _contracts[entry.Index];
        object? result;
        try
        {
            if (version == entry.Version && _compact[entry.Index] is { } codec)
            {
                var reader = new CompactReader(bytes);
                result = codec.Read(ref reader);
                reader.End();
            }
            else if (version == entry.Version)
            {
                result = JsonSerializer.Deserialize(bytes, contract);
            }
            else
            {
                var payload = JsonNode.Parse(bytes, documentOptions: new JsonDocumentOptions { MaxDepth = Options.MaxDepth })
                    ?? throw new SerializationException($"'{manifest}' holds a null payload.");
                result = entry.Upcast(payload, version).Deserialize(contract);
            }
        }
        catch (SerializationException e) when (version == entry.Version && _compact[entry.Index] is not null)
        {
            throw new SerializationException($"Cannot read '{manifest}' as {entry.Type.FullName}: {e.Message}", e);
        }
        catch (SerializationException)
        {
            throw;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or ArgumentException)
        {
            // JsonException for a malformed payload; the others from an upcaster that met a shape
            // it did not expect (e.g. AsObject() on a string).
            throw new SerializationException($"Cannot read '{manifest}' as {entry.Type.FullName}: {e.Message}", e);
        }
        return result ?? throw new SerializationException($"'{manifest}' holds a null payload.");
    }

    /// <summary>Why a manifest outside <see cref="ManifestRegistry.TryGetReadable"/> cannot be read, in words an operator can act on.</summary>
    private SerializationException Unreadable(string manifest)
    {
        var who = $"{GetType().Name} (serializer {Identifier})";
        if (!ManifestRegistry.TryParseManifest(manifest, out var name, out var version) || !Registry.TryGetByName(name, out var entry))
            return new SerializationException($"Unknown manifest '{manifest}' for {who}: no registered type has that name.");
        if (version > entry.Version)
            return new SerializationException(
                $"Manifest '{manifest}' was written by a newer Replug: this build of {who} reads '{entry.Name}' up to v{entry.Version}. Upgrade this node.");
        return new SerializationException(
            $"Manifest '{manifest}' is too old for {who}: '{entry.Name}' is read from v{entry.OldestReadableVersion} (no upcaster from v{version}).");
    }
}
