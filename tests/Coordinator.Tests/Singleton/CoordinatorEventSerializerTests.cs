using System.Text;
using Replug.Coordinator.Singleton;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using Replug.Shared.Serialization;
using static Replug.Coordinator.Singleton.CoordinatorEvents;

namespace Replug.Coordinator.Tests.Singleton;

/// <summary>The NIC events in their compact form (v2), and their JSON form (v1), which journals already hold.</summary>
public sealed class CoordinatorEventSerializerTests()
    : Akka.TestKit.Xunit2.TestKit(ReplugSerializers.CreateActorSystemSetup(null, CoordinatorEventSerializer.Binding))
{
    private static readonly DateTimeOffset At = new DateTimeOffset(2026, 12, 8, 3, 42, 55, TimeSpan.Zero).AddTicks(5622431);
    private static readonly NicIdentity Mac = new(NicIdentityKind.PermanentMac, "02:00:00:00:00:00");

    public static TheoryData<ICoordinatorEvent, string> NicEvents() => new()
    {
        { new NicAdded(new HostId("dst-000"), new NicReport(DeviceId.Net("eth0"), Mac, null, true), At), "coordinator.nic-added.v2" },
        { new NicAdded(new HostId("hv-1"), new NicReport(DeviceId.Pci("0000:03:00.1"), new NicIdentity(NicIdentityKind.Pci, "8086:10fb@0000:03:00.1"), "0000:03:00.1", false), At.ToOffset(TimeSpan.FromHours(2))), "coordinator.nic-added.v2" },
        { new NicRemoved(new HostId("src-000"), DeviceId.Net("eth0"), Mac, At), "coordinator.nic-removed.v2" },
        { new NicMigrated(Mac, new HostId("src-000"), new HostId("dst-000"), DeviceId.Net("eth0"), true, At), "coordinator.nic-migrated.v2" },
    };

    [Theory]
    [MemberData(nameof(NicEvents))]
    public void A_NIC_event_is_written_compact_and_reads_back_equal(ICoordinatorEvent e, string manifest)
    {
        var serializer = Assert.IsType<CoordinatorEventSerializer>(Sys.Serialization.FindSerializerFor(e));
        var bytes = serializer.ToBinary(e);

        Assert.Equal(manifest, serializer.Manifest(e));
        Assert.Equal(e, Sys.Serialization.Deserialize(bytes, serializer.Identifier, manifest));
        Assert.True(bytes.Length * 2 < JsonSerializerLength(serializer, e), $"{bytes.Length} bytes: not compact");
    }

    [Fact]
    public void The_compact_form_of_a_NicMigrated_is_stable()
    {
        var stored = Convert.FromHexString("001230323a30303a30303a30303a30303a3030087372632d303030086473742d303030046e65740565746830001f944958dd54df080000");

        var e = Sys.Serialization.Deserialize(stored, ReplugSerializers.CoordinatorEventsId, "coordinator.nic-migrated.v2");

        Assert.Equal(new NicMigrated(Mac, new HostId("src-000"), new HostId("dst-000"), DeviceId.Net("eth0"), false, At), e);
        Assert.Equal(stored, Sys.Serialization.FindSerializerFor(e).ToBinary(e));
    }

    /// <summary>What the journals written before v2 hold (copied from Fixtures/journal-migrations-v1).</summary>
    [Theory]
    [InlineData("coordinator.nic-added.v1", """{"host":"dst-000","nic":{"device":"net/eth0","identity":"PermanentMac:02:00:00:00:00:00","pciSlot":null,"healthy":true},"at":"2026-12-08T03:42:55.5622431+00:00"}""")]
    [InlineData("coordinator.nic-removed.v1", """{"host":"src-000","device":"net/eth0","identity":"PermanentMac:02:00:00:00:00:00","at":"2026-12-08T03:42:55.5622431+00:00"}""")]
    [InlineData("coordinator.nic-migrated.v1", """{"nic":"PermanentMac:02:00:00:00:00:00","from":"src-000","to":"dst-000","device":"net/eth0","announced":false,"at":"2026-12-08T03:42:55.5622431+00:00"}""")]
    public void A_NIC_event_stored_as_JSON_still_reads(string manifest, string json)
    {
        var e = Sys.Serialization.Deserialize(Encoding.UTF8.GetBytes(json), ReplugSerializers.CoordinatorEventsId, manifest);

        object expected = e switch
        {
            NicAdded => new NicAdded(new HostId("dst-000"), new NicReport(DeviceId.Net("eth0"), Mac, null, true), At),
            NicRemoved => new NicRemoved(new HostId("src-000"), DeviceId.Net("eth0"), Mac, At),
            _ => new NicMigrated(Mac, new HostId("src-000"), new HostId("dst-000"), DeviceId.Net("eth0"), false, At),
        };
        Assert.Equal(expected, e);
    }

    [Fact]
    public void A_damaged_compact_payload_is_refused_naming_its_manifest()
    {
        var bytes = Sys.Serialization.FindSerializerFor(new NicRemoved(new HostId("a"), DeviceId.Net("eth0"), Mac, At))
            .ToBinary(new NicRemoved(new HostId("a"), DeviceId.Net("eth0"), Mac, At));

        var e = Assert.Throws<System.Runtime.Serialization.SerializationException>(() =>
            Sys.Serialization.Deserialize(bytes[..^4], ReplugSerializers.CoordinatorEventsId, "coordinator.nic-removed.v2"));

        Assert.Contains("'coordinator.nic-removed.v2'", e.Message);
        Assert.Contains("ends early", e.Message);
    }

    [Fact]
    public void A_ports_answer_keeps_a_fenced_port_and_one_from_a_v2_node_reads_as_not_fenced()
    {
        var port = new PortView(new PortSpec(new PortId("p1")), new HostId("h1"), PortState.Active, null, DeviceId.Net("v1"),
            [DeviceId.Net("v1"), DeviceId.Net("v2")], Forwarding: false, Redundant: true, Home: null, MovingFrom: null, Fenced: true);
        var answer = new CoordinatorQueries.PortsView([port]);
        var serializer = Assert.IsType<CoordinatorEventSerializer>(Sys.Serialization.FindSerializerFor(answer));
        var v3 = serializer.ToBinary(answer);

        var current = Assert.IsType<CoordinatorQueries.PortsView>(Sys.Serialization.Deserialize(v3, serializer.Identifier, serializer.Manifest(answer)));
        var v2Json = System.Text.Json.Nodes.JsonNode.Parse(v3)!;
        Assert.True(v2Json["ports"]![0]!.AsObject().Remove("fenced"), "the v3 answer names the field");
        var fromV2 = Assert.IsType<CoordinatorQueries.PortsView>(
            Sys.Serialization.Deserialize(Encoding.UTF8.GetBytes(v2Json.ToJsonString()), serializer.Identifier, "coordinator.query.ports.v2"));

        Assert.Equal("coordinator.query.ports.v3", serializer.Manifest(answer));
        Assert.True(current.Ports.Single().Fenced);
        Assert.False(fromV2.Ports.Single().Fenced);
        Assert.Equal(port.Active, fromV2.Ports.Single().Active);
    }

    private static int JsonSerializerLength(VersionedJsonSerializer serializer, object e) =>
        System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(e, e.GetType(), serializer.Options).Length;
}
