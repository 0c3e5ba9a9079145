namespace Replug.Harness;

/// <summary>
/// What the traffic probe saw: which port's frames arrived on which host, by the frame's slot
/// (the millisecond, counted from the probe's start, in which the fabric sent it). A frame is
/// flooded to every host at once, so one slot received on two hosts means both forwarded the
/// port at that moment.
/// <para>
/// The invariant is checked on every frame as it is recorded, per 10 ms window: two hosts whose
/// received slots of one port <b>overlap</b> inside a window (the same slot, or one host's slot
/// between two of the other's) forwarded it at the same time: a <see cref="Violation"/>. Windows,
/// not only single slots, so that a lost frame cannot hide a double forwarder. Two hosts in one
/// window whose slots do not overlap (the old host's last frame before the new host's first) are
/// a hand-over closer than a window, counted as <see cref="CloseHandovers"/>, not a violation:
/// detach-before-attach can legitimately be that quick.
/// </para>
/// </summary>
public sealed class ForwardingRecord
{
    /// <summary>Frames of one port received on one host, merged across gaps shorter than <see cref="MergeGapMs"/>.</summary>
    public readonly record struct Interval(int First, int Last)
    {
        public override string ToString() => $"{First / 1000.0:0.000}-{Last / 1000.0:0.000} s";
    }

    /// <param name="FromSlot">First slot of the first window with the overlap.</param>
    /// <param name="ToSlot">Last slot of the last window with the overlap (consecutive windows are one violation).</param>
    public sealed record Violation(string Port, string HostA, string HostB, int FromSlot, int ToSlot, int Windows)
    {
        public override string ToString() =>
            $"port {Port} forwarded on {HostA} and {HostB} at once from {FromSlot / 1000.0:0.000} s to {ToSlot / 1000.0:0.000} s ({Windows} window(s) of the probe)";
    }

    public const int MergeGapMs = 100;
    private const int Ring = 8192; // windows kept for the overlap check: 80 s at 10 ms, far more than any receive delay
    /// <summary>Slots kept frame by frame (sent, and received per port and host) for <see cref="Lost"/>: the last 65 s.</summary>
    public const int SlotRing = 65536;
    private readonly int[] _sentSlots = Enumerable.Repeat(-1, SlotRing).ToArray();

    private readonly string[] _ports;
    private readonly string[] _hosts;
    private readonly int _window;
    private readonly PortState[] _state;
    private readonly List<Violation> _violations = [];
    private readonly Dictionary<(int Port, int A, int B), int> _openViolation = [];
    private long _frames;
    private long _closeHandovers;
    private int _lastSent = -1;
    private long _slotsSent;
    private long _slotsSkipped;

    public ForwardingRecord(IReadOnlyList<string> ports, IReadOnlyList<string> hosts, int windowMs = 10)
    {
        if (hosts.Count > 31) throw new ArgumentOutOfRangeException(nameof(hosts), "at most 31 hosts");
        _ports = [.. ports];
        _hosts = [.. hosts];
        _window = windowMs;
        _state = [.. _ports.Select(_ => new PortState(_hosts.Length))];
    }

    public IReadOnlyList<string> Ports => _ports;
    public IReadOnlyList<string> Hosts => _hosts;
    public int WindowMs => _window;

    /// <summary>The newest slot the fabric sent: "now" on the probe's clock.</summary>
    public int LastSentSlot => Volatile.Read(ref _lastSent);
    /// <summary>Frames received on a VM end and checked against every other host.</summary>
    public long FramesChecked => Interlocked.Read(ref _frames);
    public long SlotsSent => Interlocked.Read(ref _slotsSent);
    /// <summary>Milliseconds in which the sender was late and sent nothing (no evidence either way).</summary>
    public long SlotsSkipped => Interlocked.Read(ref _slotsSkipped);
    public long CloseHandovers => Interlocked.Read(ref _closeHandovers);

    public IReadOnlyList<Violation> Violations
    {
        get { lock (_violations) return [.. _violations]; }
    }

