using Replug.Coordinator.Planning;
using Replug.Coordinator.Singleton;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using static Replug.Coordinator.Singleton.CoordinatorEvents;

namespace Replug.Coordinator.Tests.Singleton;

public sealed class CoordinatorStateTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);
    private static readonly HostId A = new("a"), B = new("b");
    private static readonly PortSpec P1 = new(new PortId("p1"), 1, "g");

    private static HostInventory Inventory(int capacity, params PortSpec[] ports) =>
        new([new NicReport(DeviceId.Net("eth0"), new NicIdentity(NicIdentityKind.PermanentMac, "52:54:00:00:00:01"), null, true)],
            [.. ports.Select(p => new PortReport(p, [DeviceId.Net("eth0")], DeviceId.Net("eth0"), false))], capacity, ports.Length);

    private static CoordinatorState Registered()
    {
        var state = new CoordinatorState(TimeSpan.FromSeconds(5));
        state.Apply(new EpochStarted(1, "node", T0));
        state.Apply(new HostRegistered(A, "akka.tcp://replug@127.0.0.1:1", 1, Inventory(2, P1), T0));
        state.Apply(new HostRegistered(B, "akka.tcp://replug@127.0.0.1:2", 1, Inventory(2), T0));
        return state;
    }

    [Fact]
    public void A_duplicate_registration_changes_nothing()
    {
        var state = Registered();
        var before = state.ToSnapshot();
        state.Apply(new HostRegistered(A, "akka.tcp://replug@127.0.0.1:1", 1, Inventory(2, P1), T0));
        Assert.Equivalent(before.Hosts, state.ToSnapshot().Hosts);
        Assert.Equivalent(before.Ports, state.ToSnapshot().Ports);
    }

    [Fact]
    public void A_late_report_from_the_host_a_port_left_does_not_move_it_back()
    {
        var state = Registered();
        var id = FailoverId.New();
        state.Apply(new FailoverStarted(id, P1, A, "lost", T0));
        state.Apply(new FailoverPlaced(id, B, CommandId.New(), 1, "room", T0));
        state.Apply(new FailoverCompleted(id, B, state.Failovers[id].Command!.Value, T0));
        state.Apply(new PortReported(A, new PortReport(P1, [DeviceId.Net("eth0")], DeviceId.Net("eth0"), false), T0.AddSeconds(1)));
        Assert.Equal(B, state.Ports[P1.Port].Host);
        Assert.Equal(PortState.Active, state.Ports[P1.Port].State);
    }

    [Fact]
    public void A_drained_host_is_not_a_placement_candidate_until_undrained()
    {
        var state = Registered();
        state.Apply(new HostDrainChanged(B, true, T0));
        Assert.Equal(HostStatus.Drained, state.Candidates().Single(c => c.Host == B).Status);
        state.Apply(new HostDrainChanged(B, false, T0));
        Assert.Equal(HostStatus.Up, state.Candidates().Single(c => c.Host == B).Status);
    }

    [Fact]
    public void Ports_promised_to_a_host_by_open_plans_count_against_its_capacity_and_anti_affinity()
    {
        var state = Registered();
        var id = FailoverId.New();
        state.Apply(new FailoverStarted(id, P1, A, "lost", T0));
        state.Apply(new FailoverPlaced(id, B, CommandId.New(), 1, "room", T0));
        var b = state.Candidates().Single(c => c.Host == B);
        Assert.Equal(1, b.Load);
        Assert.Contains(P1, b.PortsHere);
    }

    [Fact]
    public void A_lost_hosts_ports_to_fail_over_exclude_those_already_moving()
    {
        var state = Registered();
        Assert.Equal([P1.Port], state.PortsToFailOver(A).Select(p => p.Spec.Port));
        state.Apply(new FailoverStarted(FailoverId.New(), P1, A, "escalated", T0));
        Assert.Empty(state.PortsToFailOver(A));
    }

    [Fact]
    public void A_command_that_failed_puts_the_fail_over_back_to_planning_with_the_step_recorded()
    {
        var state = Registered();
        var id = FailoverId.New();
        var command = CommandId.New();
        state.Apply(new FailoverStarted(id, P1, A, "lost", T0));
        state.Apply(new FailoverPlaced(id, B, command, 1, "room", T0));
        state.Apply(new FailoverCommandFailed(id, B, command, "no answer", T0));
        Assert.Equal(FailoverStatus.Planning, state.Failovers[id].Status);
        Assert.Contains(state.Failovers[id].Steps, s => s.What.Contains("no answer"));
    }

    [Fact]
    public void Finished_fail_overs_are_kept_bounded_and_open_ones_always()
    {
        var state = Registered();
        var open = FailoverId.New();
        state.Apply(new FailoverStarted(open, P1, A, "open", T0));
        for (var i = 0; i < CoordinatorState.FinishedFailoversKept + 50; i++)
        {
            var id = FailoverId.New();
            state.Apply(new FailoverStarted(id, new PortSpec(new PortId($"x{i}")), A, "lost", T0));
            state.Apply(new FailoverCancelled(id, "recovered", T0));
        }
        Assert.Equal(CoordinatorState.FinishedFailoversKept + 1, state.Failovers.Count);
        Assert.True(state.Failovers.ContainsKey(open));
    }

    [Fact]
    public void A_snapshot_restores_the_same_state()
    {
        var state = Registered();
        var id = FailoverId.New();
        state.Apply(new FailoverStarted(id, P1, A, "lost", T0));
        state.Apply(new FailoverUnplaced(id, "no capacity", T0));
        var restored = new CoordinatorState(TimeSpan.FromSeconds(5));
        restored.Restore(state.ToSnapshot());
        Assert.Equal(state.Epoch, restored.Epoch);
        Assert.Equivalent(state.ToSnapshot().Hosts, restored.ToSnapshot().Hosts);
        Assert.Equivalent(state.Failovers[id], restored.Failovers[id]);
        Assert.Equal(PortState.Unplaced, restored.Ports[P1.Port].State);
    }
}
