using Replug.Coordinator.Deciding;
using Replug.Coordinator.Planning;
using Replug.Coordinator.Singleton;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using static Replug.Coordinator.Singleton.CoordinatorEvents;
using static Replug.Coordinator.Tests.Deciding.DeciderHarness;
using static Replug.Shared.Protocol.HostProtocol;

namespace Replug.Coordinator.Tests.Deciding;

/// <summary>Each fault an operator found in the coordinator, as the decider's behaviour.</summary>
public sealed class FindingsTests
{
    private static readonly HostId A = new("a"), B = new("b"), C = new("c"), D = new("d");
    private static readonly PortId P1 = new("p1");

    private static DeciderHarness FourHosts()
    {
        var c = new DeciderHarness();
        c.Start();
        c.Register(A, 0, [Nic("n1", "52:54:00:00:00:01")], [Port("p1", "n1")]);
        c.Register(B, 1, [], []);
        c.Register(C, 1, [], []);
        c.Register(D, 1, [], []);
        return c;
    }

    private static AttachPort LastAttach(DeciderHarness c, HostId host) => Assert.IsType<AttachPort>(c.SentTo<AttachPort>(host)[^1]);

    [Fact]
    public void A_fail_over_refused_by_two_hosts_is_placed_on_a_third_without_crashing()
    {
        var c = FourHosts();
        c.Decide(new CoordinatorInputs.MemberGone(AddressOf(A), "left the cluster", Left: true));
        var first = c.State.Failovers.Values.Single().Target!.Value;
        c.FromHost(new CommandRefused(LastAttach(c, first).Id, first, "no free device for another port", c.State.Epoch, c.State.Epoch));
        var second = c.State.Failovers.Values.Single().Target!.Value;
        Assert.NotEqual(first, second);
        c.FromHost(new CommandRefused(LastAttach(c, second).Id, second, "no free device for another port", c.State.Epoch, c.State.Epoch));

        var failover = c.State.Failovers.Values.Single();
        Assert.Equal(FailoverStatus.Commanded, failover.Status);
        Assert.DoesNotContain(failover.Target!.Value, new[] { first, second, A });
        Assert.Equal([first, second], failover.Excluded);
        c.AssertReplayMatches();
    }

    [Fact]
    public void An_exception_while_planning_fails_those_fail_overs_with_the_reason_and_the_coordinator_goes_on()
    {
        var c = FourHosts();
        // Two open fail-overs of one port: the planner refuses a port listed twice.
        var id1 = new FailoverId(Guid.NewGuid());
        var id2 = new FailoverId(Guid.NewGuid());
        c.State.Apply(new FailoverStarted(id1, new PortSpec(P1), A, "test", c.Now));
        c.State.Apply(new FailoverStarted(id2, new PortSpec(P1), A, "test", c.Now));

        c.Decide(new CoordinatorInputs.FromOperator(new OperatorProtocol.UndrainHost(B)));

        Assert.All([id1, id2], id =>
        {
            Assert.Equal(FailoverStatus.Unplaced, c.State.Failovers[id].Status);
            Assert.Contains("error while planning: ArgumentException", c.State.Failovers[id].Steps[^1].What);
        });
        Assert.Contains(c.Log, l => l.Level == DecisionLogLevel.Error && l.Text.Contains("planning failed"));
        // The next input is decided as usual.
        var next = c.Decide(new CoordinatorInputs.FromOperator(new OperatorProtocol.DrainHost(C)));
        Assert.Contains(next.Messages, m => m is Outbound.Reply { Message: OperatorProtocol.OperatorAck { Accepted: true } });
    }

    [Fact]
    public void A_deferred_escalation_survives_a_hand_over_and_fails_the_port_over_when_its_NIC_does_not_reappear()
    {
        var c = FourHosts();
        var n1 = Nic("n1", "52:54:00:00:00:01");
        c.FromHost(new HostProtocol.NicRemoved(A, n1.Device, n1.Identity));
        c.FromHost(new PortEscalated(A, P1, "no healthy device"));
        Assert.True(c.State.DeferredEscalations.ContainsKey((A, P1)));
        Assert.Empty(c.State.Failovers);

        c.HandOver();
        c.Advance(c.Decider.Settings.MigrationWindow + TimeSpan.FromMilliseconds(10));

        // The port leaves its host first: placed only once A confirms the detach.
        Assert.Equal(FailoverStatus.Planning, Assert.Single(c.State.Failovers.Values).Status);
        Assert.Equal(P1, Assert.Single(c.SentTo<DetachPort>(A)).Port);
        c.AcknowledgeAll(A);
        var failover = Assert.Single(c.State.Failovers.Values);
        Assert.Equal(A, failover.From);
        Assert.Equal(FailoverStatus.Commanded, failover.Status);
        Assert.Single(c.SentTo<AttachPort>(failover.Target!.Value));
        Assert.Empty(c.State.DeferredEscalations);
        c.AssertReplayMatches();
    }

