using System.Text.RegularExpressions;
using Replug.Coordinator.Api;
using Replug.Coordinator.Singleton;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using Replug.Shared.Tests.Serialization;
using static Replug.Coordinator.Singleton.CoordinatorEvents;

namespace Replug.Coordinator.Tests.Api;

/// <summary>The summaries of <c>GET /events</c>: readable pairs, ISO times, no .NET type names, for every event type.</summary>
public sealed partial class EventDescriptionsTests
{
    private static readonly DateTimeOffset At = new(2026, 3, 1, 12, 30, 0, 250, TimeSpan.FromHours(1));
    private const string AtUtc = "2026-03-01T11:30:00.250Z";

    [GeneratedRegex(@"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")]
    private static partial Regex IsoTime();

    // A date written any other way: "03/01/2026", "2026-03-01 12:30", "+01:00".
    [GeneratedRegex(@"\d{1,2}/\d{1,2}/\d{4}|\d{4}-\d{2}-\d{2} \d|[+-]\d{2}:\d{2}\b")]
    private static partial Regex OtherTime();

    // What a record's generated ToString writes: "TypeName { Field = value }".
    [GeneratedRegex(@"\w+ \{ ")]
    private static partial Regex RecordToString();

    public static TheoryData<string, bool> EveryEventType()
    {
        var data = new TheoryData<string, bool>();
        foreach (var entry in CoordinatorEventSerializer.Manifests.Entries.Where(e => typeof(ICoordinatorEvent).IsAssignableFrom(e.Type)))
        {
            data.Add(entry.Name, true);
            data.Add(entry.Name, false);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(EveryEventType))]
    public void Every_registered_event_is_described_by_its_fields_with_ISO_times_and_no_type_names(string manifest, bool filled)
    {
        Assert.True(CoordinatorEventSerializer.Manifests.TryGetByName(manifest, out var entry));
        var e = (ICoordinatorEvent)Samples.Create(entry.Type, filled);

        var record = EventDescriptions.Describe(e);

        Assert.Equal(entry.Type.Name, record.Type);
        Assert.Equal(e.At, record.At);
        var summary = record.Summary;
        Assert.DoesNotContain("System.", summary);
        Assert.DoesNotContain("`1", summary);
        Assert.DoesNotContain("Replug.", summary);
        Assert.False(RecordToString().IsMatch(summary), $"a record's ToString in: {summary}");
        Assert.False(OtherTime().IsMatch(summary), $"a time not in ISO 8601 UTC in: {summary}");
        Assert.Matches("(^|, )At=2026-03-01T11:30:00.000Z", summary); // Samples' time, 12:30 at +01:00
        Assert.All(IsoTime().Matches(summary), m => Assert.Equal("2026-03-01T11:30:00.000Z", m.Value));
        // Every field of the event, by name, in declaration order.
        var names = entry.Type.GetConstructors().MaxBy(c => c.GetParameters().Length)!.GetParameters().Select(p => p.Name + "=").ToList();
        Assert.StartsWith(names[0], summary);
        var positions = names.Skip(1).Select(n => summary.IndexOf(", " + n, StringComparison.Ordinal)).ToList();
        Assert.All(positions, p => Assert.True(p >= 0, $"a field is missing from: {summary}"));
        Assert.Equal(positions.Order(), positions);
    }

    [Fact]
    public void A_nested_record_is_written_by_its_fields_and_ids_by_their_names()
    {
        var id = new FailoverId(new Guid("6f1c2b7e-3d4a-4e5f-9a8b-7c6d5e4f3a2b"));
        var e = new FailoverStarted(id, new PortSpec(new PortId("p1"), 10, "db"), new HostId("host-a"), "host lost", At);

        Assert.Equal(
            $"Id=6f1c2b7e3d4a, Port={{Port=p1, Priority=10, AntiAffinityGroup=db}}, From=host-a, Reason=host lost, At={AtUtc}, To=null",
            EventDescriptions.Describe(e).Summary);
    }

    [Fact]
    public void Lists_are_written_in_brackets_and_missing_values_as_null()
    {
        var nic = new NicReport(DeviceId.Net("eth1"), new NicIdentity(NicIdentityKind.PermanentMac, "52:54:00:00:00:0a"), null, true);
        var port = new PortReport(new PortSpec(new PortId("p1")), [DeviceId.Net("eth1"), DeviceId.Pci("0000:03:00.0")], DeviceId.Net("eth1"), false);
        var e = new HostRegistered(new HostId("host-a"), "akka.tcp://replug@10.0.0.1:4053", 7, new HostInventory([nic], [port], 2, 0), At);

        Assert.Equal(
            "Host=host-a, Address=akka.tcp://replug@10.0.0.1:4053, Incarnation=7, Inventory={" +
            "Nics=[{Device=net/eth1, Identity=PermanentMac:52:54:00:00:00:0a, PciSlot=null, Healthy=true}], " +
            "Ports=[{Spec={Port=p1, Priority=0, AntiAffinityGroup=null}, Members=[net/eth1, pci/0000:03:00.0], Active=net/eth1, Escalated=false, Fenced=false}], " +
            $"Capacity=2, Load=0, Reserved=false}}, At={AtUtc}",
            EventDescriptions.Describe(e).Summary);
    }

    private sealed record TestOnlyEvent(
        HostId Host, IReadOnlyDictionary<string, int> Counts, TimeSpan Waited, DateTime Seen, IReadOnlyList<IReadOnlyList<PortId>> Groups,
        string Note, DateTimeOffset At) : ICoordinatorEvent
    {
        public int Computed => Counts.Count; // not a field: not written
    }

    [Fact]
    public void An_event_type_added_later_is_described_without_touching_the_describer()
    {
        var e = new TestOnlyEvent(new HostId("h1"), new Dictionary<string, int> { ["a"] = 1 }, TimeSpan.FromSeconds(20),
            new DateTime(2026, 3, 1, 11, 30, 0, DateTimeKind.Utc), [[new PortId("p1"), new PortId("p2")], []], "", At);

        var record = EventDescriptions.Describe(e);

        Assert.Equal(nameof(TestOnlyEvent), record.Type);
        Assert.Equal($"Host=h1, Counts={{a=1}}, Waited=PT20S, Seen=2026-03-01T11:30:00.000Z, Groups=[[p1, p2], []], Note=\"\", At={AtUtc}",
            record.Summary);
    }
}
