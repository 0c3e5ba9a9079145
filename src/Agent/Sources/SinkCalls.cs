using Replug.Shared.Uevents;

namespace Replug.Agent.Sources;

/// <summary>
/// How the sources call their sink: counted, and never letting a sink's exception end the
/// receive loop (a fault listener must not die of a consumer's bug; the counter shows it).
/// </summary>
internal static class SinkCalls
{
    /// <summary>Counts a parse result and hands it to the sink as an event or a rejection.</summary>
    public static void Deliver(IUeventSink sink, SourceCounters counters, in UeventParseResult result)
    {
        try
        {
            if (result.Event is { } uevent)
            {
                counters.CountAccepted();
                sink.OnEvent(uevent);
            }
            else
            {
                counters.CountRejected(result.Rejection);
                sink.OnRejected(result.Rejection, result.Detail ?? "");
            }
        }
        catch (Exception)
        {
            counters.CountSinkError();
        }
    }

    /// <summary>A rejection found by the source itself (before the parser could see the message).</summary>
    public static void Reject(IUeventSink sink, SourceCounters counters, UeventRejection reason, string detail)
    {
        counters.CountRejected(reason);
        try { sink.OnRejected(reason, detail); }
        catch (Exception) { counters.CountSinkError(); }
    }

    public static void Overflow(IUeventSink sink, SourceCounters counters)
    {
        counters.CountOverflow();
        try { sink.OnOverflow(); }
        catch (Exception) { counters.CountSinkError(); }
    }

    public static void Complete(IUeventSink sink, Exception? error)
    {
        try { sink.OnCompleted(error); }
        catch (Exception) { /* the loop is ending anyway: nothing left to tell */ }
    }
}
