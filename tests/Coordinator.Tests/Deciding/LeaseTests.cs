using Replug.Coordinator.Deciding;
using Replug.Coordinator.Planning;
using Replug.Coordinator.Singleton;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using static Replug.Coordinator.Tests.Deciding.DeciderHarness;
using static Replug.Shared.Protocol.HostProtocol;

namespace Replug.Coordinator.Tests.Deciding;

/// <summary>
/// The leases the coordinator grants: only while it sees a majority and the host as reachable;
/// a host that enforces its lease in the kernel has its ports moved once the last grant ran out
/// (plus the margin), any other only after detection + lease + margin.
/// </summary>
public sealed class LeaseTests
{
    private static readonly HostId A = new("a"), B = new("b"), C = new("c");
    private static readonly PortId P1 = new("p1");
    private static readonly CoordinatorSettings Fast = CoordinatorSettings.Default with { Detection = TimeSpan.FromSeconds(5) };

    private static DeciderHarness ThreeHosts()
    {
        var c = new DeciderHarness(Fast);
        c.Start();
        c.Register(A, 0, [Nic("n1", "52:54:00:00:00:01")], [Port("p1", "n1")]);
        c.Register(B, 1, [], []);
        c.Register(C, 1, [], []);
        return c;
    }

    private static LeaseGranted? Renew(DeciderHarness c, HostId host, long sequence, bool kernel = true, long incarnation = 1)
    {
        c.ClearSent();
        c.FromHost(new RenewLease(host, incarnation, sequence, kernel));
        return c.SentTo<LeaseGranted>(host).SingleOrDefault();
    }

    [Fact]
    public void A_registered_reachable_host_is_granted_the_lease_with_the_ports_it_carries()
    {
        var c = ThreeHosts();
        c.Journal.Clear();
        var grant = Renew(c, A, 1);
        Assert.NotNull(grant);
        Assert.Equal(1, grant.Sequence);
        Assert.Equal(Fast.Lease, grant.Duration);
        Assert.Equal(c.State.Epoch, grant.Epoch);
        Assert.Equal([P1], grant.Ports);
        Assert.Empty(Renew(c, B, 1)!.Ports);
        Assert.Empty(c.Journal); // a lease is this instance's alone: nothing persisted
    }

    [Fact]
    public void No_lease_for_an_unreachable_host_another_incarnation_or_an_unknown_host()
    {
        var c = ThreeHosts();
        Assert.Null(Renew(c, A, 1, incarnation: 2));
        Assert.Null(Renew(c, new HostId("stranger"), 1));
        c.Decide(new CoordinatorInputs.MemberUnreachable(AddressOf(A)));
        Assert.Null(Renew(c, A, 2));
    }

    [Fact]
    public void No_lease_is_granted_without_a_majority()
    {
        var c = ThreeHosts();
        var d = new HostId("d");
        c.Register(d, 1, [], []);
        foreach (var host in new[] { B, C, d }) c.Decide(new CoordinatorInputs.MemberUnreachable(AddressOf(host)));
        Assert.False(c.State.Cluster.HasMajority); // 2 of 5 reachable
        Assert.Equal(HostStatus.Up, c.State.Hosts[A].Status);
        Assert.Null(Renew(c, A, 1));
    }

    [Fact]
    public void A_kernel_fenced_host_loses_its_ports_once_its_last_lease_ran_out_not_after_detection()
    {
        var c = ThreeHosts();
        c.Advance(Fast.Lease * 2); // past the book's opening: only this instance's grants count
        Renew(c, A, 1);
        var grantedAt = c.Now;
        c.Advance(TimeSpan.FromMilliseconds(300));
        c.Decide(new CoordinatorInputs.MemberUnreachable(AddressOf(A)));

        var ends = grantedAt + Fast.Lease + Fast.LeaseMargin;
        Assert.Equal(ends, c.State.LeaseEndsFor(c.State.Hosts[A]));
        c.AdvanceTo(ends - TimeSpan.FromMilliseconds(1));
        Assert.Equal(HostStatus.Unreachable, c.State.Hosts[A].Status);
        c.AdvanceTo(ends);
        Assert.Equal(HostStatus.Down, c.State.Hosts[A].Status);
        Assert.Single(c.State.Failovers.Values, f => f.Port.Port == P1);
        Assert.True(ends - grantedAt < Fast.FailOverAfter, "faster than the membership-only rule");
        c.AssertReplayMatches();
    }