    public int PortIndex(string port) => Array.IndexOf(_ports, port) is var i and >= 0 ? i : throw new ArgumentException($"unknown port {port}");
    public int HostIndex(string host) => Array.IndexOf(_hosts, host) is var i and >= 0 ? i : throw new ArgumentException($"unknown host {host}");

    /// <summary>The sender sent <paramref name="slot"/> (after <paramref name="skipped"/> slots it was too late for).</summary>
    public void Sent(int slot, int skipped)
    {
        Volatile.Write(ref _sentSlots[slot % SlotRing], slot);
        Volatile.Write(ref _lastSent, slot);
        Interlocked.Add(ref _slotsSent, 1);
        if (skipped > 0) Interlocked.Add(ref _slotsSkipped, skipped);
    }

    public void Record(int port, int host, int slot)
    {
        var s = _state[port];
        lock (s)
        {
            Interlocked.Increment(ref _frames);
            var w = slot / _window;
            var i = w % Ring;
            if (s.WindowTag[i] != w)
            {
                s.WindowTag[i] = w;
                s.Seen[i] = 0;
                for (var h = 0; h < _hosts.Length; h++) { s.Min[i, h] = int.MaxValue; s.Max[i, h] = int.MinValue; }
            }
            s.Received[host][slot % SlotRing] = slot;
            if (slot < s.Min[i, host]) s.Min[i, host] = slot;
            if (slot > s.Max[i, host]) s.Max[i, host] = slot;
            var others = s.Seen[i] & ~(1 << host);
            s.Seen[i] |= 1 << host;
            for (var h = 0; others != 0 && h < _hosts.Length; h++)
            {
                if ((others & (1 << h)) == 0) continue;
                var overlap = s.Min[i, host] <= s.Max[i, h] && s.Min[i, h] <= s.Max[i, host];
                if (overlap) AddViolation(port, Math.Min(host, h), Math.Max(host, h), w);
                else if (s.CloseCounted[i] != w) { s.CloseCounted[i] = w; Interlocked.Increment(ref _closeHandovers); }
            }

            var intervals = s.Intervals[host];
            if (intervals.Count == 0 || slot > intervals[^1].Last + MergeGapMs) intervals.Add(new Interval(slot, slot));
            else if (slot > intervals[^1].Last) intervals[^1] = intervals[^1] with { Last = slot };
            else if (slot < intervals[^1].First && slot >= intervals[^1].First - MergeGapMs) intervals[^1] = intervals[^1] with { First = slot };
            if (slot > s.LastSeen[host]) s.LastSeen[host] = slot;
        }
    }

    private void AddViolation(int port, int a, int b, int window)
    {
        lock (_violations)
        {
            var key = (port, a, b);
            if (_openViolation.TryGetValue(key, out var index) && _violations[index].ToSlot >= window * _window - 1 - _window)
            {
                var v = _violations[index];
                if ((window + 1) * _window - 1 > v.ToSlot)
                    _violations[index] = v with { ToSlot = (window + 1) * _window - 1, Windows = v.Windows + 1 };
                return;
            }
            _openViolation[key] = _violations.Count;
            _violations.Add(new Violation(_ports[port], _hosts[a], _hosts[b], window * _window, (window + 1) * _window - 1, 1));
        }
    }

    /// <summary>The newest slot of <paramref name="port"/> received on <paramref name="host"/>, or null.</summary>
    public int? LastSeen(int port, int host)
    {
        var s = _state[port];
        lock (s) return s.LastSeen[host] >= 0 ? s.LastSeen[host] : null;
    }

    public IReadOnlyList<Interval> Intervals(int port, int host)
    {
        var s = _state[port];
        lock (s) return [.. s.Intervals[host]];
    }

    /// <summary>Hosts that received <paramref name="port"/> within the last <paramref name="withinMs"/> of the sender's clock.</summary>
    public IReadOnlyList<int> ForwardingHosts(int port, int withinMs)
    {
        var now = LastSentSlot;
        var s = _state[port];
        lock (s) return [.. Enumerable.Range(0, _hosts.Length).Where(h => s.LastSeen[h] >= 0 && s.LastSeen[h] >= now - withinMs)];
    }