    [Fact]
    public void An_unplaced_port_goes_back_to_its_host_when_that_host_returns()
    {
        var c = new DeciderHarness();
        c.Start();
        c.Register(A, 0, [Nic("n1", "52:54:00:00:00:01")], [Port("p1", "n1")]);
        c.Register(B, 0, [], []);
        c.Decide(new CoordinatorInputs.MemberGone(AddressOf(A), "left the cluster", Left: true));
        Assert.Equal(PortState.Unplaced, c.State.Ports[P1].State);

        c.ClearSent();
        c.Register(A, 0, [Nic("n1", "52:54:00:00:00:01")], [Port("p1", "n1")], incarnation: 2);

        var answer = Assert.Single(c.SentTo<HostProtocol.HostRegistered>(A));
        Assert.Contains(P1, answer.OwnedPorts);
        Assert.Equal(PortState.Active, c.State.Ports[P1].State);
        Assert.Equal(A, c.State.Ports[P1].Host);
        Assert.Equal(FailoverStatus.Cancelled, c.State.Failovers.Values.Single().Status);
        Assert.Empty(c.SentTo<DetachPort>(A));
        c.AssertReplayMatches();
    }

    [Fact]
    public void Capacity_counts_fail_over_slots_only_and_follows_the_ports_a_host_carries()
    {
        var c = new DeciderHarness();
        c.Start();
        c.Register(A, 0, [], [Port("p1", "n1"), Port("p2", "n2")]);
        // B carries two ports of its own and keeps one fail-over slot.
        c.Register(B, 1, [], [Port("b1", "m1"), Port("b2", "m2")]);
        c.Decide(new CoordinatorInputs.MemberGone(AddressOf(A), "left the cluster", Left: true));

        var placed = c.State.Failovers.Values.Where(f => f.Status == FailoverStatus.Commanded).ToList();
        var onB = Assert.Single(placed);
        Assert.Equal(B, onB.Target);
        Assert.Equal(FailoverStatus.Unplaced, c.State.Failovers.Values.Single(f => f.Id != onB.Id).Status);

        c.AcknowledgeAll(B);
        var candidate = c.State.Candidates().Single(h => h.Host == B);
        Assert.Equal(1, candidate.Load);
        Assert.Equal(3, candidate.PortsHere.Count);
        c.AssertReplayMatches();
    }

    [Fact]
    public void A_port_following_its_migrated_NIC_is_detached_on_the_old_host_before_it_is_attached_on_the_new_one()
    {
        var c = new DeciderHarness();
        c.Start();
        var n1 = Nic("n1", "52:54:00:00:00:01");
        c.Register(A, 0, [n1, Nic("s1", "52:54:00:00:00:02")], [Port("p1", "n1", "s1")]);
        c.Register(B, 1, [], []);
        c.ClearSent();

        c.FromHost(new HostProtocol.NicRemoved(A, n1.Device, n1.Identity));
        c.FromHost(new HostProtocol.NicAdded(B, n1 with { Device = DeviceId.Net("ens5") }));

        Assert.Equal(PortState.Moving, c.State.Ports[P1].State);
        var detach = Assert.Single(c.SentTo<DetachPort>(A));
        Assert.Empty(c.SentTo<AttachPort>(B));

        c.FromHost(new CommandAcknowledged(detach.Id, A, c.State.Epoch));
        var attach = Assert.Single(c.SentTo<AttachPort>(B));
        Assert.Equal([DeviceId.Net("ens5")], attach.Devices);
        c.FromHost(new CommandAcknowledged(attach.Id, B, c.State.Epoch));

        Assert.Equal(PortState.Active, c.State.Ports[P1].State);
        Assert.Equal(B, c.State.Ports[P1].Host);
        Assert.Empty(c.State.Failovers);
        c.AssertReplayMatches();
    }

