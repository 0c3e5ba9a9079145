using Akka.Hosting;

namespace Replug.Shared.Serialization;

/// <summary>Akka.Hosting: bind Replug's serializers, refuse the fallback, and check every marker type at start.</summary>
public static class AkkaSerializationSetup
{
    /// <summary>
    /// Binds <see cref="ReplugSerializers.Shared"/> and <paramref name="additional"/> (e.g. the
    /// coordinator's <c>CoordinatorEventSerializer.Binding</c>) with <c>WithCustomSerializer</c>,
    /// turns on <c>WithStrictSerialization()</c> (Akka.Hosting 1.5.74 has it; it sets
    /// <c>akka.actor.serialization-settings.allow-unregistered-types = off</c>, so a type without
    /// a binding throws instead of falling back to Newtonsoft JSON), and runs
    /// <see cref="SerializationCheck.Verify(Akka.Actor.ActorSystem, IEnumerable{Type})"/> over every bound marker
    /// as the first actor starter: a message or event type without a manifest fails the host's
    /// start, naming it. Call it before <c>WithActors</c> so the check precedes any actor.
    /// </summary>
    /// <example>
    /// <code>
    /// services.AddAkka("replug", builder => builder
    ///     .WithReplugSerializers(CoordinatorEventSerializer.Binding)
    ///     .WithRemoting(...)
    ///     .WithClustering(...));
    /// </code>
    /// </example>
    public static AkkaConfigurationBuilder WithReplugSerializers(this AkkaConfigurationBuilder builder, params IEnumerable<SerializerBinding> additional)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var bindings = ReplugSerializers.With(additional);
        foreach (var binding in bindings)
            builder.WithCustomSerializer(binding.Alias, binding.BoundTypes, system => binding.Factory(system));
        builder.WithStrictSerialization();
        var markers = bindings.SelectMany(b => b.BoundTypes).ToArray();
        builder.WithActors((system, _) => SerializationCheck.Verify(system, markers));
        return builder;
    }
}
