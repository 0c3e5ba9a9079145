using System.Runtime.Serialization;
using System.Text;
using System.Text.Json.Nodes;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using Replug.Shared.Serialization;

namespace Replug.Shared.Tests.Serialization;

/// <summary>What the JSON on the wire looks like: the conventions of <see cref="ReplugJson"/>.</summary>
public class WireFormatTests : SerializationTestKit
{
    private JsonObject Written(object message) =>
        JsonNode.Parse(((VersionedJsonSerializer)Sys.Serialization.FindSerializerFor(message)).ToBinary(message))!.AsObject();

    private object Read<T>(string json) where T : notnull
    {
        var serializer = (VersionedJsonSerializer)Sys.Serialization.FindSerializerForType(typeof(T));
        return serializer.FromBinary(Encoding.UTF8.GetBytes(json), serializer.Registry.For(typeof(T)).Manifest);
    }

    [Fact]
    public void Ids_are_written_as_plain_strings()
    {
        var json = Written(new HostProtocol.NicRemoved(new HostId("hv-01"), DeviceId.Net("ens1f0"), new NicIdentity(NicIdentityKind.PermanentMac, "00:1b:21:aa:bb:cc")));

        Assert.Equal("hv-01", (string?)json["host"]);
        Assert.Equal("net/ens1f0", (string?)json["device"]);
        Assert.Equal("PermanentMac:00:1b:21:aa:bb:cc", (string?)json["identity"]);
    }

    [Fact]
    public void A_command_id_is_a_GUID_string_and_an_enum_its_member_name()
    {
        var id = new CommandId(new Guid("0b4c8a52-6a3e-4c39-9a8f-4d3b2c1a0f9e"));

        Assert.Equal("0b4c8a52-6a3e-4c39-9a8f-4d3b2c1a0f9e", (string?)Written(new HostProtocol.DetachPort(id, 4, new PortId("p1")))["id"]);
        Assert.Equal("Complete", (string?)Written(new OperatorProtocol.MigrationNotice(
            new NicIdentity(NicIdentityKind.Mac, "02:00:00:00:00:01"), new HostId("a"), new HostId("b"), MigrationPhase.Complete))["phase"]);
    }

    [Fact]
    public void A_computed_property_is_not_written()
    {
        var report = new PortReport(new PortSpec(new PortId("p1")), [DeviceId.Net("eth0")], null, false);

        var port = Written(new HostProtocol.PortChanged(new HostId("hv-01"), report))["port"]!.AsObject();

        Assert.Equal(["spec", "members", "active", "escalated", "fenced"], port.Select(p => p.Key));
    }

    [Theory]
    [InlineData("""{"host":"hv-01","device":"ens1f0","identity":"Mac:02:00:00:00:00:01"}""")] // no subsystem
    [InlineData("""{"host":"hv-01","device":"net/..","identity":"Mac:02:00:00:00:00:01"}""")] // unsafe name
    [InlineData("""{"host":"hv-01","device":"net/eth0","identity":"1:02:00:00:00:00:01"}""")] // kind as a number
    [InlineData("""{"host":"hv-01","device":"net/eth0","identity":"Serial:abc"}""")] // unknown kind
    [InlineData("""{"host":"hv-01","device":"net/eth0","identity":"Mac:"}""")] // no value
    [InlineData("""{"host":"","device":"net/eth0","identity":"Mac:02:00:00:00:00:01"}""")] // empty host
    public void A_malformed_id_is_refused(string json)
    {
        Assert.Throws<SerializationException>(() => Read<HostProtocol.NicRemoved>(json));
    }

    [Fact]
    public void An_enum_written_as_a_number_is_refused()
    {
        Assert.Throws<SerializationException>(() =>
            Read<OperatorProtocol.MigrationNotice>("""{"nic":"Mac:02:00:00:00:00:01","from":"a","to":"b","phase":1}"""));
    }

    [Fact]
    public void A_default_id_cannot_be_written()
    {
        var serializer = (VersionedJsonSerializer)Sys.Serialization.FindSerializerForType(typeof(OperatorProtocol.DrainHost));

        Assert.Throws<SerializationException>(() => serializer.ToBinary(new OperatorProtocol.DrainHost(default)));
    }
}
