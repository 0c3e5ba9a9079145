namespace Replug.Coordinator.Singleton;

/// <summary>
/// When the coordinator writes a snapshot, pure. A snapshot costs time in proportion to the records
/// it holds (hosts, ports, fail-overs, NICs, commands, ...); a recovery replays the events written
/// since the latest one. So a snapshot is due once at least <see cref="EveryEvents"/> events were
/// written since the last one, and at least as many events as the state holds records: writing
/// snapshots then costs about one record's worth of work per event, whatever the state's size (a whole
/// state of 20,000 NICs is not rewritten every 100 events), and a recovery replays at most about as
/// many events as the snapshot holds records, plus one journal write's batch.
/// </summary>
/// <remarks>
/// Counting records and events, not bytes, keeps the rule off the hot path: the bytes of an event are
/// known only by serializing it a second time (the journal serializes it on its own thread), which cost
/// more than the snapshots themselves (issue 10).
/// </remarks>
/// <param name="EveryEvents">The fewest events between two snapshots (<c>Replug:Coordinator:Persistence:SnapshotEvery</c>).</param>
public sealed record SnapshotSchedule(int EveryEvents)
{
    /// <summary>Whether a snapshot is due after <paramref name="eventsSince"/> events since the last one, with <paramref name="records"/> records in the state.</summary>
    public bool IsDue(long eventsSince, long records) => eventsSince >= Math.Max(EveryEvents, records);

    /// <summary>
    /// The most events a recovery from the latest snapshot replays with <paramref name="records"/> records
    /// in the state: a snapshot is taken at the end of the journal write that made it due, which holds at
    /// most <paramref name="batchEvents"/> events.
    /// </summary>
    public long MostEventsReplayed(long records, int batchEvents) => Math.Max(EveryEvents, records) + batchEvents - 1;
}
