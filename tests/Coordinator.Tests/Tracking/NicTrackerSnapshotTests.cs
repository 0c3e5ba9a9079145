using Replug.Coordinator.Tracking;
using Replug.Shared.Protocol;
using static Replug.Coordinator.Tests.Tracking.Given;

namespace Replug.Coordinator.Tests.Tracking;

public sealed class NicTrackerSnapshotTests
{
    private static readonly Replug.Shared.Devices.NicIdentity ThirdNic = new(Replug.Shared.Devices.NicIdentityKind.Mac, "52:54:00:00:00:03");

    /// <summary>A located NIC, a pending removal, an announced early arrival and a remembered fault.</summary>
    private static NicTracker BusyTracker()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.OnAdded(A, Eth1, OtherNic, T0);
        tracker.OnAdded(C, Eth0, ThirdNic, T0);
        tracker.OnRemoved(C, Eth0, ThirdNic, At(1));
        tracker.Expire(At(1) + Window);                                  // ThirdNic faulted on C
        tracker.OnRemoved(A, Eth1, OtherNic, At(10));                     // pending removal
        tracker.Announce(Nic, A, B, MigrationPhase.Start, At(10));
        tracker.OnAdded(B, Eth1, Nic, At(11));                            // announced early arrival
        return tracker;
    }

    [Fact]
    public void A_snapshot_round_trip_preserves_locations_pending_removals_announcements_and_faults()
    {
        var snapshot = BusyTracker().ToSnapshot();

        var restored = NicTracker.FromSnapshot(snapshot, Window).ToSnapshot();

        Assert.Equal(NicTrackerSnapshot.CurrentVersion, restored.Version);
        Assert.Equal(snapshot.Placements, restored.Placements);
        Assert.Equal(snapshot.Announcements, restored.Announcements);
        Assert.Equal(snapshot.Faults, restored.Faults);
        Assert.Equal(3, snapshot.Placements.Count);
        Assert.Single(snapshot.Announcements);
        Assert.Single(snapshot.Faults);
    }

    [Fact]
    public void A_restored_tracker_faults_a_pending_removal_at_its_original_deadline()
    {
        var restored = NicTracker.FromSnapshot(BusyTracker().ToSnapshot(), Window);

        Assert.Equal(At(10) + Window, restored.NextDeadline);
        var faulted = Assert.IsType<NicVerdict.Faulted>(Assert.Single(restored.Expire(At(10) + Window)));
        Assert.Equal(OtherNic, faulted.Nic);
    }

    [Fact]
    public void A_restored_announced_arrival_still_migrates_as_announced()
    {
        var restored = NicTracker.FromSnapshot(BusyTracker().ToSnapshot(), Window);

        var migrated = Assert.IsType<NicVerdict.Migrated>(restored.OnRemoved(A, Eth0, Nic, At(40)));

        Assert.True(migrated.Announced);
    }

    [Fact]
    public void A_restored_tracker_remembers_faults()
    {
        var restored = NicTracker.FromSnapshot(BusyTracker().ToSnapshot(), Window);

        Assert.IsType<NicVerdict.Recovered>(restored.OnAdded(B, Eth0, ThirdNic, At(20)));
    }

    [Fact]
    public void A_restored_tracker_behaves_like_the_original()
    {
        var original = BusyTracker();
        var restored = NicTracker.FromSnapshot(original.ToSnapshot(), Window);

        foreach (var tracker in new[] { original, restored })
        {
            tracker.OnAdded(C, Eth1, OtherNic, At(12));
            tracker.Announce(Nic, A, B, MigrationPhase.Complete, At(13));
            tracker.Expire(At(5000));
        }

        Assert.Equal(original.ToSnapshot().Placements, restored.ToSnapshot().Placements);
        Assert.Equal(original.ToSnapshot().Faults, restored.ToSnapshot().Faults);
    }

    [Fact]
    public void A_snapshot_with_two_placements_on_one_host_is_rejected()
    {
        var placement = new NicTrackerSnapshot.Placement(Nic, A, Eth0, NicPlacementState.Present, T0, null, false, false);
        var snapshot = new NicTrackerSnapshot(NicTrackerSnapshot.CurrentVersion, [placement, placement with { Device = Eth1 }], [], []);

        var error = Assert.Throws<ArgumentException>(() => NicTracker.FromSnapshot(snapshot, Window));

        Assert.Contains("twice", error.Message);
    }

    [Fact]
    public void A_snapshot_with_a_pending_placement_and_no_deadline_is_rejected()
    {
        var placement = new NicTrackerSnapshot.Placement(Nic, A, Eth0, NicPlacementState.Departing, T0, null, false, false);
        var snapshot = new NicTrackerSnapshot(NicTrackerSnapshot.CurrentVersion, [placement], [], []);

        Assert.Throws<ArgumentException>(() => NicTracker.FromSnapshot(snapshot, Window));
    }

    [Fact]
    public void A_snapshot_of_an_unknown_version_is_rejected()
    {
        var snapshot = new NicTrackerSnapshot(NicTrackerSnapshot.CurrentVersion + 1, [], [], []);

        Assert.Throws<NotSupportedException>(() => NicTracker.FromSnapshot(snapshot, Window));
    }
}
