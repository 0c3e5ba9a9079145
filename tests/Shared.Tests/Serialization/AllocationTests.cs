using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using Replug.Shared.Serialization;

namespace Replug.Shared.Tests.Serialization;

/// <summary>Not a benchmark: a guard against a serializer that allocates far more than the payload it writes.</summary>
public class AllocationTests : SerializationTestKit
{
    private const int Rounds = 1_000;

    [Fact]
    public void Asking_for_the_manifest_allocates_nothing()
    {
        var message = new OperatorProtocol.DrainHost(new HostId("hv-01"));
        var serializer = (VersionedJsonSerializer)Sys.Serialization.FindSerializerFor(message);
        serializer.Manifest(message);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < Rounds; i++) serializer.Manifest(message);

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void A_round_trip_of_a_small_message_allocates_little_more_than_its_bytes_and_the_copy()
    {
        var message = new HostProtocol.CommandAcknowledged(CommandId.New(), new HostId("hv-01"), 7);
        var serializer = (VersionedJsonSerializer)Sys.Serialization.FindSerializerFor(message);
        var manifest = serializer.Manifest(message);
        serializer.FromBinary(serializer.ToBinary(message), manifest);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < Rounds; i++) serializer.FromBinary(serializer.ToBinary(message), manifest);
        var perRoundTrip = (GC.GetAllocatedBytesForCurrentThread() - before) / Rounds;

        // About 90 bytes of JSON: the array, the record, its string, and System.Text.Json's
        // per-call constructor-argument state. Measured at about 350 bytes (.NET 10); the bound
        // leaves room for runtime changes but not for a per-call options or contract rebuild.
        Assert.True(perRoundTrip < 1_024, $"{perRoundTrip} bytes per round trip");
    }
}
