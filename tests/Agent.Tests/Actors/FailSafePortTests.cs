using Replug.Agent.Ports;
using Replug.Shared.Devices;

namespace Replug.Agent.Tests.Actors;

public sealed class FailSafePortTests
{
    private static readonly DeviceId A = DeviceId.Net("a"), B = DeviceId.Net("b"), C = DeviceId.Net("c");

    private static FailSafePort Port(bool revertive = true, params DeviceId[] members) =>
        new(new PortId("p"), members.Length == 0 ? [A, B, C] : members, revertive);

    [Fact]
    public void The_first_healthy_device_becomes_active()
    {
        var port = Port();
        Assert.Equal([new PortAction.Switch(null, B)], port.OnHealthy(B));
        Assert.Equal(B, port.Active);
    }

    [Fact]
    public void A_fault_of_the_active_device_switches_to_the_most_preferred_healthy_standby()
    {
        var port = Port(revertive: false);
        port.OnHealthy(A); port.OnHealthy(C); port.OnHealthy(B);
        Assert.Equal([new PortAction.Switch(A, B)], port.OnUnhealthy(A, "removed"));
        Assert.Equal(B, port.Active);
    }

    [Fact]
    public void A_fault_of_a_standby_changes_nothing_in_the_path()
    {
        var port = Port();
        port.OnHealthy(A); port.OnHealthy(B);
        Assert.Empty(port.OnUnhealthy(B, "removed"));
        Assert.Equal(A, port.Active);
        Assert.Empty(port.HealthyStandbys);
    }

    [Fact]
    public void A_revertive_port_switches_back_to_the_preferred_device()
    {
        var port = Port(revertive: true);
        port.OnHealthy(A); port.OnHealthy(B);
        port.OnUnhealthy(A, "removed");
        Assert.Equal([new PortAction.Switch(B, A)], port.OnHealthy(A));
        Assert.Equal(A, port.Active);
    }

    [Fact]
    public void A_non_revertive_port_stays_on_the_standby()
    {
        var port = Port(revertive: false);
        port.OnHealthy(A); port.OnHealthy(B);
        port.OnUnhealthy(A, "removed");
        Assert.Empty(port.OnHealthy(A));
        Assert.Equal(B, port.Active);
    }

    [Fact]
    public void A_non_revertive_port_still_takes_a_preferred_device_that_was_only_late()
    {
        var port = Port(revertive: false);
        port.OnHealthy(B);
        Assert.Equal([new PortAction.Switch(B, A)], port.OnHealthy(A));
    }

    [Fact]
    public void No_healthy_device_left_deactivates_and_escalates_and_a_return_recovers()
    {
        var port = Port(true, A, B);
        port.OnHealthy(A);
        var actions = port.OnUnhealthy(A, "removed");
        Assert.Equal(new PortAction.Deactivate(A), actions[0]);
        Assert.IsType<PortAction.Escalate>(actions[1]);
        Assert.True(port.Escalated);
        Assert.Null(port.Active);

        Assert.Equal([new PortAction.Switch(null, B), new PortAction.Recover(B)], port.OnHealthy(B));
        Assert.False(port.Escalated);
    }

    [Fact]
    public void A_failed_switch_moves_on_to_the_next_healthy_device()
    {
        var port = Port();
        port.OnHealthy(A); port.OnHealthy(B); port.OnHealthy(C);
        port.OnUnhealthy(A, "removed");
        Assert.Equal([new PortAction.Switch(B, C)], port.OnSwitchFailed(B, "bridge refused"));
        Assert.Equal(C, port.Active);
    }

    [Fact]
    public void Devices_that_are_not_members_and_duplicate_reports_are_ignored()
    {
        var port = Port();
        Assert.Empty(port.OnHealthy(DeviceId.Net("x")));
        port.OnHealthy(A);
        Assert.Empty(port.OnHealthy(A));
        port.OnUnhealthy(B, "gone");
        Assert.Empty(port.OnUnhealthy(B, "gone again"));
    }

    [Fact]
    public void An_explicit_switch_moves_the_traffic_to_a_healthy_member()
    {
        var port = Port();
        port.OnHealthy(A); port.OnHealthy(B);
        Assert.Null(port.WhyNotSwitchTo(B));
        Assert.Equal([new PortAction.Switch(A, B)], port.SwitchTo(B));
        Assert.Equal(B, port.Active);
        Assert.Empty(port.SwitchTo(B)); // already there
    }

    [Fact]
    public void An_explicit_switch_to_a_device_that_is_not_a_healthy_member_changes_nothing_and_says_why()
    {
        var port = Port();
        port.OnHealthy(A);
        Assert.Contains("not a member", port.WhyNotSwitchTo(DeviceId.Net("x")));
        Assert.Contains("not a healthy member", port.WhyNotSwitchTo(C));
        Assert.Empty(port.SwitchTo(C));
        Assert.Equal(A, port.Active);
    }

    [Fact]
    public void An_explicit_switch_holds_against_reports_of_members_healthy_all_along_until_the_preferred_one_returns()
    {
        var port = Port(revertive: true);
        port.OnHealthy(A); port.OnHealthy(B);
        port.SwitchTo(B);
        Assert.Empty(port.OnHealthy(A)); // a repeated report: A never left
        Assert.Equal(B, port.Active);

        port.OnUnhealthy(A, "drained");
        Assert.Equal([new PortAction.Switch(B, A)], port.OnHealthy(A)); // back in service: revertive
    }

    [Fact]
    public void A_port_without_devices_or_with_a_device_twice_is_refused()
    {
        Assert.Throws<ArgumentException>(() => new FailSafePort(new PortId("p"), [], true));
        Assert.Throws<ArgumentException>(() => new FailSafePort(new PortId("p"), [A, A], true));
    }
}