    [Fact]
    public void A_coordinator_whose_journal_is_behind_the_agents_starts_above_the_highest_epoch_they_report()
    {
        var c = new DeciderHarness();
        c.Start();
        Assert.Equal(1, c.State.Epoch);

        c.Register(A, 0, [], [Port("p1", "n1")], newestEpoch: 3);

        Assert.Equal(4, c.State.Epoch);
        Assert.Equal(4, c.SentTo<HostProtocol.HostRegistered>(A).Single().Epoch);
        c.HandOver();
        Assert.Equal(5, c.State.Epoch);
    }

    [Fact]
    public void A_refusal_naming_a_newer_epoch_raises_the_epoch_and_resends_the_command()
    {
        var c = FourHosts();
        c.Decide(new CoordinatorInputs.MemberGone(AddressOf(A), "left the cluster", Left: true));
        var target = c.State.Failovers.Values.Single().Target!.Value;
        var attach = LastAttach(c, target);

        c.FromHost(new CommandRefused(attach.Id, target, "epoch 1 is older than 7", 7, 1));

        Assert.Equal(8, c.State.Epoch);
        Assert.Equal(FailoverStatus.Commanded, c.State.Failovers.Values.Single().Status);
        var resent = LastAttach(c, target);
        Assert.Equal((attach.Id, 8L), (resent.Id, resent.Epoch));
    }

    [Fact]
    public void A_refusal_of_an_older_epochs_copy_does_not_fail_the_command()
    {
        var c = FourHosts();
        c.Decide(new CoordinatorInputs.MemberGone(AddressOf(A), "left the cluster", Left: true));
        c.HandOver();
        var failover = c.State.Failovers.Values.Single();

        c.FromHost(new CommandRefused(failover.Command!.Value, failover.Target!.Value, "epoch 1 is older than 2", 2, 1));

        Assert.Equal(FailoverStatus.Commanded, c.State.Failovers[failover.Id].Status);
        Assert.Equal(failover.Target, c.State.Failovers[failover.Id].Target);
    }

    [Fact]
    public void A_command_nobody_answers_stays_owed_while_its_host_is_up_and_is_placed_elsewhere_once_that_host_is_lost()
    {
        var c = FourHosts();
        c.Decide(new CoordinatorInputs.MemberGone(AddressOf(A), "left the cluster", Left: true));
        var failover = c.State.Failovers.Values.Single();
        var target = failover.Target!.Value;

        c.Advance(TimeSpan.FromMinutes(2));

        Assert.Equal(target, c.State.Failovers[failover.Id].Target);
        Assert.True(c.SentTo<AttachPort>(target).Count > c.Decider.Settings.CommandAttempts);
        Assert.Single(c.Log, l => l.Text.Contains("stays owed"));

        c.Decide(new CoordinatorInputs.MemberGone(AddressOf(target), "left the cluster", Left: true));
        var now = c.State.Failovers[failover.Id];
        Assert.Equal(FailoverStatus.Commanded, now.Status);
        Assert.NotEqual(target, now.Target);
        Assert.Contains(target, now.Excluded!);
        c.AssertReplayMatches();
    }

    [Fact]
    public void An_unreachable_host_loses_its_ports_only_after_detection_lease_and_margin_counted_again_by_a_new_instance()
    {
        var c = FourHosts();
        var wait = c.Decider.Settings.FailOverAfter;
        c.Decide(new CoordinatorInputs.MemberUnreachable(AddressOf(A)));
        c.Advance(wait - TimeSpan.FromMilliseconds(100));
        Assert.Empty(c.State.Failovers);

        // The new instance cannot know whether A was reachable while no instance listened: it counts again.
        c.HandOver();
        Assert.Equal(HostStatus.Unreachable, c.State.Hosts[A].Status);
        c.Advance(wait - TimeSpan.FromMilliseconds(100));
        Assert.Empty(c.State.Failovers);
        c.Advance(TimeSpan.FromMilliseconds(200));

        Assert.Equal(HostStatus.Down, c.State.Hosts[A].Status);
        Assert.Equal(FailoverStatus.Commanded, c.State.Failovers.Values.Single().Status);
    }

