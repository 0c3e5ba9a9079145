namespace Replug.Coordinator.Singleton;

/// <summary>
/// The coordinator's most recent events, each with its journal sequence number, for
/// <c>GET /events</c> and <c>GET /events/stream</c>. The journal's numbers, not a counter of this
/// instance's: a new singleton after a hand-over replays the same journal and numbers the same
/// events the same way, so a stream's <c>Last-Event-ID</c> still means the same event. Pure.
/// </summary>
public sealed class RecentEvents(int kept)
{
    private readonly Queue<(long Sequence, ICoordinatorEvent Event)> _events = new();

    /// <summary>Keeps <paramref name="e"/>, persisted as journal entry <paramref name="sequence"/>; the oldest beyond the limit is dropped.</summary>
    public void Remember(long sequence, ICoordinatorEvent e)
    {
        _events.Enqueue((sequence, e));
        while (_events.Count > kept) _events.Dequeue();
    }

    /// <summary>The <paramref name="max"/> newest, oldest first.</summary>
    public IEnumerable<ICoordinatorEvent> Newest(int max) => _events.TakeLast(Math.Clamp(max, 1, kept)).Select(e => e.Event);

    /// <summary>
    /// Up to <paramref name="max"/> events after sequence number <paramref name="after"/>, oldest
    /// first, with the range this instance still holds (<paramref name="newest"/> is the journal's
    /// last sequence number, which a snapshot may have taken past every event kept).
    /// </summary>
    public EventFeed.EventPage After(long after, int max, long newest)
    {
        var oldest = _events.Count > 0 ? _events.Peek().Sequence : newest + 1;
        return new EventFeed.EventPage(
            [.. _events.Where(e => e.Sequence > after).Take(Math.Clamp(max, 1, kept))
                .Select(e => new EventFeed.SequencedEvent(e.Sequence, Api.EventDescriptions.Describe(e.Event)))],
            oldest, newest);
    }
}

/// <summary>The queries behind <c>GET /events/stream</c>: events by journal sequence number.</summary>
public static class EventFeed
{
    /// <summary>Up to <paramref name="Max"/> events after journal sequence number <paramref name="After"/>.</summary>
    public sealed record GetEventsAfter(long After, int Max) : ICoordinatorQuery;

    /// <summary>One event as <c>GET /events</c> lists it, with its journal sequence number.</summary>
    public sealed record SequencedEvent(long Sequence, CoordinatorQueries.EventRecord Event);

    /// <summary>
    /// Events after the asked number, oldest first. <paramref name="Oldest"/>: the first sequence number
    /// still kept (events before it can no longer be sent; <paramref name="Newest"/> + 1 when none is
    /// kept); <paramref name="Newest"/>: the journal's last.
    /// </summary>
    public sealed record EventPage(IReadOnlyList<SequencedEvent> Events, long Oldest, long Newest) : ICoordinatorQuery;
}
