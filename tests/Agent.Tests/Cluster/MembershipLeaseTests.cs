using Akka.Actor;
using Replug.Agent.Cluster;

namespace Replug.Agent.Tests.Cluster;

public sealed class MembershipLeaseTests
{
    private static readonly Address A = new("akka.tcp", "replug", "127.0.0.1", 4001), B = new("akka.tcp", "replug", "127.0.0.1", 4002),
        C = new("akka.tcp", "replug", "127.0.0.1", 4003), D = new("akka.tcp", "replug", "127.0.0.1", 4004);

    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(2);
    private static TimeSpan At(double seconds) => TimeSpan.FromSeconds(seconds);

    [Fact]
    public void With_a_majority_visible_nothing_happens()
    {
        var lease = new MembershipLease(Lease);
        Assert.Equal(LeaseVerdict.Hold, lease.Observe([A, B, C], [C], At(0)));
        Assert.Equal(LeaseVerdict.Hold, lease.Observe([A, B, C], [C], At(100)));
        Assert.False(lease.Fenced);
    }

    [Fact]
    public void Without_a_majority_the_ports_are_fenced_once_the_lease_runs_out_and_not_before()
    {
        var lease = new MembershipLease(Lease);
        Assert.Equal(LeaseVerdict.Hold, lease.Observe([A, B, C], [B, C], At(10)));
        Assert.Equal(At(12), lease.FenceAt);
        Assert.Equal(LeaseVerdict.Hold, lease.Observe([A, B, C], [B, C], At(11.9)));
        Assert.Equal(LeaseVerdict.Fence, lease.Observe([A, B, C], [B, C], At(12)));
        Assert.Equal(LeaseVerdict.Hold, lease.Observe([A, B, C], [B, C], At(13)));
        Assert.True(lease.Fenced);
    }

    [Fact]
    public void A_majority_seen_again_before_the_lease_ends_restarts_the_count()
    {
        var lease = new MembershipLease(Lease);
        lease.Observe([A, B, C], [B, C], At(0));
        Assert.Equal(LeaseVerdict.Hold, lease.Observe([A, B, C], [], At(1.5)));
        Assert.Equal(LeaseVerdict.Hold, lease.Observe([A, B, C], [B, C], At(2.5)));
        Assert.Equal(LeaseVerdict.Hold, lease.Observe([A, B, C], [B, C], At(4.4)));
        Assert.Equal(LeaseVerdict.Fence, lease.Observe([A, B, C], [B, C], At(4.5)));
    }

    [Fact]
    public void A_fenced_host_that_sees_a_majority_again_is_told_so_once()
    {
        var lease = new MembershipLease(Lease);
        lease.Observe([A, B, C], [B, C], At(0));
        lease.Observe([A, B, C], [B, C], At(3));
        Assert.Equal(LeaseVerdict.MajorityRegained, lease.Observe([A, B, C], [], At(4)));
        Assert.Equal(LeaseVerdict.Hold, lease.Observe([A, B, C], [], At(5)));
        Assert.False(lease.Fenced);
    }

    [Fact]
    public void An_even_split_is_broken_the_same_way_on_both_sides_by_the_lowest_address()
    {
        // {A, B} | {C, D}: A has the lowest address, so A's side keeps its ports and C's side fences.
        Assert.True(MembershipLease.HasMajority([A, B, C, D], [C, D]));
        Assert.False(MembershipLease.HasMajority([A, B, C, D], [A, B]));
    }

    [Fact]
    public void A_single_node_cluster_always_has_its_majority() =>
        Assert.True(MembershipLease.HasMajority([A], []));
}
