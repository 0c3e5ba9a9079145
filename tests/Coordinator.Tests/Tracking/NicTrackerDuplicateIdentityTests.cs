using Replug.Coordinator.Tracking;
using static Replug.Coordinator.Tests.Tracking.Given;

namespace Replug.Coordinator.Tests.Tracking;

/// <summary>Two NICs with one identity (cloned VMs, a misconfigured MAC) are tracked apart, never merged.</summary>
public sealed class NicTrackerDuplicateIdentityTests
{
    [Fact]
    public void Two_NICs_with_the_same_identity_on_different_hosts_are_both_tracked()
    {
        var tracker = TrackerWithDuplicateOnAAndB();

        Assert.Equal([A, B], tracker.LocationsOf(Nic).Select(l => l.Host).OrderBy(h => h.Value));
        Assert.Equal(2, tracker.Locations.Count);
    }

    [Fact]
    public void LocationOf_answers_nothing_for_a_duplicated_identity()
    {
        var tracker = TrackerWithDuplicateOnAAndB();

        Assert.Null(tracker.LocationOf(Nic));
    }

    [Fact]
    public void Removing_one_of_two_duplicates_is_not_a_migration_and_names_the_conflict()
    {
        var tracker = TrackerWithDuplicateOnAAndB();

        var pending = Assert.IsType<NicVerdict.RemovalPending>(tracker.OnRemoved(A, Eth0, Nic, At(20)));

        Assert.Contains("identity conflict", pending.Reason);
        Assert.Contains(B.Value, pending.Reason);
        Assert.Equal(new NicLocation(Nic, B, Eth0, At(1)), tracker.LocationOf(Nic));
    }

    [Fact]
    public void A_removed_duplicate_with_no_add_faults_while_the_other_stays()
    {
        var tracker = TrackerWithDuplicateOnAAndB();
        tracker.OnRemoved(A, Eth0, Nic, At(20));

        var faulted = Assert.IsType<NicVerdict.Faulted>(Assert.Single(tracker.Expire(At(20) + Window)));

        Assert.Equal(A, faulted.Host);
        Assert.Contains(B.Value, faulted.Reason);
        Assert.Equal(B, tracker.LocationOf(Nic)!.Host);
    }

    [Fact]
    public void A_removed_duplicate_added_on_a_third_host_is_a_migration_that_names_the_conflict()
    {
        var tracker = TrackerWithDuplicateOnAAndB();
        tracker.OnRemoved(A, Eth0, Nic, At(20));

        var migrated = Assert.IsType<NicVerdict.Migrated>(tracker.OnAdded(C, Eth0, Nic, At(21)));

        Assert.Equal((A, C), (migrated.From, migrated.To));
        Assert.Contains("identity conflict", migrated.Reason);
        Assert.Equal([B, C], tracker.LocationsOf(Nic).Select(l => l.Host).OrderBy(h => h.Value));
    }

    [Fact]
    public void A_second_NIC_reported_at_registration_is_a_conflict_after_one_window()
    {
        var tracker = new NicTracker(Window);
        tracker.OnAdded(A, Eth0, Nic, T0);
        Assert.IsType<NicVerdict.ArrivalPending>(tracker.OnAdded(B, Eth0, Nic, T0));

        var verdicts = tracker.Expire(T0 + Window);

        var duplicated = Assert.IsType<NicVerdict.Duplicated>(Assert.Single(verdicts));
        Assert.Equal(B, duplicated.Location.Host);
    }
}
