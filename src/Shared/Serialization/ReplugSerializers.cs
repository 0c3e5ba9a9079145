using System.Collections.Immutable;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Serialization;
using Replug.Shared.Protocol;

namespace Replug.Shared.Serialization;

/// <summary>
/// One serializer and the marker types bound to it: what both <see cref="AkkaSerializationSetup.WithReplugSerializers"/>
/// (Akka.Hosting) and <see cref="ReplugSerializers.CreateActorSystemSetup"/> (a plain ActorSystem, tests) register,
/// and what <see cref="SerializationCheck"/> verifies.
/// </summary>
/// <param name="Alias">The serializer's name in Akka's configuration, e.g. "replug-host".</param>
/// <param name="BoundTypes">The marker interfaces whose implementations this serializer writes.</param>
/// <param name="Factory">Creates the serializer; Akka calls it once, when the ActorSystem starts.</param>
public sealed record SerializerBinding(string Alias, IReadOnlyList<Type> BoundTypes, Func<ExtendedActorSystem, VersionedJsonSerializer> Factory);

/// <summary>Replug's serializer identifiers and the bindings of the protocols in Replug.Shared.</summary>
public static class ReplugSerializers
{
    // Akka reserves identifiers up to 100 for its own serializers; Replug's are 71xx.
    public const int HostProtocolId = 7101;
    public const int OperatorProtocolId = 7102;
    /// <summary>Reserved for the coordinator's persisted events (its <c>CoordinatorEventSerializer</c>).</summary>
    public const int CoordinatorEventsId = 7103;

    public static SerializerBinding HostProtocol { get; } =
        new("replug-host", [typeof(IHostMessage)], system => new HostProtocolSerializer(system));

    public static SerializerBinding OperatorProtocol { get; } =
        new("replug-operator", [typeof(IOperatorMessage)], system => new OperatorProtocolSerializer(system));

    /// <summary>The bindings every Replug node needs: agent ↔ coordinator and operator messages.</summary>
    public static IReadOnlyList<SerializerBinding> Shared { get; } = [HostProtocol, OperatorProtocol];

    /// <summary>
    /// Turns off Akka's <c>System.Object</c> → Newtonsoft JSON fallback: a type without a binding
    /// makes <c>FindSerializerForType</c> throw instead. The same setting Akka.Hosting's
    /// <c>WithStrictSerialization()</c> writes (Akka 1.5.66+).
    /// </summary>
    public static Config StrictSerializationConfig { get; } =
        ConfigurationFactory.ParseString("akka.actor.serialization-settings.allow-unregistered-types = off");

    /// <summary><see cref="Shared"/> followed by <paramref name="additional"/>; an alias used twice throws.</summary>
    public static IReadOnlyList<SerializerBinding> With(IEnumerable<SerializerBinding> additional)
    {
        List<SerializerBinding> all = [.. Shared, .. additional];
        var duplicate = all.GroupBy(b => b.Alias, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"The serializer alias '{duplicate.Key}' is bound twice.", nameof(additional));
        return all;
    }

    /// <summary>The bindings as an Akka <see cref="SerializationSetup"/>, for an ActorSystem created without Akka.Hosting.</summary>
    public static SerializationSetup CreateSerializationSetup(params IEnumerable<SerializerBinding> additional)
    {
        var bindings = With(additional);
        return SerializationSetup.Create(system => bindings
            .Select(b => SerializerDetails.Create(b.Alias, b.Factory(system), [.. b.BoundTypes]))
            .ToImmutableHashSet());
    }

    /// <summary>
    /// What <see cref="AkkaSerializationSetup.WithReplugSerializers"/> gives a hosted system, for a plain
    /// ActorSystem or a TestKit: the bindings, strict serialization, and <paramref name="config"/>
    /// (taking precedence). Call <see cref="SerializationCheck.Verify(ActorSystem, IEnumerable{Type})"/> after start.
    /// </summary>
    public static ActorSystemSetup CreateActorSystemSetup(Config? config = null, params IEnumerable<SerializerBinding> additional)
    {
        var hocon = config is null ? StrictSerializationConfig : config.WithFallback(StrictSerializationConfig);
        return BootstrapSetup.Create().WithConfig(hocon).And(CreateSerializationSetup(additional));
    }
}
