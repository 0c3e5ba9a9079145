using Replug.Coordinator.Singleton;

namespace Replug.Coordinator.Tests.Singleton;

public sealed class SnapshotScheduleTests
{
    private static readonly SnapshotSchedule Schedule = new(EveryEvents: 100);

    [Fact]
    public void A_small_state_is_snapshotted_every_SnapshotEvery_events()
    {
        Assert.False(Schedule.IsDue(eventsSince: 99, records: 10));
        Assert.True(Schedule.IsDue(eventsSince: 100, records: 10));
    }

    [Fact]
    public void A_large_state_waits_for_as_many_events_as_it_has_records()
    {
        Assert.False(Schedule.IsDue(eventsSince: 100, records: 20_400));
        Assert.False(Schedule.IsDue(eventsSince: 20_399, records: 20_400));
        Assert.True(Schedule.IsDue(eventsSince: 20_400, records: 20_400));
    }

    [Fact]
    public void A_recovery_replays_at_most_the_records_or_SnapshotEvery_plus_one_write_less_one_event()
    {
        Assert.Equal(20_400 + 999, Schedule.MostEventsReplayed(records: 20_400, batchEvents: 1000));
        Assert.Equal(100 + 999, Schedule.MostEventsReplayed(records: 3, batchEvents: 1000));
    }

    [Fact]
    public void The_snapshot_cost_per_event_does_not_grow_with_the_state()
    {
        // Records written by snapshots per event written, over a long run at a steady state size.
        foreach (var records in new long[] { 10, 1_000, 100_000 })
        {
            long written = 0, sinceLast = 0, snapshotRecords = 0;
            for (var events = 0; events < 1_000_000; events++)
            {
                written++;
                if (!Schedule.IsDue(++sinceLast, records)) continue;
                snapshotRecords += records;
                sinceLast = 0;
            }
            Assert.True(snapshotRecords <= written, $"{records} records: {snapshotRecords} snapshot records for {written} events");
        }
    }
}
