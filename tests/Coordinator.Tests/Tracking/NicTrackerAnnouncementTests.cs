using Replug.Coordinator.Tracking;
using Replug.Shared.Protocol;
using static Replug.Coordinator.Tests.Tracking.Given;

namespace Replug.Coordinator.Tests.Tracking;

/// <summary>Migrations an orchestrator announces ahead: start, complete, abort.</summary>
public sealed class NicTrackerAnnouncementTests
{
    [Fact]
    public void A_start_notice_is_recorded_with_the_announced_timeout()
    {
        var tracker = TrackerWithNicOn(A);

        var started = Assert.IsType<NicVerdict.AnnouncementChanged>(tracker.Announce(Nic, A, B, MigrationPhase.Start, At(10)));

        Assert.Equal((AnnouncementStatus.Started, At(10) + AnnouncedTimeout), (started.Status, started.Deadline));
        Assert.Equal(A, tracker.LocationOf(Nic)!.Host);
    }

    [Fact]
    public void An_announced_migration_is_reported_as_announced()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.Announce(Nic, A, B, MigrationPhase.Start, At(10));
        tracker.OnRemoved(A, Eth0, Nic, At(11));

        var migrated = Assert.IsType<NicVerdict.Migrated>(tracker.OnAdded(B, Eth1, Nic, At(12)));

