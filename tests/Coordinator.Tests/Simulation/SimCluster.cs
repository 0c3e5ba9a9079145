using Replug.Agent.Cluster;

namespace Replug.Coordinator.Tests.Simulation;

/// <summary>
/// Akka's cluster membership, reduced to what fail-over depends on. A node observes another as
/// unreachable when heartbeats fail either way (dead process, or a link cut in either direction)
/// for the detection pause; gossip spreads each observation along the links that work, so a node
/// sees a member unreachable when any node whose gossip reaches it observes that. The split brain
/// resolver (keep-majority) acts on a node's view once it has been stable for stable-after: the
/// majority downs the unreachable, a minority downs itself. A downed node that still runs (a
/// "zombie") stops when it hears the majority's gossip or its own resolver downs it.
/// </summary>
public sealed class SimCluster
{
    private readonly SimWorld _world;
    private readonly SimNode[] _nodes;
    private readonly long[,] _brokenSince;
    // Each node's view: the members it sees unreachable, a bit per node (at most 64 nodes).
    private readonly ulong[] _views;
    private readonly long[] _viewChangedAt;
    private long _joins;
    private long _seenVersion = -1;

    public SimCluster(SimWorld world, SimNode[] nodes)
    {
        _world = world;
        _nodes = nodes;
        _brokenSince = new long[nodes.Length, nodes.Length];
        for (var i = 0; i < nodes.Length; i++)
            for (var j = 0; j < nodes.Length; j++) _brokenSince[i, j] = -1;
        if (nodes.Length > 64) throw new ArgumentException("at most 64 nodes", nameof(nodes));
        _views = new ulong[nodes.Length];
        _viewChangedAt = new long[nodes.Length];
    }

    /// <summary>Members in join order (oldest first), WeaklyUp ones included.</summary>
    public IEnumerable<SimNode> Members => _nodes.Where(n => n.Member).OrderBy(n => n.JoinedAs);

    /// <summary>The members that count (Up, not WeaklyUp): for majorities, leases and the singleton.</summary>
    public IEnumerable<SimNode> UpMembers => Members.Where(n => !n.WeaklyUp);

    /// <summary>A node whose process runs but which the cluster downed.</summary>
    public static bool IsZombie(SimNode node) => node.ProcessUp && !node.Member && node.JoinedAs > 0;

    public IReadOnlyList<int> ViewOf(SimNode node) => Indices(_views[node.Index]);

    public bool SeesUnreachable(SimNode observer, SimNode member) => (_views[observer.Index] & (1UL << member.Index)) != 0;

    private static IReadOnlyList<int> Indices(ulong bits)
    {
        if (bits == 0) return [];
        var list = new List<int>(System.Numerics.BitOperations.PopCount(bits));
        for (; bits != 0; bits &= bits - 1) list.Add(System.Numerics.BitOperations.TrailingZeroCount(bits));
        return list;
    }

    /// <summary>The members as <paramref name="node"/> sees them: none before it joined; a zombie still counts itself.</summary>
    public IReadOnlyList<SimNode> MembersSeenBy(SimNode node)
    {
        if (node.Joining) return [];
        if (node.Member) return [.. UpMembers];
        if (IsZombie(node)) return [.. UpMembers, node];
        return [];
    }

    public void Join(SimNode node)
    {
        if (node.Member) Remove(node, "removed (a new incarnation joined)");
        node.Member = true;
        node.Joining = false;
        node.JoinedAs = ++_joins;
        node.WeaklyUp = _nodes.Any(n => n != node && n.Member && n.ProcessUp && _views[n.Index] != 0);
        _world.Version++;
        for (var i = 0; i < _nodes.Length; i++)
        {
            _brokenSince[i, node.Index] = -1;
            _brokenSince[node.Index, i] = -1;
        }
        _views[node.Index] = 0;
        _viewChangedAt[node.Index] = _world.Scheduler.Now;
        _world.Log($"cluster: {node.Name} joined (incarnation {node.Incarnation}){(node.WeaklyUp ? " as WeaklyUp (no convergence)" : "")}");
        if (!node.WeaklyUp) _world.OnMemberJoined(node);
        _world.OnMembershipChanged();
    }

    /// <param name="left">It left on its own (its agent stopped its ports first); otherwise downed or replaced.</param>
    public void Remove(SimNode node, string how, bool left = false)
    {
        if (!node.Member) return;
        node.Member = false;
        _world.Version++;
        for (var i = 0; i < _views.Length; i++) _views[i] &= ~(1UL << node.Index);
        _world.Log($"cluster: {node.Name} {how}");
        _world.OnMemberGone(node, how, left);
    }

