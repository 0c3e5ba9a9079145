namespace Replug.Harness.Tests;

/// <summary>The harness's own pure parts: the probe's invariant check and the fault schedule (no root needed).</summary>
public sealed class HarnessSelfTests
{
    private static ForwardingRecord Record() => new(["p1", "p2"], ["h1", "h2", "h3"]);

    [Fact]
    public void The_same_frame_received_on_two_hosts_is_a_violation()
    {
        var record = Record();
        record.Record(0, 0, 1000);
        record.Record(0, 1, 1000);

        var violation = Assert.Single(record.Violations);
        Assert.Equal(("p1", "h1", "h2"), (violation.Port, violation.HostA, violation.HostB));
    }

    [Fact]
    public void Frames_of_one_host_between_frames_of_another_in_one_window_are_a_violation_though_no_slot_repeats()
    {
        var record = Record();
        record.Record(0, 0, 1000);
        record.Record(0, 1, 1003);
        record.Record(0, 0, 1006); // a lost frame must not hide that h1 forwarded all along

        Assert.Single(record.Violations);
    }

    [Fact]
    public void A_port_that_comes_back_to_its_old_host_after_the_new_one_stopped_is_a_hand_over_that_kept_the_order()
    {
        var record = Record();
        for (var s = 0; s <= 1000; s++) record.Record(0, 0, s);      // h1 until the fault
        for (var s = 1500; s <= 3000; s++) record.Record(0, 1, s);   // h2 takes the port
        for (var s = 5000; s <= 6000; s++) record.Record(0, 0, s);   // later it moves back to h1
        record.Sent(6000, 0);

        var handover = Handover.Of(record, "p1", "h1", "h2", 900);
        handover.AssertOldStoppedFirst(record.LastSentSlot);

        Assert.Equal(1000, handover.OldLast);
        Assert.Empty(record.Violations);
    }

    [Fact]
    public void An_old_host_that_forwards_again_while_the_new_one_still_does_fails_the_hand_over()
    {
        var record = Record();
        for (var s = 0; s <= 1000; s++) record.Record(0, 0, s);
        for (var s = 1500; s <= 3000; s++) record.Record(0, 1, s);
        for (var s = 2500; s <= 2600; s += 20) record.Record(0, 0, s); // h1 again while h2 forwards
        record.Sent(3000, 0);

        var handover = Handover.Of(record, "p1", "h1", "h2", 900);

        Assert.Throws<HarnessException>(() => handover.AssertOldStoppedFirst(record.LastSentSlot));
    }

    [Fact]
    public void A_hand_over_inside_one_window_without_overlap_is_counted_but_is_no_violation()
    {
        var record = Record();
        for (var s = 990; s <= 1003; s++) record.Record(0, 0, s);
        for (var s = 1006; s <= 1030; s++) record.Record(0, 1, s);

        Assert.Empty(record.Violations);
        Assert.Equal(1, record.CloseHandovers);
    }

    [Fact]
    public void Two_ports_on_two_hosts_or_one_port_on_two_hosts_at_different_times_are_no_violation()
    {
        var record = Record();
        record.Record(0, 0, 1000);
        record.Record(1, 1, 1000);
        record.Record(0, 1, 1100);

        Assert.Empty(record.Violations);
        Assert.Equal(1000, record.LastOfRunAt(0, 0, 1000));
        Assert.Equal(1100, record.FirstSeenFrom(0, 1, 1000));
    }

    [Fact]
    public void Consecutive_windows_of_double_forwarding_are_one_violation()
    {
        var record = Record();
        for (var s = 1000; s < 1100; s++) { record.Record(0, 0, s); record.Record(0, 2, s); }

        var violation = Assert.Single(record.Violations);
        Assert.Equal((1000, 1099, 10), (violation.FromSlot, violation.ToSlot, violation.Windows));
    }

    private static IReadOnlyList<HostSpec> Hosts() => Topology.Plan(new RunId("rh1x1", 1), "10.0.0", new HarnessOptions());

    [Fact]
    public void A_seed_gives_the_same_fault_schedule_every_time()
    {
        var a = FaultPlan.Create(42, TimeSpan.FromMinutes(5), Hosts(), ["c1", "c2"]);
        var b = FaultPlan.Create(42, TimeSpan.FromMinutes(5), Hosts(), ["c1", "c2"]);
        var c = FaultPlan.Create(43, TimeSpan.FromMinutes(5), Hosts(), ["c1", "c2"]);

        Assert.Equal(a.Faults, b.Faults);
        Assert.NotEqual(a.Faults, c.Faults);
        Assert.True(a.Faults.Count > 10);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(1234)]
    public void A_schedule_never_has_two_faults_on_one_target_nor_both_coordinators_down_nor_more_than_two_at_once(int seed)
    {
        var plan = FaultPlan.Create(seed, TimeSpan.FromMinutes(30), Hosts(), ["c1", "c2"]);
        foreach (var f in plan.Faults)
        {
            var overlapping = plan.Faults.Where(g => g != f && g.AtMs <= f.AtMs && g.EndMs > f.AtMs).ToList();
            Assert.True(overlapping.Count < FaultPlan.MaxConcurrent, $"{f} starts while {string.Join(", ", overlapping)}");
            Assert.DoesNotContain(overlapping, g => g.Targets.Intersect(f.Targets).Any());
            if (f.Kind == FaultKind.KillCoordinator) Assert.DoesNotContain(overlapping, g => g.Kind == FaultKind.KillCoordinator);
            if (f.Kind == FaultKind.RestartEverything) Assert.Empty(overlapping);
        }
    }
}
