using System.Runtime.Serialization;
using System.Text;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using Replug.Shared.Serialization;

namespace Replug.Shared.Tests.Serialization;

public class VersioningTests : SerializationTestKit
{
    private static byte[] Json(string json) => Encoding.UTF8.GetBytes(json);

    [Fact]
    public void A_stored_v1_fixture_is_upcast_into_the_current_v2_type()
    {
        var bytes = SerializationFixtures.Read(VersionedTestSerializer.Id, "test.port-noted.v1");

        var message = Sys.Serialization.Deserialize(bytes, VersionedTestSerializer.Id, "test.port-noted.v1");

        Assert.Equal(new PortNoted(new PortId("uplink-a"), "cable reseated", NoteSeverity.Info), message);
    }

    [Theory]
    [MemberData(nameof(SerializationFixtures.All), MemberType = typeof(SerializationFixtures))]
    public void Every_stored_fixture_reads_into_its_current_type_and_writes_back_at_the_current_version(int serializerId, string manifest)
    {
        var message = Sys.Serialization.Deserialize(SerializationFixtures.Read(serializerId, manifest), serializerId, manifest);

        var serializer = Assert.IsAssignableFrom<VersionedJsonSerializer>(Sys.Serialization.FindSerializerFor(message));
        Assert.Equal(serializerId, serializer.Identifier);
        Assert.True(ManifestRegistry.TryParseManifest(manifest, out var name, out _));
        var entry = serializer.Registry.For(message.GetType());
        Assert.Equal(name, entry.Name);
        Structurally.Equal(message, serializer.FromBinary(serializer.ToBinary(message), entry.Manifest));
    }

    [Fact]
    public void The_stored_register_host_v1_payload_still_reads_field_by_field()
    {
        var message = Assert.IsType<HostProtocol.RegisterHost>(Sys.Serialization.Deserialize(
            SerializationFixtures.Read(ReplugSerializers.HostProtocolId, "host.register-host.v1"), ReplugSerializers.HostProtocolId, "host.register-host.v1"));

        var expected = new HostProtocol.RegisterHost(new HostId("hv-07"), "akka.tcp://replug@10.0.0.7:4053", 3, new HostInventory(
            [
                new NicReport(DeviceId.Net("ens1f0"), new NicIdentity(NicIdentityKind.PermanentMac, "00:1b:21:aa:bb:cc"), "0000:03:00.0", true),
                new NicReport(DeviceId.Net("ens1f1"), new NicIdentity(NicIdentityKind.Pci, "8086:10fb@0000:03:00.1"), null, false),
            ],
            [new PortReport(new PortSpec(new PortId("vm-17-uplink"), 2, "db"), [DeviceId.Net("ens1f0"), DeviceId.Net("ens1f1")], DeviceId.Net("ens1f0"), false)],
            Capacity: 16, Load: 1));
        Structurally.Equal(expected, message);
    }

    [Fact]
    public void Upcasters_chain_from_v1_through_v2_to_v3()
    {
        var fromV1 = Sys.Serialization.Deserialize(Json("""{"host":"hv-02","label":"gpu"}"""), VersionedTestSerializer.Id, "test.host-labelled.v1");
        var fromV2 = Sys.Serialization.Deserialize(Json("""{"host":"hv-02","labels":["gpu","ssd"]}"""), VersionedTestSerializer.Id, "test.host-labelled.v2");

        Structurally.Equal(new HostLabelled(new HostId("hv-02"), ["gpu"], "unknown"), fromV1);
        Structurally.Equal(new HostLabelled(new HostId("hv-02"), ["gpu", "ssd"], "unknown"), fromV2);
    }

    [Fact]
    public void The_current_version_is_read_without_upcasting()
    {
        var message = Sys.Serialization.Deserialize(Json("""{"port":"p1","note":"n","severity":"Warning"}"""), VersionedTestSerializer.Id, "test.port-noted.v2");

        Assert.Equal(new PortNoted(new PortId("p1"), "n", NoteSeverity.Warning), message);
    }