    /// <summary>One round of failure detection, gossip and the split brain resolver.</summary>
    public void Tick()
    {
        // Nothing changed and nothing is pending (no broken heartbeat, no unreachable member, no
        // downed node still running): this round would find what the last one found.
        if (_world.Version == _seenVersion && !Pending()) return;
        _seenVersion = _world.Version;
        var now = _world.Scheduler.Now;
        var network = _world.Network;
        var detection = (long)_world.Options.Detection.TotalMilliseconds;
        var n = _nodes.Length;
        // observed[o]: the members o's failure detector reports unreachable (a bit per node).
        Span<ulong> observed = stackalloc ulong[n];
        ulong memberBits = 0, up = 0;
        foreach (var node in _nodes)
        {
            if (node.Member) memberBits |= 1UL << node.Index;
            if (node.ProcessUp && !node.Joining) up |= 1UL << node.Index;
        }
        foreach (var o in _nodes)
        {
            if (!o.ProcessUp || o.Joining) continue;
            foreach (var s in _nodes)
            {
                if (s == o || !s.Member) continue;
                var broken = !s.ProcessUp || s.Joining || !network.Up(s.Index, o.Index) || !network.Up(o.Index, s.Index);
                ref var since = ref _brokenSince[o.Index, s.Index];
                if (!broken) since = -1;
                else if (since < 0) since = now;
                if (since >= 0 && now - since >= detection) observed[o.Index] |= 1UL << s.Index;
            }
        }

        var changed = false;
        foreach (var v in _nodes)
        {
            if (!v.ProcessUp || v.Joining || (!v.Member && !IsZombie(v))) continue;
            // Whose gossip reaches v: running members linked to it, transitively (and v itself).
            var sources = 1UL << v.Index;
            var frontier = sources;
            while (frontier != 0)
            {
                var at = System.Numerics.BitOperations.TrailingZeroCount(frontier);
                frontier &= frontier - 1;
                for (var u = 0; u < n; u++)
                {
                    var bit = 1UL << u;
                    if ((sources & bit) != 0 || (memberBits & up & bit) == 0 || !network.Up(u, at)) continue;
                    sources |= bit;
                    frontier |= bit;
                }
            }
            ulong view = 0;
            for (var o = 0; o < n; o++)
                if ((sources & (1UL << o)) != 0) view |= observed[o];
            view &= memberBits;
            if (view != _views[v.Index])
            {
                var before = _views[v.Index];
                _views[v.Index] = view;
                _viewChangedAt[v.Index] = now;
                changed = true;
                _world.OnViewChanged(v, Indices(before), Indices(view));
            }
        }
        if (changed) _world.Log("cluster: " + DescribeViews());
        // Convergence (no running member sees anyone unreachable): the leader moves WeaklyUp members to Up.
        if (_nodes.All(v => !v.Member || !v.ProcessUp || _views[v.Index] == 0))
            foreach (var weak in _nodes.Where(v => v.Member && v.WeaklyUp).OrderBy(v => v.JoinedAs).ToList())
            {
                weak.WeaklyUp = false;
                // Akka numbers a member when it becomes Up: one that waited as WeaklyUp is younger than those Up before it.
                weak.JoinedAs = ++_joins;
                _world.Version++;
                _world.Log($"cluster: {weak.Name} is Up (the cluster converged)");
                _world.OnMemberJoined(weak);
            }

        var stable = (long)_world.Options.StableAfter.TotalMilliseconds;
        foreach (var v in _nodes)
        {
            if (!v.ProcessUp || v.Joining) continue;
            if (IsZombie(v) && Members.Any(m => m.ProcessUp && !m.Joining && network.Up(m.Index, v.Index)))
            {
                _world.StopNode(v, "learned from gossip that it was downed", restart: true);
                continue;
            }
            if ((!v.Member && !IsZombie(v)) || _views[v.Index] == 0 || now - _viewChangedAt[v.Index] < stable) continue;
            var view = Indices(_views[v.Index]);
            var members = MembersSeenBy(v);
            var addresses = members.Select(m => m.AkkaAddress).ToList();
            var unreachable = view.Select(i => _nodes[i].AkkaAddress).ToHashSet();
            if (MembershipLease.HasMajority(addresses, unreachable))
            {
                if (!v.Member) continue;
                _world.Log($"cluster: split brain resolver on {v.Name} (majority) downs [{string.Join(", ", view.Select(i => _nodes[i].Name))}]");
                foreach (var i in view.ToList())
                {
                    var downed = _nodes[i];
                    Remove(downed, "downed (keep-majority)");
                    if (downed.ProcessUp && !AnyMemberHeard(downed)) continue; // a zombie until it hears it
                    if (downed.ProcessUp) _world.StopNode(downed, "downed", restart: true);
                }
            }
            else
            {
                _world.Log($"cluster: split brain resolver on {v.Name} (minority) downs its own side");
                foreach (var m in members.Where(m => !view.Contains(m.Index)).ToList())
                {
                    Remove(m, "downed (its side is a minority)");
                    if (m.ProcessUp) _world.StopNode(m, "downed (minority)", restart: true);
                }
            }
        }
    }

    private bool Pending()
    {
        foreach (var n in _nodes) if (n.Member && n.WeaklyUp) return true;
        foreach (var v in _views) if (v != 0) return true;
        foreach (var n in _nodes) if (IsZombie(n)) return true;
        foreach (var since in _brokenSince) if (since >= 0) return true;
        return false;
    }

    private bool AnyMemberHeard(SimNode node) => Members.Any(m => m.ProcessUp && !m.Joining && _world.Network.Up(m.Index, node.Index) && _world.Network.Up(node.Index, m.Index));

    private string DescribeViews() => string.Join("; ", _nodes.Where(n => n.ProcessUp && _views[n.Index] != 0)
        .Select(n => $"{n.Name} sees [{string.Join(",", Indices(_views[n.Index]).Select(i => _nodes[i].Name))}] unreachable"))
        is { Length: > 0 } text ? text : "every member reachable";
}
