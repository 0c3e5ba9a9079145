using Replug.Shared.Serialization;

namespace Replug.Shared.Tests.Serialization;

/// <summary>
/// A real ActorSystem configured as <c>WithReplugSerializers</c> configures a hosted one: Replug's
/// bindings, the test-only ones, and strict serialization (no Newtonsoft fallback).
/// </summary>
public abstract class SerializationTestKit()
    : Akka.TestKit.Xunit2.TestKit(ReplugSerializers.CreateActorSystemSetup(null, VersionedTestSerializer.Binding, HalfRegisteredSerializer.Binding))
{
    /// <summary>What Akka does with a message sent to another node: serializer, manifest, bytes, and back.</summary>
    protected object RoundTrip(object message, out VersionedJsonSerializer serializer, out string manifest, out byte[] bytes)
    {
        serializer = Assert.IsAssignableFrom<VersionedJsonSerializer>(Sys.Serialization.FindSerializerFor(message));
        manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);
        bytes = serializer.ToBinary(message);
        return Sys.Serialization.Deserialize(bytes, serializer.Identifier, manifest);
    }
}