    /// <summary>The first slot at or after <paramref name="slot"/> in which <paramref name="port"/> arrived on <paramref name="host"/>.</summary>
    public int? FirstSeenFrom(int port, int host, int slot)
    {
        foreach (var interval in Intervals(port, host))
        {
            if (interval.Last < slot) continue;
            return Math.Max(interval.First, slot);
        }
        return null;
    }

    /// <summary>
    /// The last slot of <paramref name="port"/> on <paramref name="host"/> in the run of frames that
    /// was going on at <paramref name="slot"/> (or null when none was): how long the host kept forwarding after it.
    /// </summary>
    public int? LastOfRunAt(int port, int host, int slot)
    {
        foreach (var interval in Intervals(port, host))
            if (interval.First <= slot + MergeGapMs && interval.Last >= slot - MergeGapMs) return interval.Last;
        return null;
    }

    /// <summary>The last slot in [from, to] in which <paramref name="port"/> arrived on <paramref name="host"/>, or null.</summary>
    public int? LastSeenBetween(int port, int host, int from, int to)
    {
        int? last = null;
        foreach (var interval in Intervals(port, host))
            if (interval.Last >= from && interval.First <= to) last = Math.Min(interval.Last, to);
        return last;
    }

    /// <summary>
    /// Frames of <paramref name="port"/> the fabric sent in slots [from, to] that never arrived on
    /// <paramref name="host"/>, frame by frame (slots the sender skipped were never sent and do not count).
    /// </summary>
    public (int Sent, int Lost) Lost(int port, int host, int from, int to)
    {
        if (to - from >= SlotRing) throw new ArgumentOutOfRangeException(nameof(to), $"at most {SlotRing} ms at once");
        var s = _state[port];
        var (sent, lost) = (0, 0);
        lock (s)
            for (var slot = Math.Max(0, from); slot <= to; slot++)
            {
                if (Volatile.Read(ref _sentSlots[slot % SlotRing]) != slot) continue;
                sent++;
                if (s.Received[host][slot % SlotRing] != slot) lost++;
            }
        return (sent, lost);
    }

    /// <summary>Whether <paramref name="port"/> arrived on <paramref name="host"/> at any slot in [from, to].</summary>
    public bool SeenBetween(int port, int host, int from, int to) =>
        Intervals(port, host).Any(i => i.Last >= from && i.First <= to);

    /// <summary>One line per port: where its frames arrived, as intervals.</summary>
    public string Describe(int since = 0)
    {
        var lines = new List<string>();
        for (var p = 0; p < _ports.Length; p++)
            for (var h = 0; h < _hosts.Length; h++)
            {
                var intervals = Intervals(p, h).Where(i => i.Last >= since).ToList();
                if (intervals.Count == 0) continue;
                var shown = intervals.Count > 12 ? [.. intervals.Take(4), .. intervals.TakeLast(8)] : intervals;
                lines.Add($"  {_ports[p]} on {_hosts[h]}: {string.Join(", ", shown)}{(intervals.Count > 12 ? $" ({intervals.Count} runs)" : "")}");
            }
        return string.Join('\n', lines);
    }

    private sealed class PortState
    {
        public readonly long[] WindowTag = Enumerable.Repeat(-1L, Ring).ToArray();
        public readonly int[] Seen = new int[Ring];
        public readonly int[,] Min;
        public readonly int[,] Max;
        public readonly long[] CloseCounted = Enumerable.Repeat(-1L, Ring).ToArray();
        public readonly List<Interval>[] Intervals;
        public readonly int[] LastSeen;
        public readonly int[][] Received;

        public PortState(int hosts)
        {
            Received = [.. Enumerable.Range(0, hosts).Select(_ => Enumerable.Repeat(-1, SlotRing).ToArray())];
            Min = new int[Ring, hosts];
            Max = new int[Ring, hosts];
            Intervals = [.. Enumerable.Range(0, hosts).Select(_ => new List<Interval>())];
            LastSeen = [.. Enumerable.Repeat(-1, hosts)];
        }
    }
}
