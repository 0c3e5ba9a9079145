using Replug.Agent.Sources;
using Replug.Shared.Uevents;

namespace Replug.Agent.Tests.Sources;

public sealed class SourceCountersTests
{
    [Fact]
    public void CountsFromManyThreadsAreExact()
    {
        var counters = new SourceCounters();
        Parallel.For(0, 8, _ =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                counters.CountReceived();
                counters.CountRejected(UeventRejection.MissingHeader);
            }
        });

        Assert.Equal(80_000, counters.Received);
        Assert.Equal(80_000, counters.RejectedFor(UeventRejection.MissingHeader));
        Assert.Equal(80_000, counters.Rejected);
    }

    [Fact]
    public void SnapshotListsOnlyNonZeroReasonsAndReadsWell()
    {
        var counters = new SourceCounters();
        for (var i = 0; i < 3; i++) counters.CountReceived();
        counters.CountAccepted();
        counters.CountRejected(UeventRejection.InvalidSeqNum);
        counters.CountForeignSender();
        counters.CountOverflow();

        var snapshot = counters.Snapshot();
        counters.CountAccepted(); // a snapshot does not move

        Assert.Equal(1, snapshot.Accepted);
        Assert.Equal(1, Assert.Single(snapshot.RejectedByReason, kv => kv.Key == UeventRejection.InvalidSeqNum).Value);
        Assert.Single(snapshot.RejectedByReason);
        Assert.Equal("received 3, accepted 1, rejected 1 (InvalidSeqNum 1), foreign sender 1, overflows 1", snapshot.ToString());
    }

    [Fact]
    public void EveryRejectionReasonHasASlot()
    {
        var counters = new SourceCounters();
        foreach (var reason in Enum.GetValues<UeventRejection>()) counters.CountRejected(reason);
        Assert.Equal(Enum.GetValues<UeventRejection>().Length, counters.Rejected);
    }
}
