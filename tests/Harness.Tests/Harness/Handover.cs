namespace Replug.Harness;

/// <summary>
/// A port leaving one host for another after a fault, as the probe saw it (all on the probe's clock):
/// the old host's last frame after the fault, up to the end of the new host's first run of frames
/// (a gap in the old host's frames does not count as stopping; frames after the new host's run ended
/// are the port coming back, a hand-over of its own), and the new host's first frame after the fault.
/// </summary>
public sealed record Handover(string Port, string From, string To, int FaultAt, int? OldLast, int? NewFirst)
{
    /// <summary>How long the old host kept forwarding after the fault (null: it was not forwarding then).</summary>
    public int? OldKeptForwardingMs => OldLast - FaultAt;
    /// <summary>From the fault to the new host's first frame.</summary>
    public int? FailoverMs => NewFirst - FaultAt;
    /// <summary>The new host's first frame after the old host's last: positive is fence-before-move.</summary>
    public int? MarginMs => NewFirst - OldLast;

    public static Handover Of(ForwardingRecord traffic, string port, string from, string to, int faultAt)
    {
        var p = traffic.PortIndex(port);
        var newFirst = traffic.FirstSeenFrom(p, traffic.HostIndex(to), faultAt);
        var newRunEnd = newFirst is { } first ? traffic.LastOfRunAt(p, traffic.HostIndex(to), first) ?? traffic.LastSentSlot : traffic.LastSentSlot;
        return new Handover(port, from, to, faultAt, traffic.LastSeenBetween(p, traffic.HostIndex(from), faultAt, newRunEnd), newFirst);
    }

    /// <summary>The old host stopped forwarding before the new host started (and, with <paramref name="within"/>, within that long of the fault).</summary>
    public void AssertOldStoppedFirst(int lastSentSlot, TimeSpan? within = null)
    {
        if (NewFirst is null) throw new HarnessException($"{Port} never forwarded on {To} after the fault at {FaultAt / 1000.0:0.000} s");
        if (OldLast is null) return; // the old host was not forwarding at the fault
        var still = OldLast >= lastSentSlot - ForwardingRecord.MergeGapMs;
        if (OldLast >= NewFirst)
            throw new HarnessException($"{From} kept forwarding {Port} {(still ? "until now" : "until")} {OldLast / 1000.0:0.000} s " +
                $"({OldKeptForwardingMs} ms after the fault at {FaultAt / 1000.0:0.000} s), but {To} started forwarding it at " +
                $"{NewFirst / 1000.0:0.000} s: the port forwarded on two hosts at once");
        if (within is { } limit && OldKeptForwardingMs > limit.TotalMilliseconds)
            throw new HarnessException($"{From} kept forwarding {Port} {OldKeptForwardingMs} ms after the fault at {FaultAt / 1000.0:0.000} s " +
                $"(limit {limit.TotalMilliseconds:0} ms)");
    }

    public override string ToString() =>
        $"{Port} {From} -> {To}: old host forwarded {Format(OldKeptForwardingMs)} after the fault, new host from {Format(FailoverMs)}, margin {Format(MarginMs)}";

    private static string Format(int? ms) => ms is { } v ? $"{v} ms" : "-";
}