    [Fact]
    public void A_kernel_fenced_host_whose_lease_ran_out_before_it_was_found_unreachable_loses_its_ports_as_soon_as_it_is()
    {
        // A killed agent renews nothing; the failure detector is slower than lease + margin.
        var c = ThreeHosts();
        c.Advance(Fast.Lease * 2);
        Renew(c, A, 1);
        var grantedAt = c.Now;
        c.Advance(Fast.Lease + Fast.LeaseMargin + TimeSpan.FromMilliseconds(400));
        c.Decide(new CoordinatorInputs.MemberUnreachable(AddressOf(A)));

        Assert.Equal(c.Now, c.State.LeaseEndsFor(c.State.Hosts[A]));
        c.Advance(TimeSpan.Zero);
        Assert.Equal(HostStatus.Down, c.State.Hosts[A].Status);
        Assert.True(c.Now - grantedAt < Fast.FailOverAfter);
    }

    [Fact]
    public void A_downed_host_still_reachable_is_granted_nothing_more_and_loses_its_ports_only_once_its_lease_ran_out()
    {
        // The split brain resolver downs both ends of an asymmetric cut: each still holds its lease,
        // and learns of the down only when the gossip reaches it.
        var c = ThreeHosts();
        c.Advance(Fast.Lease * 2);
        Renew(c, A, 1);
        var grantedAt = c.Now;
        c.Advance(TimeSpan.FromMilliseconds(200));
        c.Decide(new CoordinatorInputs.MemberGone(AddressOf(A), "downed"));

        Assert.Equal(HostStatus.Unreachable, c.State.Hosts[A].Status);
        Assert.Empty(c.State.Failovers);
        Assert.Null(Renew(c, A, 2));
        // Its reachability may still change until it is removed: that does not bring it back.
        c.Decide(new CoordinatorInputs.MemberReachable(AddressOf(A)));
        Assert.Equal(HostStatus.Unreachable, c.State.Hosts[A].Status);
        var ends = grantedAt + Fast.Lease + Fast.LeaseMargin;
        c.AdvanceTo(ends - TimeSpan.FromMilliseconds(1));
        Assert.Empty(c.State.Failovers);
        c.Decide(new CoordinatorInputs.MemberGone(AddressOf(A), "removed from the cluster"));
        Assert.Empty(c.State.Failovers);
        c.AdvanceTo(ends);
        Assert.Equal(HostStatus.Down, c.State.Hosts[A].Status);
        Assert.Single(c.State.Failovers.Values, f => f.Port.Port == P1);
        c.AssertReplayMatches();
    }

    [Fact]
    public void A_downed_node_that_registers_again_before_it_learns_of_its_down_is_ignored_until_a_new_process_is_up_there()
    {
        var c = ThreeHosts();
        c.Decide(new CoordinatorInputs.MemberGone(AddressOf(B), "downed"));
        // The downed process, healed from a partition, re-registers: nothing must be placed on it.
        c.FromHost(new RegisterHost(B, AddressOf(B), 1, new HostInventory([], [], 4, 0), 0));
        Assert.Equal(HostStatus.Unreachable, c.State.Hosts[B].Status);
        c.AdvanceTo(c.State.LeaseEndsFor(c.State.Hosts[B]));
        Assert.Equal(HostStatus.Down, c.State.Hosts[B].Status);

        // Its service manager starts a new process at the same address: once it is up, it registers.
        c.Register(B, 4, [], [], incarnation: 2);
        Assert.Equal(HostStatus.Up, c.State.Hosts[B].Status);
        Assert.Equal(2, c.State.Hosts[B].Incarnation);
    }

