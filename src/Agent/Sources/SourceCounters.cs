using System.Collections.Immutable;
using System.Text;
using Replug.Shared.Uevents;

namespace Replug.Agent.Sources;

/// <summary>
/// What a uevent source has seen, counted on the source's thread and read from any other
/// (Interlocked). Every message read ends in exactly one of: accepted, rejected (by reason),
/// truncated, foreign sender, bad credentials, sink error — so they add up to
/// <see cref="Received"/>. Overflows and receive errors are failed reads, not messages.
/// </summary>
public sealed class SourceCounters
{
    // Indexed by UeventRejection's value; sized from the enum so a new reason needs no change here.
    private static readonly int RejectionSlots = Enum.GetValues<UeventRejection>().Max(r => (int)r) + 1;

    private readonly long[] _rejected = new long[RejectionSlots];
    private long _received, _accepted, _truncated, _foreignSender, _badCredentials, _overflows, _receiveErrors, _sinkErrors;

    /// <summary>Messages read (datagrams from netlink, messages or blocks from a capture).</summary>
    public long Received => Interlocked.Read(ref _received);

    /// <summary>Messages parsed and handed to the sink.</summary>
    public long Accepted => Interlocked.Read(ref _accepted);

    /// <summary>Messages the parser refused, all reasons together.</summary>
    public long Rejected
    {
        get
        {
            long total = 0;
            for (var i = 0; i < _rejected.Length; i++) total += Interlocked.Read(ref _rejected[i]);
            return total;
        }
    }

    /// <summary>Netlink datagrams larger than the receive buffer (MSG_TRUNC): dropped, never parsed half.</summary>
    public long Truncated => Interlocked.Read(ref _truncated);

    /// <summary>Netlink datagrams whose sender port id is not 0, i.e. not the kernel: forged by a user process.</summary>
    public long ForeignSender => Interlocked.Read(ref _foreignSender);

    /// <summary>Netlink datagrams without SCM_CREDENTIALS or with a uid other than 0.</summary>
    public long BadCredentials => Interlocked.Read(ref _badCredentials);

    /// <summary>ENOBUFS: the kernel dropped messages because the receive buffer was full.</summary>
    public long Overflows => Interlocked.Read(ref _overflows);

    /// <summary>Reads that failed for another reason than ENOBUFS/EINTR/EAGAIN.</summary>
    public long ReceiveErrors => Interlocked.Read(ref _receiveErrors);

    /// <summary>Accepted messages whose sink threw; the source keeps going (a listener must not die of a consumer's bug).</summary>
    public long SinkErrors => Interlocked.Read(ref _sinkErrors);

    public long RejectedFor(UeventRejection reason) =>
        (int)reason < _rejected.Length ? Interlocked.Read(ref _rejected[(int)reason]) : 0;

    internal void CountReceived() => Interlocked.Increment(ref _received);
    internal void CountAccepted() => Interlocked.Increment(ref _accepted);
    internal void CountRejected(UeventRejection reason) => Interlocked.Increment(ref _rejected[(int)reason]);
    internal void CountTruncated() => Interlocked.Increment(ref _truncated);
    internal void CountForeignSender() => Interlocked.Increment(ref _foreignSender);
    internal void CountBadCredentials() => Interlocked.Increment(ref _badCredentials);
    internal void CountOverflow() => Interlocked.Increment(ref _overflows);
    internal void CountReceiveError() => Interlocked.Increment(ref _receiveErrors);
    internal void CountSinkError() => Interlocked.Increment(ref _sinkErrors);

    /// <summary>
    /// A copy for logs and metrics. Each counter is read atomically, but not all at the same
    /// instant: while the source runs, the totals may be off by the messages in flight.
    /// </summary>
    public SourceCountersSnapshot Snapshot()
    {
        var byReason = ImmutableDictionary.CreateBuilder<UeventRejection, long>();
        for (var i = 0; i < _rejected.Length; i++)
        {
            var n = Interlocked.Read(ref _rejected[i]);
            if (n != 0) byReason[(UeventRejection)i] = n;
        }
        return new SourceCountersSnapshot(Received, Accepted, byReason.ToImmutable(), Truncated, ForeignSender,
            BadCredentials, Overflows, ReceiveErrors, SinkErrors);
    }

    public override string ToString() => Snapshot().ToString();
}

/// <summary>An immutable copy of <see cref="SourceCounters"/>; <see cref="RejectedByReason"/> lists only non-zero reasons.</summary>
public sealed record SourceCountersSnapshot(
    long Received,
    long Accepted,
    ImmutableDictionary<UeventRejection, long> RejectedByReason,
    long Truncated,
    long ForeignSender,
    long BadCredentials,
    long Overflows,
    long ReceiveErrors,
    long SinkErrors)
{
    public long Rejected => RejectedByReason.Values.Sum();

    /// <summary>One line for logs: "received 27, accepted 26, rejected 1 (InvalidSeqNum 1), ...". Zero counters after "rejected" are left out.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append("received ").Append(Received).Append(", accepted ").Append(Accepted).Append(", rejected ").Append(Rejected);
        if (!RejectedByReason.IsEmpty)
            sb.Append(" (").AppendJoin(", ", RejectedByReason.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key} {kv.Value}")).Append(')');
        Append(sb, "truncated", Truncated);
        Append(sb, "foreign sender", ForeignSender);
        Append(sb, "bad credentials", BadCredentials);
        Append(sb, "overflows", Overflows);
        Append(sb, "receive errors", ReceiveErrors);
        Append(sb, "sink errors", SinkErrors);
        return sb.ToString();

        static void Append(StringBuilder sb, string name, long value)
        {
            if (value != 0) sb.Append(", ").Append(name).Append(' ').Append(value);
        }
    }
}
