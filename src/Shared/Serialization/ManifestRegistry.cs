using System.Collections.Frozen;
using System.Globalization;
using System.Runtime.Serialization;
using System.Text.Json.Nodes;

namespace Replug.Shared.Serialization;

/// <summary>One registered type: its wire name, its current version and how older versions are read.</summary>
public sealed class ManifestEntry
{
    private readonly Func<JsonNode, JsonNode>[] _upcasters;

    internal ManifestEntry(int index, Type type, string name, int version, int oldestReadableVersion, Func<JsonNode, JsonNode>[] upcasters)
    {
        Index = index;
        Type = type;
        Name = name;
        Version = version;
        OldestReadableVersion = oldestReadableVersion;
        _upcasters = upcasters;
        Manifest = ManifestRegistry.FormatManifest(name, version);
    }

    /// <summary>Position in <see cref="ManifestRegistry.Entries"/>: lets a serializer keep per-entry state in an array.</summary>
    internal int Index { get; }

    public Type Type { get; }

    /// <summary>The wire name, independent of the CLR name so that renaming a class does not change the wire.</summary>
    public string Name { get; }

    /// <summary>The version this build writes.</summary>
    public int Version { get; }

    /// <summary>The oldest version this build can still read (through upcasters); equal to <see cref="Version"/> without any.</summary>
    public int OldestReadableVersion { get; }

    /// <summary>"<see cref="Name"/>.v<see cref="Version"/>": what this build writes as the Akka manifest.</summary>
    public string Manifest { get; }

    /// <summary>Runs the upcasters from <paramref name="fromVersion"/> up to the current version, in order.</summary>
    internal JsonNode Upcast(JsonNode payload, int fromVersion)
    {
        for (var version = fromVersion; version < Version; version++)
        {
            payload = _upcasters[version - OldestReadableVersion](payload)
                ?? throw new SerializationException($"The upcaster of '{Name}' from v{version} returned null.");
        }
        return payload;
    }

    public override string ToString() => $"{Manifest} ({Type.Name})";
}

/// <summary>
/// A closed, explicit map of CLR type ↔ string manifest ("host.register-host.v1"). Built once,
/// at type initialisation of its serializer; anything not added here cannot be written or read.
/// </summary>
/// <example>
/// <code>
/// public static readonly ManifestRegistry Manifests = ManifestRegistry.Create()
///     .Add&lt;EpochStarted&gt;("coordinator.epoch-started")
///     .Add&lt;PortMoved&gt;("coordinator.port-moved", version: 3)
///     .Upcast&lt;PortMoved&gt;(fromVersion: 1, v1 => { v1["reason"] = "unknown"; return v1; })
///     .Upcast&lt;PortMoved&gt;(fromVersion: 2, v2 => { var o = v2.AsObject(); o["to"] = o["target"]?.DeepClone(); o.Remove("target"); return o; })
///     .Build();
/// </code>
/// </example>
public sealed class ManifestRegistry
{
    private const string VersionSeparator = ".v";

    private readonly FrozenDictionary<Type, ManifestEntry> _byType;
    private readonly FrozenDictionary<string, ManifestEntry> _byName;
    // Every manifest this build can read (current and upcastable versions), so the common read
    // path is one dictionary lookup with no parsing or allocation.
    private readonly FrozenDictionary<string, (ManifestEntry Entry, int Version)> _readable;

    private ManifestRegistry(IReadOnlyList<ManifestEntry> entries)
    {
        Entries = entries;
        _byType = entries.ToFrozenDictionary(e => e.Type);
        _byName = entries.ToFrozenDictionary(e => e.Name, StringComparer.Ordinal);
        _readable = entries
            .SelectMany(e => Enumerable.Range(e.OldestReadableVersion, e.Version - e.OldestReadableVersion + 1)
                .Select(v => KeyValuePair.Create(FormatManifest(e.Name, v), (e, v))))
            .ToFrozenDictionary(StringComparer.Ordinal);
    }

    public static Builder Create() => new();

    /// <summary>Every registered entry, in the order added.</summary>
    public IReadOnlyList<ManifestEntry> Entries { get; }

    /// <summary>Every type this registry knows.</summary>
    public IEnumerable<Type> Types => Entries.Select(e => e.Type);

    public bool Contains(Type type) => _byType.ContainsKey(type);

    public bool TryGet(Type type, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ManifestEntry? entry) =>
        _byType.TryGetValue(type, out entry);

    /// <summary>The entry for <paramref name="type"/>, or a <see cref="SerializationException"/> naming it.</summary>
    public ManifestEntry For(Type type) =>
        _byType.TryGetValue(type, out var entry)
            ? entry
            : throw new SerializationException($"{type.FullName} has no manifest: add it to the registry of the serializer bound to it.");

    public bool TryGetByName(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ManifestEntry? entry) =>
        _byName.TryGetValue(name, out entry);

    /// <summary>A manifest this build can read: the entry and the version the payload was written in.</summary>
    internal bool TryGetReadable(string manifest, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ManifestEntry? entry, out int version)
    {
        if (_readable.TryGetValue(manifest, out var found))
        {
            (entry, version) = found;
            return true;
        }
        entry = null;
        version = 0;
        return false;
    }