    [Fact]
    public void An_unknown_manifest_is_refused_naming_the_manifest()
    {
        var e = Assert.Throws<SerializationException>(() =>
            Sys.Serialization.Deserialize(Json("{}"), ReplugSerializers.HostProtocolId, "host.reboot-host.v1"));

        Assert.Contains("'host.reboot-host.v1'", e.Message);
        Assert.Contains("Unknown manifest", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("host.register-host")]
    [InlineData("host.register-host.v")]
    [InlineData("host.register-host.v0")]
    [InlineData("host.register-host.v01")]
    [InlineData("RegisterHost")]
    public void A_malformed_manifest_is_refused_as_unknown(string manifest)
    {
        var e = Assert.Throws<SerializationException>(() => Sys.Serialization.Deserialize(Json("{}"), ReplugSerializers.HostProtocolId, manifest));

        Assert.Contains($"'{manifest}'", e.Message);
    }

    [Fact]
    public void A_newer_version_is_refused_as_written_by_a_newer_Replug()
    {
        var e = Assert.Throws<SerializationException>(() =>
            Sys.Serialization.Deserialize(Json("""{"id":"0b4c8a52-6a3e-4c39-9a8f-4d3b2c1a0f9e","host":"hv-01","epoch":1}"""), ReplugSerializers.HostProtocolId, "host.command-acknowledged.v2"));

        Assert.Contains("written by a newer Replug", e.Message);
        Assert.Contains("'host.command-acknowledged.v2'", e.Message);
        Assert.Contains("up to v1", e.Message);
    }

    [Fact]
    public void A_version_older_than_the_oldest_upcaster_is_refused()
    {
        var e = Assert.Throws<SerializationException>(() =>
            Sys.Serialization.Deserialize(Json("""{"port":"p1"}"""), VersionedTestSerializer.Id, "test.port-retired.v1"));

        Assert.Contains("too old", e.Message);
        Assert.Contains("from v2", e.Message);
    }

    [Fact]
    public void A_payload_missing_a_field_without_a_default_is_refused_rather_than_defaulted()
    {
        var e = Assert.Throws<SerializationException>(() =>
            Sys.Serialization.Deserialize(Json("""{"id":"0b4c8a52-6a3e-4c39-9a8f-4d3b2c1a0f9e","host":"hv-01"}"""), ReplugSerializers.HostProtocolId, "host.command-acknowledged.v1"));

        Assert.Contains("'host.command-acknowledged.v1'", e.Message);
    }

    [Fact]
    public void A_missing_field_with_a_constructor_default_takes_the_default()
    {
        var message = Sys.Serialization.Deserialize(Json("""{"accepted":true}"""), ReplugSerializers.OperatorProtocolId, "operator.ack.v1");

        Assert.Equal(new OperatorProtocol.OperatorAck(true), message);
    }

    [Fact]
    public void A_payload_with_a_field_the_version_does_not_have_is_refused()
    {
        // A writer that added a field without a new version would otherwise lose it silently here.
        Assert.Throws<SerializationException>(() =>
            Sys.Serialization.Deserialize(Json("""{"id":"0b4c8a52-6a3e-4c39-9a8f-4d3b2c1a0f9e","host":"hv-01","epoch":1,"lease":"5s"}"""), ReplugSerializers.HostProtocolId, "host.command-acknowledged.v1"));
    }

    [Fact]
    public void A_null_for_a_non_nullable_field_is_refused()
    {
        Assert.Throws<SerializationException>(() =>
            Sys.Serialization.Deserialize(Json("""{"host":"hv-01","port":"p1","reason":null}"""), ReplugSerializers.HostProtocolId, "host.port-escalated.v1"));
    }

    [Fact]
    public void An_upcaster_meeting_an_unexpected_shape_is_a_serialization_error_naming_the_manifest()
    {
        var e = Assert.Throws<SerializationException>(() =>
            Sys.Serialization.Deserialize(Json("\"not an object\""), VersionedTestSerializer.Id, "test.port-noted.v1"));

        Assert.Contains("'test.port-noted.v1'", e.Message);
    }

    [Fact]
    public void Writing_a_type_outside_the_registry_is_refused_naming_it()
    {
        var serializer = (VersionedJsonSerializer)Sys.Serialization.FindSerializerForType(typeof(HostProtocol.RegisterHost));

        var e = Assert.Throws<SerializationException>(() => serializer.ToBinary(new OperatorProtocol.DrainHost(new HostId("hv-01"))));

        Assert.Contains(typeof(OperatorProtocol.DrainHost).FullName!, e.Message);
    }
}