    [Fact]
    public void The_late_removal_of_an_old_incarnation_does_not_take_the_new_one_up_at_its_address()
    {
        var c = ThreeHosts();
        c.Decide(new CoordinatorInputs.MemberUp(AddressOf(B), Uid: 2));
        c.FromHost(new RegisterHost(B, AddressOf(B), 2, new HostInventory([], [], 4, 0), 0));
        c.Decide(new CoordinatorInputs.MemberGone(AddressOf(B), "removed from the cluster", Uid: 1));
        Assert.Equal(HostStatus.Up, c.State.Hosts[B].Status);
        Assert.False(c.State.Cluster.IsGone(AddressOf(B)));
        Assert.NotNull(Renew(c, B, 1, incarnation: 2));
    }

    [Fact]
    public void A_host_that_left_on_its_own_loses_its_ports_at_once()
    {
        var c = ThreeHosts();
        c.Advance(Fast.Lease * 2);
        Renew(c, A, 1);
        c.Decide(new CoordinatorInputs.MemberGone(AddressOf(A), "left the cluster", Left: true));
        Assert.Equal(HostStatus.Down, c.State.Hosts[A].Status);
        Assert.Single(c.State.Failovers.Values, f => f.Port.Port == P1);
    }

    [Fact]
    public void A_host_that_does_not_enforce_its_lease_in_the_kernel_waits_detection_lease_and_margin()
    {
        var c = ThreeHosts();
        c.Advance(Fast.Lease * 2);
        Renew(c, A, 1, kernel: false);
        c.Decide(new CoordinatorInputs.MemberUnreachable(AddressOf(A)));
        var since = c.Now;
        c.AdvanceTo(since + Fast.FailOverAfter - TimeSpan.FromMilliseconds(1));
        Assert.Equal(HostStatus.Unreachable, c.State.Hosts[A].Status);
        c.AdvanceTo(since + Fast.FailOverAfter);
        Assert.Equal(HostStatus.Down, c.State.Hosts[A].Status);
    }

    [Fact]
    public void A_new_instance_counts_every_host_as_leased_for_a_lease_from_its_start()
    {
        var c = ThreeHosts();
        c.Advance(Fast.Lease * 2);
        Renew(c, A, 1);
        c.Advance(Fast.Lease * 3); // the old grant is long over
        c.HandOver();
        var start = c.Now;
        Renew(c, A, 2); // the new instance learns A enforces its lease in the kernel
        c.Decide(new CoordinatorInputs.MemberUnreachable(AddressOf(A)));
        // A predecessor may have granted a lease just before it went: the book opened at the start.
        Assert.Equal(start + Fast.Lease + Fast.LeaseMargin, c.State.LeaseEndsFor(c.State.Hosts[A]));
    }

    [Fact]
    public void A_port_attached_to_a_host_is_in_its_lease_before_the_attach_is_acknowledged()
    {
        var c = ThreeHosts();
        c.Decide(new CoordinatorInputs.MemberGone(AddressOf(A), "left the cluster", Left: true));
        var target = c.State.Failovers.Values.Single().Target!.Value;
        var grant = Renew(c, target, 1);
        Assert.Equal([P1], grant!.Ports);
        var other = target == B ? C : B;
        Assert.Empty(Renew(c, other, 1)!.Ports);
    }

    [Fact]
    public void A_port_being_detached_for_a_move_is_not_in_its_old_hosts_lease()
    {
        var c = ThreeHosts();
        c.FromHost(new PortEscalated(A, P1, "no healthy device"));
        Assert.Contains(c.State.PendingCommands.Values, x => x.Host == A && x.Kind == HostCommandKind.Detach);
        Assert.Empty(Renew(c, A, 1)!.Ports);
    }
}