    public static string FormatManifest(string name, int version) =>
        string.Create(CultureInfo.InvariantCulture, $"{name}{VersionSeparator}{version}");

    /// <summary>Splits "name.vN" into its name and version (N ≥ 1, no leading zero).</summary>
    public static bool TryParseManifest(string? manifest, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? name, out int version)
    {
        name = null;
        version = 0;
        if (string.IsNullOrEmpty(manifest)) return false;
        var separator = manifest.LastIndexOf(VersionSeparator, StringComparison.Ordinal);
        if (separator <= 0) return false;
        var digits = manifest.AsSpan(separator + VersionSeparator.Length);
        if (digits.IsEmpty || digits[0] == '0') return false;
        if (!int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out version)) return false;
        name = manifest[..separator];
        return true;
    }

    /// <summary>Letters, digits, '.', '-' and '_'; starting with a letter or digit.</summary>
    internal static bool IsValidName(string name)
    {
        if (name.Length is 0 or > 200 || !char.IsAsciiLetterOrDigit(name[0])) return false;
        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('.' or '-' or '_')) return false;
        }
        return true;
    }

    public sealed class Builder
    {
        private readonly List<(Type Type, string Name, int Version)> _added = [];
        private readonly Dictionary<Type, SortedDictionary<int, Func<JsonNode, JsonNode>>> _upcasters = [];

        internal Builder() { }

        /// <summary>
        /// Registers <typeparamref name="T"/> under <paramref name="name"/>, written at
        /// <paramref name="version"/>. A duplicate name or type throws.
        /// </summary>
        public Builder Add<T>(string name, int version = 1) where T : notnull
        {
            var type = typeof(T);
            if (type.IsAbstract || type.IsInterface || type.ContainsGenericParameters)
                throw new ArgumentException($"{type.FullName}: only concrete types can be registered (the manifest is looked up by the runtime type).", nameof(T));
            ArgumentNullException.ThrowIfNull(name);
            if (!IsValidName(name))
                throw new ArgumentException($"'{name}' is not a valid manifest name: letters, digits, '.', '-' and '_', starting with a letter or digit.", nameof(name));
            ArgumentOutOfRangeException.ThrowIfLessThan(version, 1);
            if (_added.Any(a => a.Type == type))
                throw new ArgumentException($"{type.FullName} is already registered.", nameof(T));
            if (_added.Any(a => a.Name == name))
                throw new ArgumentException($"The manifest name '{name}' is already registered (for {_added.First(a => a.Name == name).Type.FullName}).", nameof(name));
            _added.Add((type, name, version));
            return this;
        }

        /// <summary>
        /// Registers how a <typeparamref name="T"/> payload written at <paramref name="fromVersion"/>
        /// becomes a payload of <paramref name="fromVersion"/> + 1. Upcasters run in a chain
        /// (v1 → v2 → v3) before the payload is deserialized into the current type. The upcaster
        /// may change <paramref name="upcaster"/>'s argument in place and return it.
        /// </summary>
        public Builder Upcast<T>(int fromVersion, Func<JsonNode, JsonNode> upcaster) where T : notnull
        {
            ArgumentNullException.ThrowIfNull(upcaster);
            var type = typeof(T);
            var added = _added.FirstOrDefault(a => a.Type == type);
            if (added.Type is null)
                throw new ArgumentException($"Add {type.FullName} before its upcasters.", nameof(T));
            if (fromVersion < 1 || fromVersion >= added.Version)
                throw new ArgumentOutOfRangeException(nameof(fromVersion), fromVersion,
                    $"An upcaster of '{added.Name}' (current v{added.Version}) must start from a version between 1 and {added.Version - 1}.");
            if (!_upcasters.TryGetValue(type, out var chain)) _upcasters[type] = chain = [];
            if (!chain.TryAdd(fromVersion, upcaster))
                throw new ArgumentException($"'{added.Name}' already has an upcaster from v{fromVersion}.", nameof(fromVersion));
            return this;
        }

        /// <summary>
        /// Freezes the registry. Upcasters must form one unbroken chain ending at the current
        /// version: a gap would make some stored payloads silently unreadable.
        /// </summary>
        public ManifestRegistry Build()
        {
            var entries = new List<ManifestEntry>(_added.Count);
            foreach (var (type, name, version) in _added)
            {
                var chain = _upcasters.GetValueOrDefault(type);
                var oldest = version;
                Func<JsonNode, JsonNode>[] upcasters = [];
                if (chain is { Count: > 0 })
                {
                    oldest = chain.Keys.First();
                    for (var v = oldest; v < version; v++)
                    {
                        if (!chain.ContainsKey(v))
                            throw new InvalidOperationException(
                                $"'{name}' has upcasters from v{oldest} but none from v{v}: the chain to v{version} must be unbroken.");
                    }
                    upcasters = [.. chain.Values];
                }
                entries.Add(new ManifestEntry(entries.Count, type, name, version, oldest, upcasters));
            }
            return new ManifestRegistry(entries);
        }
    }
}