    [Fact]
    public void A_host_removed_while_no_instance_listened_is_lost_when_the_new_instance_sees_the_membership_and_its_lease_ran_out()
    {
        var c = FourHosts();
        c.HandOver();
        c.Decide(new CoordinatorInputs.Membership(["akka.tcp://replug@coordinator-2:4053", AddressOf(B), AddressOf(C), AddressOf(D)], []));

        // How it went is unknown (downed while still forwarding?): a lease from this instance's start.
        Assert.Equal(HostStatus.Unreachable, c.State.Hosts[A].Status);
        Assert.Empty(c.State.Failovers);
        c.AdvanceTo(c.State.LeaseEndsFor(c.State.Hosts[A]));
        Assert.Equal(HostStatus.Down, c.State.Hosts[A].Status);
        Assert.Single(c.State.Failovers.Values);
    }

    [Fact]
    public void A_restarted_agent_that_no_longer_knows_a_port_failed_over_to_it_is_told_to_attach_it_again()
    {
        var c = FourHosts();
        c.Decide(new CoordinatorInputs.MemberGone(AddressOf(A), "left the cluster", Left: true));
        var target = c.State.Failovers.Values.Single().Target!.Value;
        c.AcknowledgeAll(target);
        c.ClearSent();

        c.Register(target, 1, [], [], incarnation: 2);

        var attach = Assert.Single(c.SentTo<AttachPort>(target));
        Assert.Equal(P1, attach.Port.Port);
        Assert.Contains(P1, c.SentTo<HostProtocol.HostRegistered>(target).Single().OwnedPorts);
    }

    [Fact]
    public void A_coordinator_that_does_not_see_a_majority_moves_no_port_of_an_unreachable_host()
    {
        var c = FourHosts();
        foreach (var cutOff in new[] { A, B, C }) c.Decide(new CoordinatorInputs.MemberUnreachable(AddressOf(cutOff)));
        c.Advance(c.Decider.Settings.FailOverAfter * 3);

        Assert.Empty(c.State.Failovers);
        Assert.Null(c.State.NextDeadline);

        // A majority again: A's lease is counted from now, not from when this side was cut off.
        c.Decide(new CoordinatorInputs.MemberReachable(AddressOf(B)));
        c.Decide(new CoordinatorInputs.MemberReachable(AddressOf(C)));
        c.Advance(c.Decider.Settings.FailOverAfter - TimeSpan.FromMilliseconds(10));
        Assert.Empty(c.State.Failovers);
        c.Advance(TimeSpan.FromMilliseconds(20));
        Assert.Equal(HostStatus.Down, c.State.Hosts[A].Status);
        Assert.Single(c.State.Failovers.Values);
    }

    [Fact]
    public void A_port_that_escalated_is_detached_on_its_host_before_it_is_attached_elsewhere_even_if_it_recovers_meanwhile()
    {
        var c = FourHosts();
        c.FromHost(new PortEscalated(A, P1, "no healthy device left"));
        Assert.DoesNotContain(c.State.PendingCommands.Values, p => p.Kind == HostCommandKind.Attach);
        var detach = Assert.Single(c.SentTo<DetachPort>(A));

        // Its device came back before the detach arrived: the port forwards on A again.
        c.FromHost(new PortChanged(A, Port("p1", "n1")));
        Assert.DoesNotContain(c.State.PendingCommands.Values, p => p.Kind == HostCommandKind.Attach);
        Assert.Equal(FailoverStatus.Planning, c.State.Failovers.Values.Single().Status);

        c.FromHost(new CommandAcknowledged(detach.Id, A, c.State.Epoch));
        var failover = c.State.Failovers.Values.Single();
        Assert.Equal(FailoverStatus.Commanded, failover.Status);
        Assert.NotEqual(A, failover.Target);
        c.AssertReplayMatches();
    }

    [Fact]
    public void A_port_reported_twice_with_no_device_in_use_while_unfenced_is_an_escalation_and_an_escalated_report_at_once()
    {
        var c = FourHosts();
        var deviceless = new PortReport(new PortSpec(P1), [DeviceId.Net("n1")], null, false);

        c.FromHost(new PortChanged(A, deviceless));
        Assert.Empty(c.State.Failovers); // it may not have learnt its devices' health yet
        c.FromHost(new PortChanged(A, deviceless));
        Assert.Equal(A, Assert.Single(c.State.Failovers.Values).From);
        Assert.Single(c.SentTo<DetachPort>(A));

        var d = FourHosts();
        d.FromHost(new PortChanged(A, deviceless with { Escalated = true }));
        Assert.Single(d.State.Failovers.Values); // a lost PortEscalated is not lost for good
    }
}
