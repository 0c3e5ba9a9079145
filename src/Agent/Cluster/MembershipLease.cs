using Akka.Actor;
using Akka.Cluster;

namespace Replug.Agent.Cluster;

public enum LeaseVerdict
{
    /// <summary>Nothing to do.</summary>
    Hold,
    /// <summary>No majority for longer than the lease: take every port down now.</summary>
    Fence,
    /// <summary>A majority is visible again after a fence: ports may come back once the coordinator says which.</summary>
    MajorityRegained,
}

/// <summary>
/// Self-fencing, as a pure decision over observations of cluster membership. An agent that
/// cannot see a majority of the members as reachable for longer than the lease takes its ports
/// down; the coordinator, on the majority side, moves them only after the host was unreachable
/// for the lease plus a margin — so a port is never active on two hosts at once. An even split
/// is broken as keep-majority breaks it: the half with the lowest address keeps its ports.
/// Time is the caller's monotonic clock (Stopwatch), never wall time.
/// </summary>
public sealed class MembershipLease(TimeSpan lease)
{
    private TimeSpan? _lostAt;

    public TimeSpan Lease { get; } = lease > TimeSpan.Zero ? lease : throw new ArgumentOutOfRangeException(nameof(lease));
    public bool Fenced { get; private set; }

    /// <summary>When the lease runs out, on the monotonic clock (null while a majority is visible).</summary>
    public TimeSpan? FenceAt => _lostAt + Lease;

    public LeaseVerdict Observe(IReadOnlyCollection<Address> members, IReadOnlyCollection<Address> unreachable, TimeSpan now)
    {
        if (HasMajority(members, unreachable))
        {
            _lostAt = null;
            if (!Fenced) return LeaseVerdict.Hold;
            Fenced = false;
            return LeaseVerdict.MajorityRegained;
        }
        _lostAt ??= now;
        if (Fenced || now - _lostAt.Value < Lease) return LeaseVerdict.Hold;
        Fenced = true;
        return LeaseVerdict.Fence;
    }

    /// <summary>Keep-majority's rule: more than half reachable, or exactly half including the lowest address.</summary>
    public static bool HasMajority(IReadOnlyCollection<Address> members, IReadOnlyCollection<Address> unreachable)
    {
        if (members.Count == 0) return false;
        var reachable = members.Count(m => !unreachable.Contains(m));
        if (reachable * 2 > members.Count) return true;
        if (reachable * 2 < members.Count) return false;
        var lowest = members.Min(Member.AddressOrdering)!;
        return !unreachable.Contains(lowest);
    }
}