        Assert.Equal((A, B, true), (migrated.From, migrated.To, migrated.Announced));
    }

    [Fact]
    public void An_announced_removal_never_faults_within_the_announced_timeout()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.Announce(Nic, A, B, MigrationPhase.Start, At(10));

        var pending = Assert.IsType<NicVerdict.RemovalPending>(tracker.OnRemoved(A, Eth0, Nic, At(11)));

        Assert.True(pending.Announced);
        Assert.Equal(At(10) + AnnouncedTimeout, pending.Deadline);
        Assert.Empty(tracker.Expire(At(10) + AnnouncedTimeout - TimeSpan.FromTicks(1)));
    }

    [Fact]
    public void An_announced_migration_slower_than_the_window_is_still_a_migration()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.Announce(Nic, A, B, MigrationPhase.Start, At(10));
        tracker.OnRemoved(A, Eth0, Nic, At(11));
        Assert.Empty(tracker.Expire(At(11) + Window * 5));

        var migrated = Assert.IsType<NicVerdict.Migrated>(tracker.OnAdded(B, Eth1, Nic, At(11) + Window * 5));

        Assert.True(migrated.Announced);
    }

    [Fact]
    public void An_announced_removal_faults_after_the_announced_timeout()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.Announce(Nic, A, B, MigrationPhase.Start, At(10));
        tracker.OnRemoved(A, Eth0, Nic, At(11));

        var verdicts = tracker.Expire(At(10) + AnnouncedTimeout);

        var faulted = Assert.IsType<NicVerdict.Faulted>(verdicts[0]);
        Assert.Contains("announced migration", faulted.Reason);
        Assert.Equal(AnnouncementStatus.Lapsed, Assert.IsType<NicVerdict.AnnouncementChanged>(verdicts[1]).Status);
    }

    [Fact]
    public void A_start_notice_after_the_removal_protects_the_pending_removal()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.OnRemoved(A, Eth0, Nic, At(10));

        tracker.Announce(Nic, A, B, MigrationPhase.Start, At(11));

        Assert.Empty(tracker.Expire(At(10) + Window * 3));
        Assert.Equal(At(11) + AnnouncedTimeout, tracker.NextDeadline);
    }

    [Fact]
    public void An_announced_early_arrival_waits_for_the_source_beyond_the_window()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.Announce(Nic, A, B, MigrationPhase.Start, At(10));

        var pending = Assert.IsType<NicVerdict.ArrivalPending>(tracker.OnAdded(B, Eth1, Nic, At(11)));

        Assert.Equal(At(10) + AnnouncedTimeout, pending.Deadline);
        Assert.Empty(tracker.Expire(At(11) + Window * 3));
        Assert.True(Assert.IsType<NicVerdict.Migrated>(tracker.OnRemoved(A, Eth0, Nic, At(11) + Window * 3)).Announced);
    }

    [Fact]
    public void Complete_records_the_location_on_the_destination_before_it_reports()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.Announce(Nic, A, B, MigrationPhase.Start, At(10));
        tracker.OnRemoved(A, Eth0, Nic, At(11));

        var migrated = Assert.IsType<NicVerdict.Migrated>(tracker.Announce(Nic, A, B, MigrationPhase.Complete, At(12)));

        Assert.Equal((A, B, Eth0, true), (migrated.From, migrated.To, migrated.NewDevice, migrated.Announced));
        Assert.Equal(B, tracker.LocationOf(Nic)!.Host);
        Assert.Null(tracker.NextDeadline);
    }

    [Fact]
    public void Complete_before_the_source_reports_the_removal_makes_that_removal_stale()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.Announce(Nic, A, B, MigrationPhase.Start, At(10));
        tracker.Announce(Nic, A, B, MigrationPhase.Complete, At(11));

        Assert.IsType<NicVerdict.Ignored>(tracker.OnRemoved(A, Eth0, Nic, At(12)));
        Assert.Equal(B, tracker.LocationOf(Nic)!.Host);
    }

    [Fact]
    public void The_destination_reporting_after_complete_confirms_the_device_name()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.Announce(Nic, A, B, MigrationPhase.Start, At(10));
        tracker.Announce(Nic, A, B, MigrationPhase.Complete, At(11));

        var renamed = Assert.IsType<NicVerdict.Replugged>(tracker.OnAdded(B, Eth1, Nic, At(12)));

        Assert.Equal(new NicLocation(Nic, B, Eth1, At(11)), renamed.Location);
        Assert.Equal(Eth1, tracker.LocationOf(Nic)!.Device);
    }

    [Fact]
    public void Complete_after_an_early_arrival_is_the_migration()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.Announce(Nic, A, B, MigrationPhase.Start, At(10));
        tracker.OnAdded(B, Eth1, Nic, At(11));

        var migrated = Assert.IsType<NicVerdict.Migrated>(tracker.Announce(Nic, A, B, MigrationPhase.Complete, At(12)));

        Assert.Equal((A, B, Eth1), (migrated.From, migrated.To, migrated.NewDevice));
        Assert.Equal(new NicLocation(Nic, B, Eth1, At(11)), tracker.LocationOf(Nic));
    }

    [Fact]
    public void Complete_after_the_migration_was_seen_ends_the_announcement()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.Announce(Nic, A, B, MigrationPhase.Start, At(10));
        tracker.OnRemoved(A, Eth0, Nic, At(11));
        tracker.OnAdded(B, Eth1, Nic, At(12));

        var completed = Assert.IsType<NicVerdict.AnnouncementChanged>(tracker.Announce(Nic, A, B, MigrationPhase.Complete, At(13)));

        Assert.Equal(AnnouncementStatus.Completed, completed.Status);
        Assert.Null(tracker.NextDeadline);
        Assert.Empty(tracker.ToSnapshot().Announcements);
    }

    [Fact]
    public void A_repeated_complete_is_ignored()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.Announce(Nic, A, B, MigrationPhase.Start, At(10));
        tracker.Announce(Nic, A, B, MigrationPhase.Complete, At(11));

        Assert.IsType<NicVerdict.Ignored>(tracker.Announce(Nic, A, B, MigrationPhase.Complete, At(12)));
    }

    [Fact]
    public void Abort_before_the_removal_leaves_the_NIC_on_the_source()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.Announce(Nic, A, B, MigrationPhase.Start, At(10));

        var aborted = Assert.IsType<NicVerdict.AnnouncementChanged>(tracker.Announce(Nic, A, B, MigrationPhase.Abort, At(11)));

        Assert.Equal(AnnouncementStatus.Aborted, aborted.Status);
        Assert.Equal(A, tracker.LocationOf(Nic)!.Host);
        Assert.Null(tracker.NextDeadline);
    }

    [Fact]
    public void Abort_after_the_removal_starts_a_fresh_window()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.Announce(Nic, A, B, MigrationPhase.Start, At(10));
        tracker.OnRemoved(A, Eth0, Nic, At(11));

        var pending = Assert.IsType<NicVerdict.RemovalPending>(tracker.Announce(Nic, A, B, MigrationPhase.Abort, At(30)));

        Assert.Equal((A, At(30) + Window, false), (pending.Host, pending.Deadline, pending.Announced));
        Assert.Empty(tracker.Expire(At(30) + Window - TimeSpan.FromTicks(1)));
        Assert.IsType<NicVerdict.Faulted>(Assert.Single(tracker.Expire(At(30) + Window)));
    }

    [Fact]
    public void Abort_after_the_removal_lets_the_NIC_come_back_in_place()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.Announce(Nic, A, B, MigrationPhase.Start, At(10));
        tracker.OnRemoved(A, Eth0, Nic, At(11));
        tracker.Announce(Nic, A, B, MigrationPhase.Abort, At(30));

        Assert.IsType<NicVerdict.Replugged>(tracker.OnAdded(A, Eth0, Nic, At(31)));
    }

    [Fact]
    public void Abort_after_the_NIC_reached_the_destination_returns_it_to_the_source()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.Announce(Nic, A, B, MigrationPhase.Start, At(10));
        tracker.OnRemoved(A, Eth0, Nic, At(11));
        tracker.OnAdded(B, Eth1, Nic, At(12));

        var back = Assert.IsType<NicVerdict.Migrated>(tracker.Announce(Nic, A, B, MigrationPhase.Abort, At(13)));

        Assert.Equal((B, A, Eth0, true), (back.From, back.To, back.NewDevice, back.Announced));
        Assert.Equal(new NicLocation(Nic, A, Eth0, At(13)), tracker.LocationOf(Nic));
    }

    [Fact]
    public void Abort_with_an_early_arrival_gives_the_arrival_a_fresh_window()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.Announce(Nic, A, B, MigrationPhase.Start, At(10));
        tracker.OnAdded(B, Eth1, Nic, At(11));

        tracker.Announce(Nic, A, B, MigrationPhase.Abort, At(20));

        Assert.Equal(At(20) + Window, tracker.NextDeadline);
        Assert.Equal(A, tracker.LocationOf(Nic)!.Host);
    }

    [Fact]
    public void A_repeated_start_is_ignored()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.Announce(Nic, A, B, MigrationPhase.Start, At(10));

        Assert.IsType<NicVerdict.Ignored>(tracker.Announce(Nic, A, B, MigrationPhase.Start, At(11)));
        Assert.Equal(At(10) + AnnouncedTimeout, tracker.NextDeadline);
    }

    [Fact]
    public void A_start_that_conflicts_with_the_announced_migration_is_ignored()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.Announce(Nic, A, B, MigrationPhase.Start, At(10));

        var ignored = Assert.IsType<NicVerdict.Ignored>(tracker.Announce(Nic, A, C, MigrationPhase.Start, At(11)));

        Assert.Contains("already announced", ignored.Reason);
    }

    [Fact]
    public void A_start_for_a_NIC_already_on_the_destination_is_ignored()
    {
        var tracker = TrackerWithNicOn(B);

        Assert.IsType<NicVerdict.Ignored>(tracker.Announce(Nic, A, B, MigrationPhase.Start, At(10)));
    }

    [Fact]
    public void A_migration_from_a_host_to_itself_is_ignored()
    {
        var tracker = TrackerWithNicOn(A);

        Assert.IsType<NicVerdict.Ignored>(tracker.Announce(Nic, A, A, MigrationPhase.Start, At(10)));
    }

    [Fact]
    public void An_abort_with_no_announced_migration_is_ignored()
    {
        var tracker = TrackerWithNicOn(A);

        Assert.IsType<NicVerdict.Ignored>(tracker.Announce(Nic, A, B, MigrationPhase.Abort, At(10)));
    }

    [Fact]
    public void A_complete_with_no_start_still_records_the_destination()
    {
        var tracker = TrackerWithNicOn(A);

        var migrated = Assert.IsType<NicVerdict.Migrated>(tracker.Announce(Nic, A, B, MigrationPhase.Complete, At(10)));

        Assert.True(migrated.Announced);
        Assert.Equal(B, tracker.LocationOf(Nic)!.Host);
    }

    [Fact]
    public void An_announcement_that_lapses_is_reported_once()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.Announce(Nic, A, B, MigrationPhase.Start, At(10));

        var lapsed = Assert.IsType<NicVerdict.AnnouncementChanged>(Assert.Single(tracker.Expire(At(10) + AnnouncedTimeout)));

        Assert.Equal(AnnouncementStatus.Lapsed, lapsed.Status);
        Assert.Empty(tracker.Expire(At(10) + AnnouncedTimeout * 2));
        Assert.Equal(A, tracker.LocationOf(Nic)!.Host);
    }

    [Fact]
    public void A_migration_to_another_destination_than_announced_is_not_reported_as_announced()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.Announce(Nic, A, B, MigrationPhase.Start, At(10));
        tracker.OnRemoved(A, Eth0, Nic, At(11));

        var migrated = Assert.IsType<NicVerdict.Migrated>(tracker.OnAdded(C, Eth0, Nic, At(12)));

        Assert.False(migrated.Announced);
        Assert.Contains("announced to host-b", migrated.Reason);
    }
}
