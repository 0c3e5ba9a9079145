using Replug.Coordinator.Tracking;
using static Replug.Coordinator.Tests.Tracking.Given;

namespace Replug.Coordinator.Tests.Tracking;

public sealed class NicTrackerMigrationTests
{
    [Fact]
    public void A_NIC_seen_for_the_first_time_is_placed()
    {
        var tracker = new NicTracker(Window);

        var placed = Assert.IsType<NicVerdict.Placed>(tracker.OnAdded(A, Eth0, Nic, T0));

        Assert.Equal(new NicLocation(Nic, A, Eth0, T0), placed.Location);
        Assert.Equal(placed.Location, tracker.LocationOf(Nic));
    }

    [Fact]
    public void A_removal_followed_by_an_add_on_another_host_within_the_window_is_a_migration()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.OnRemoved(A, Eth0, Nic, At(10));

        var migrated = Assert.IsType<NicVerdict.Migrated>(tracker.OnAdded(B, Eth1, Nic, At(12)));

        Assert.Equal((Nic, A, B, Eth1, false), (migrated.Nic, migrated.From, migrated.To, migrated.NewDevice, migrated.Announced));
    }

    [Fact]
    public void A_migration_moves_the_location_to_the_new_host()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.OnRemoved(A, Eth0, Nic, At(10));
        tracker.OnAdded(B, Eth1, Nic, At(12));

        Assert.Equal(new NicLocation(Nic, B, Eth1, At(12)), tracker.LocationOf(Nic));
        Assert.Single(tracker.Locations);
    }

    [Fact]
    public void A_migration_is_never_faulted_afterwards()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.OnRemoved(A, Eth0, Nic, At(10));
        tracker.OnAdded(B, Eth1, Nic, At(12));

        Assert.Empty(tracker.Expire(At(1000)));
        Assert.Null(tracker.NextDeadline);
    }

    [Fact]
    public void A_removal_with_no_add_is_pending_until_the_window_ends()
    {
        var tracker = TrackerWithNicOn(A);

        var pending = Assert.IsType<NicVerdict.RemovalPending>(tracker.OnRemoved(A, Eth0, Nic, At(10)));

        Assert.Equal((Nic, A, Eth0, At(10) + Window, false), (pending.Nic, pending.Host, pending.Device, pending.Deadline, pending.Announced));
        Assert.Equal(At(10) + Window, tracker.NextDeadline);
    }

    [Fact]
    public void A_pending_removal_is_not_a_location()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.OnRemoved(A, Eth0, Nic, At(10));

        Assert.Null(tracker.LocationOf(Nic));
        Assert.Empty(tracker.Locations);
    }

    [Fact]
    public void Expire_before_the_deadline_reports_nothing()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.OnRemoved(A, Eth0, Nic, At(10));

        Assert.Empty(tracker.Expire(At(10) + Window - TimeSpan.FromTicks(1)));
    }

    [Fact]
    public void A_removal_with_no_add_faults_when_the_window_ends()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.OnRemoved(A, Eth0, Nic, At(10));

        var faulted = Assert.IsType<NicVerdict.Faulted>(Assert.Single(tracker.Expire(At(10) + Window)));

        Assert.Equal((Nic, A, Eth0), (faulted.Nic, faulted.Host, faulted.Device));
        Assert.Contains("not added anywhere", faulted.Reason);
    }

    [Fact]
    public void An_add_elsewhere_after_the_fault_is_a_recovery_not_a_migration()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.OnRemoved(A, Eth0, Nic, At(10));
        tracker.Expire(At(20));

        var recovered = Assert.IsType<NicVerdict.Recovered>(tracker.OnAdded(B, Eth1, Nic, At(21)));

        Assert.Equal(new NicLocation(Nic, B, Eth1, At(21)), recovered.Location);
        Assert.Equal(A, recovered.FaultedOn);
    }

    [Fact]
    public void A_NIC_that_returns_to_its_own_host_after_the_fault_is_also_a_recovery()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.OnRemoved(A, Eth0, Nic, At(10));
        tracker.Expire(At(20));

        var recovered = Assert.IsType<NicVerdict.Recovered>(tracker.OnAdded(A, Eth0, Nic, At(21)));

        Assert.Equal(A, recovered.FaultedOn);
    }

    [Fact]
    public void A_fault_is_forgotten_after_the_fault_memory()
    {
        var tracker = new NicTracker(new NicTrackerOptions(Window) { FaultMemory = TimeSpan.FromMinutes(1) });
        tracker.OnAdded(A, Eth0, Nic, T0);
        tracker.OnRemoved(A, Eth0, Nic, At(10));
        tracker.Expire(At(15));

        Assert.Empty(tracker.Expire(At(15) + TimeSpan.FromMinutes(1)));
        Assert.IsType<NicVerdict.Placed>(tracker.OnAdded(B, Eth0, Nic, At(100)));
    }

    [Fact]
    public void A_removal_and_an_add_on_the_same_host_within_the_window_puts_the_NIC_back_in_place()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.OnRemoved(A, Eth0, Nic, At(10));

        var replugged = Assert.IsType<NicVerdict.Replugged>(tracker.OnAdded(A, Eth0, Nic, At(11)));

        Assert.Equal(new NicLocation(Nic, A, Eth0, At(11)), replugged.Location);
        Assert.Empty(tracker.Expire(At(1000)));
    }

    [Fact]
    public void A_replug_under_a_new_device_name_is_back_in_place_with_the_new_name()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.OnRemoved(A, Eth0, Nic, At(10));

        var replugged = Assert.IsType<NicVerdict.Replugged>(tracker.OnAdded(A, Eth1, Nic, At(11)));

        Assert.Equal(Eth1, replugged.Location.Device);
        Assert.Equal(Eth1, tracker.LocationOf(Nic)!.Device);
    }

    [Fact]
    public void A_new_device_name_reported_before_the_old_ones_removal_renames_the_NIC_in_place()
    {
        var tracker = TrackerWithNicOn(A);

        var replugged = Assert.IsType<NicVerdict.Replugged>(tracker.OnAdded(A, Eth1, Nic, At(10)));
        var staleRemoval = tracker.OnRemoved(A, Eth0, Nic, At(11));

        Assert.Equal(Eth1, replugged.Location.Device);
        Assert.IsType<NicVerdict.Ignored>(staleRemoval);
        Assert.Equal(Eth1, tracker.LocationOf(Nic)!.Device);
    }

    [Fact]
    public void An_add_on_another_host_before_the_removal_is_held_as_a_pending_arrival()
    {
        var tracker = TrackerWithNicOn(A);

        var pending = Assert.IsType<NicVerdict.ArrivalPending>(tracker.OnAdded(B, Eth1, Nic, At(10)));

        Assert.Equal((Nic, B, Eth1, At(10) + Window), (pending.Nic, pending.Host, pending.Device, pending.Deadline));
        Assert.Equal(A, tracker.LocationOf(Nic)!.Host);
    }

    [Fact]
    public void A_removal_after_an_early_add_on_another_host_is_a_migration()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.OnAdded(B, Eth1, Nic, At(10));

        var migrated = Assert.IsType<NicVerdict.Migrated>(tracker.OnRemoved(A, Eth0, Nic, At(12)));

        Assert.Equal((A, B, Eth1, false), (migrated.From, migrated.To, migrated.NewDevice, migrated.Announced));
        Assert.Equal(new NicLocation(Nic, B, Eth1, At(10)), tracker.LocationOf(Nic));
        Assert.Empty(tracker.Expire(At(1000)));
    }

    [Fact]
    public void An_early_add_whose_source_never_reports_a_removal_becomes_a_duplicate_identity()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.OnAdded(B, Eth1, Nic, At(10));

        var duplicated = Assert.IsType<NicVerdict.Duplicated>(Assert.Single(tracker.Expire(At(10) + Window)));

        Assert.Equal(new NicLocation(Nic, B, Eth1, At(10)), duplicated.Location);
        Assert.Equal([A], duplicated.AlsoPresentOn);
        Assert.Contains("identity conflict", duplicated.Reason);
        Assert.Equal(2, tracker.LocationsOf(Nic).Count);
    }

    [Fact]
    public void A_removal_of_an_early_arrival_withdraws_it_and_leaves_the_NIC_in_place()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.OnAdded(B, Eth1, Nic, At(10));

        var withdrawn = Assert.IsType<NicVerdict.Ignored>(tracker.OnRemoved(B, Eth1, Nic, At(11)));

        Assert.Contains("withdrawn", withdrawn.Reason);
        Assert.Equal(A, tracker.LocationOf(Nic)!.Host);
        Assert.Empty(tracker.Expire(At(1000)));
    }

    [Fact]
    public void Other_NICs_are_unaffected_by_a_migration()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.OnAdded(A, Eth1, OtherNic, T0);
        tracker.OnRemoved(A, Eth0, Nic, At(10));
        tracker.OnAdded(B, Eth0, Nic, At(11));

        Assert.Equal(new NicLocation(OtherNic, A, Eth1, T0), tracker.LocationOf(OtherNic));
    }

    [Fact]
    public void NextDeadline_is_the_earliest_pending_deadline()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.OnAdded(A, Eth1, OtherNic, T0);
        tracker.OnRemoved(A, Eth1, OtherNic, At(20));
        tracker.OnRemoved(A, Eth0, Nic, At(10));

        Assert.Equal(At(10) + Window, tracker.NextDeadline);
    }

    [Fact]
    public void NextDeadline_is_null_when_nothing_is_pending()
    {
        var tracker = TrackerWithNicOn(A);

        Assert.Null(tracker.NextDeadline);
    }

    [Fact]
    public void A_non_positive_window_is_rejected()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new NicTracker(TimeSpan.Zero));

        Assert.Equal(nameof(NicTrackerOptions.MigrationWindow), error.ParamName);
    }

    [Fact]
    public void An_announced_timeout_shorter_than_the_window_is_rejected()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new NicTracker(new NicTrackerOptions(Window) { AnnouncedTimeout = Window / 2 }));

        Assert.Equal(nameof(NicTrackerOptions.AnnouncedTimeout), error.ParamName);
    }
}
