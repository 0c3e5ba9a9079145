using System.Text;
using Replug.Shared.Protocol;
using Replug.Shared.Serialization;

namespace Replug.Shared.Tests.Serialization;

/// <summary>
/// Every concrete message type, found by reflection over the markers' assemblies, goes through
/// its Replug serializer in a real ActorSystem and comes back equal: a new message without a
/// manifest fails here (and at start, through SerializationCheck).
/// </summary>
public class ProtocolRoundTripTests : SerializationTestKit
{
    /// <summary>Each marker and the serializer id it must resolve to.</summary>
    private static readonly (Type Marker, int SerializerId)[] Protocols =
    [
        (typeof(IHostMessage), ReplugSerializers.HostProtocolId),
        (typeof(IOperatorMessage), ReplugSerializers.OperatorProtocolId),
        (typeof(IVersionedTestMessage), VersionedTestSerializer.Id),
    ];

    public static TheoryData<Type, bool> EveryMessageType()
    {
        var data = new TheoryData<Type, bool>();
        foreach (var (marker, _) in Protocols)
        foreach (var type in SerializationCheck.ConcreteImplementations(marker))
        {
            data.Add(type, true);
            data.Add(type, false);
        }
        return data;
    }

    [Fact]
    public void The_shared_protocols_have_messages_to_check()
    {
        // Guards the reflection below: an empty scan would make every other test here vacuous.
        Assert.True(SerializationCheck.ConcreteImplementations(typeof(IHostMessage)).Count >= 10);
        Assert.True(SerializationCheck.ConcreteImplementations(typeof(IOperatorMessage)).Count >= 4);
    }

    [Theory]
    [MemberData(nameof(EveryMessageType))]
    public void Every_message_round_trips_through_its_Replug_serializer(Type type, bool filled)
    {
        var message = Samples.Create(type, filled);

        var back = RoundTrip(message, out var serializer, out var manifest, out var bytes);

        var expectedId = Protocols.Single(p => p.Marker.IsAssignableFrom(type)).SerializerId;
        Assert.Equal(expectedId, serializer.Identifier);
        Assert.Equal(serializer.Registry.For(type).Manifest, manifest);
        Assert.IsType(type, back);
        Structurally.Equal(message, back);
        // Same bytes again: nothing is lost or reordered on the way back.
        Assert.Equal(Encoding.UTF8.GetString(bytes), Encoding.UTF8.GetString(serializer.ToBinary(back)));
    }

    [Theory]
    [MemberData(nameof(EveryMessageType))]
    public void Every_message_type_has_a_manifest_in_the_serializer_bound_to_its_marker(Type type, bool _)
    {
        var serializer = Assert.IsAssignableFrom<VersionedJsonSerializer>(Sys.Serialization.FindSerializerForType(type));
        Assert.Contains(type, serializer.Registry.Types);
    }

    [Fact]
    public void Manifests_name_the_conversation_the_message_and_its_version()
    {
        var serializer = Sys.Serialization.FindSerializerForType(typeof(HostProtocol.RegisterHost));

        Assert.Equal("host.register-host.v2", Akka.Serialization.Serialization.ManifestFor(serializer, Samples.Create(typeof(HostProtocol.RegisterHost), true)));
        Assert.Equal("operator.drain-host.v1",
            Akka.Serialization.Serialization.ManifestFor(Sys.Serialization.FindSerializerForType(typeof(OperatorProtocol.DrainHost)), new OperatorProtocol.DrainHost(new("hv-01"))));
    }

    [Fact]
    public void The_shared_protocols_pass_the_startup_check()
    {
        SerializationCheck.Verify(Sys, [typeof(IHostMessage), typeof(IOperatorMessage), typeof(IVersionedTestMessage)]);
    }
}
