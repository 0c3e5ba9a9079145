using Replug.Coordinator.Tracking;
using static Replug.Coordinator.Tests.Tracking.Given;

namespace Replug.Coordinator.Tests.Tracking;

/// <summary>Duplicate and reordered reports change nothing.</summary>
public sealed class NicTrackerIdempotenceTests
{
    [Fact]
    public void A_second_removal_of_the_same_NIC_is_ignored()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.OnRemoved(A, Eth0, Nic, At(10));
        var before = tracker.ToSnapshot();

        Assert.IsType<NicVerdict.Ignored>(tracker.OnRemoved(A, Eth0, Nic, At(11)));

        AssertSameState(before, tracker.ToSnapshot());
    }

    [Fact]
    public void An_add_for_a_NIC_already_located_on_that_device_is_ignored()
    {
        var tracker = TrackerWithNicOn(A);
        var before = tracker.ToSnapshot();

        Assert.IsType<NicVerdict.Ignored>(tracker.OnAdded(A, Eth0, Nic, At(10)));

        AssertSameState(before, tracker.ToSnapshot());
    }

    [Fact]
    public void A_second_add_of_a_pending_arrival_is_ignored()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.OnAdded(B, Eth0, Nic, At(10));
        var before = tracker.ToSnapshot();

        Assert.IsType<NicVerdict.Ignored>(tracker.OnAdded(B, Eth0, Nic, At(11)));

        AssertSameState(before, tracker.ToSnapshot());
    }

    [Fact]
    public void A_removal_of_an_unknown_NIC_is_ignored()
    {
        var tracker = new NicTracker(Window);

        Assert.IsType<NicVerdict.Ignored>(tracker.OnRemoved(A, Eth0, Nic, T0));
        Assert.Null(tracker.NextDeadline);
    }

    [Fact]
    public void A_removal_from_a_host_where_the_NIC_is_not_located_is_ignored()
    {
        var tracker = TrackerWithNicOn(A);

        Assert.IsType<NicVerdict.Ignored>(tracker.OnRemoved(B, Eth0, Nic, At(10)));
        Assert.Equal(A, tracker.LocationOf(Nic)!.Host);
    }

    [Fact]
    public void A_removal_of_an_old_device_name_is_ignored()
    {
        var tracker = TrackerWithNicOn(A);

        Assert.IsType<NicVerdict.Ignored>(tracker.OnRemoved(A, Eth1, Nic, At(10)));
        Assert.Equal(Eth0, tracker.LocationOf(Nic)!.Device);
    }

    [Fact]
    public void A_repeated_removal_that_arrives_after_the_migration_is_ignored()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.OnRemoved(A, Eth0, Nic, At(10));
        tracker.OnAdded(B, Eth0, Nic, At(11));

        Assert.IsType<NicVerdict.Ignored>(tracker.OnRemoved(A, Eth0, Nic, At(12)));
        Assert.Equal(B, tracker.LocationOf(Nic)!.Host);
    }

    [Fact]
    public void A_repeated_add_that_arrives_after_the_migration_is_ignored()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.OnRemoved(A, Eth0, Nic, At(10));
        tracker.OnAdded(B, Eth0, Nic, At(11));

        Assert.IsType<NicVerdict.Ignored>(tracker.OnAdded(B, Eth0, Nic, At(12)));
    }

    [Fact]
    public void Expire_is_idempotent_and_never_reports_a_removal_twice()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.OnRemoved(A, Eth0, Nic, At(10));

        var first = tracker.Expire(At(30));
        var second = tracker.Expire(At(30));
        var later = tracker.Expire(At(3000));

        Assert.IsType<NicVerdict.Faulted>(Assert.Single(first));
        Assert.Empty(second);
        Assert.Empty(later);
    }

    [Fact]
    public void Expire_reports_due_items_in_deadline_order()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.OnAdded(B, Eth1, OtherNic, T0);
        tracker.OnRemoved(B, Eth1, OtherNic, At(12));
        tracker.OnRemoved(A, Eth0, Nic, At(10));

        var verdicts = tracker.Expire(At(100));

        Assert.Equal([Nic, OtherNic], verdicts.Cast<NicVerdict.Faulted>().Select(f => f.Nic));
    }

    private static void AssertSameState(NicTrackerSnapshot expected, NicTrackerSnapshot actual)
    {
        Assert.Equal(expected.Placements, actual.Placements);
        Assert.Equal(expected.Announcements, actual.Announcements);
        Assert.Equal(expected.Faults, actual.Faults);
    }
}
