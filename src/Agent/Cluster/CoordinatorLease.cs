using Replug.Shared.Devices;

namespace Replug.Agent.Cluster;

/// <summary>
/// The lease the coordinator grants this host, as a pure record of requests and answers. A grant
/// is counted from when its request was SENT (the coordinator counts it from when it answered,
/// later), so this host's lease always ends before the coordinator's record of it: the
/// coordinator may move the ports once its record has run out. Time is the caller's monotonic
/// clock, never wall time.
/// </summary>
public sealed class CoordinatorLease
{
    /// <summary>Requests kept waiting for their answer; older ones are forgotten (their answer would be stale).</summary>
    public const int RequestsKept = 64;

    private readonly SortedDictionary<long, TimeSpan> _asked = [];
    private readonly HashSet<PortId> _allowed = [];
    private long _sequence;

    /// <summary>When the lease ends (null: none held).</summary>
    public TimeSpan? EndsAt { get; private set; }

    /// <summary>When the last grant arrived (null: none yet).</summary>
    public TimeSpan? LastGrantAt { get; private set; }

    /// <summary>The ports the coordinator lets this host forward, as of its last word.</summary>
    public IReadOnlySet<PortId> Allowed => _allowed;

    public bool Holds(TimeSpan now) => EndsAt is { } end && now < end;

    /// <summary>A new request, sent at <paramref name="now"/>: its sequence number.</summary>
    public long Ask(TimeSpan now)
    {
        var sequence = ++_sequence;
        _asked[sequence] = now;
        while (_asked.Count > RequestsKept) _asked.Remove(_asked.Keys.First());
        return sequence;
    }

    /// <summary>
    /// A grant for request <paramref name="sequence"/>: the lease runs <paramref name="duration"/>
    /// from when that request was sent, and <paramref name="ports"/> become the allowed ones. An
    /// answer to a forgotten or already answered request, or to one older than the last answered,
    /// changes nothing (false).
    /// </summary>
    public bool Granted(long sequence, TimeSpan duration, IEnumerable<PortId> ports, TimeSpan now)
    {
        if (!_asked.TryGetValue(sequence, out var sentAt)) return false;
        foreach (var older in _asked.Keys.Where(s => s <= sequence).ToList()) _asked.Remove(older);
        LastGrantAt = now;
        var ends = sentAt + duration;
        if (EndsAt is not { } current || ends > current) EndsAt = ends;
        AllowOnly(ports);
        return true;
    }

    /// <summary>The coordinator's own word on a port (registration, attach, detach), between grants.</summary>
    public void Allow(PortId port) => _allowed.Add(port);

    public void Disallow(PortId port) => _allowed.Remove(port);

    public void AllowOnly(IEnumerable<PortId> ports)
    {
        _allowed.Clear();
        _allowed.UnionWith(ports);
    }

    /// <summary>The lease is given up (fenced): nothing forwards until the next grant.</summary>
    public void Revoke()
    {
        EndsAt = null;
        _allowed.Clear();
        _asked.Clear(); // an answer to a request from before the fence does not lift it
    }
}
