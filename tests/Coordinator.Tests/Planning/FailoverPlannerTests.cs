using Replug.Coordinator.Planning;
using static Replug.Coordinator.Tests.Planning.PlannerFixtures;

namespace Replug.Coordinator.Tests.Planning;

public sealed class FailoverPlannerTests
{
    // ---- Candidates: Up hosts only, never the host a port leaves ----

    [Theory]
    [InlineData(HostStatus.Unreachable)]
    [InlineData(HostStatus.Down)]
    [InlineData(HostStatus.Drained)]
    public void A_host_that_is_not_Up_is_never_chosen_even_with_the_most_room(HostStatus status)
    {
        var plan = Plan([Port("p1")], [Host("big", capacity: 100, status: status), Host("small", capacity: 1)]);

        Assert.Equal("small", plan.HostOf("p1"));
    }

    [Fact]
    public void A_drained_host_is_never_chosen()
    {
        var plan = Plan([Port("p1"), Port("p2")], [Host("drained", capacity: 50, status: HostStatus.Drained), Host("up", capacity: 1)]);

        Assert.Equal("up", plan.HostOf("p1"));
        Assert.Equal(UnplacedCause.NoCapacity, plan.UnplacedOf("p2").Cause);
        Assert.DoesNotContain(plan.Placements, p => p.Host.Value == "drained");
    }

    [Fact]
    public void The_host_a_port_leaves_is_never_chosen_even_when_it_is_Up()
    {
        // A port escalated from a host whose NICs for it all failed: the host is Up, with room, and sorts first.
        var plan = Plan([Port("p1", from: "a")], [Host("a", capacity: 100), Host("b", capacity: 2)]);

        Assert.Equal("b", plan.HostOf("p1"));
    }

    [Fact]
    public void A_port_whose_only_Up_host_is_the_one_it_leaves_is_unplaced_with_no_Up_host()
    {
        var plan = Plan([Port("p1", from: "a")], [Host("a"), Host("b", status: HostStatus.Down)]);

        var unplaced = plan.UnplacedOf("p1");
        Assert.Equal(UnplacedCause.NoUpHost, unplaced.Cause);
        Assert.Equal("no Up host other than a, which it leaves", unplaced.Reason);
    }

    [Fact]
    public void When_every_host_is_down_every_port_is_unplaced_with_no_Up_host()
    {
        var hosts = new[]
        {
            Host("a", status: HostStatus.Down), Host("b", status: HostStatus.Unreachable), Host("c", status: HostStatus.Drained),
        };

        var plan = Plan([Port("p1", priority: 2, from: "a"), Port("p2", group: "db"), Port("p3")], hosts);

        Assert.Empty(plan.Placements);
        Assert.Equal(["p1", "p2", "p3"], plan.UnplacedPorts());
        Assert.All(plan.Unplaced, u => Assert.Equal(UnplacedCause.NoUpHost, u.Cause));
        Assert.All(plan.Unplaced, u => Assert.Equal("no Up host", u.Reason));
    }

    [Fact]
    public void With_no_hosts_at_all_every_port_is_unplaced_with_no_Up_host()
    {
        var plan = Plan([Port("p1")], []);

        Assert.Equal(UnplacedCause.NoUpHost, plan.UnplacedOf("p1").Cause);
    }

    [Fact]
    public void The_last_healthy_host_takes_the_highest_priority_ports_it_has_room_for()
    {
        var hosts = new[] { Host("a", status: HostStatus.Down), Host("b", status: HostStatus.Unreachable), Host("last", capacity: 3, load: 1) };
        var ports = new[] { Port("low", priority: 0, from: "a"), Port("high", priority: 9, from: "a"), Port("mid", priority: 5, from: "b") };

        var plan = Plan(ports, hosts);

        Assert.Equal(["high", "mid"], plan.PlacedPorts());
        Assert.All(plan.Placements, p => Assert.Equal("last", p.Host.Value));
        var unplaced = plan.UnplacedOf("low");
        Assert.Equal(UnplacedCause.NoCapacity, unplaced.Cause);
        Assert.Equal("no Up host with free capacity (1 Up host, all full)", unplaced.Reason);
    }

    // ---- Capacity ----

    [Fact]
    public void Free_capacity_is_capacity_minus_load_and_shrinks_as_the_plan_places_ports()
    {
        var plan = Plan([Port("p1"), Port("p2"), Port("p3")], [Host("a", capacity: 5, load: 3)]);

        Assert.Equal(["p1", "p2"], plan.PlacedPorts());
        Assert.Equal(UnplacedCause.NoCapacity, plan.UnplacedOf("p3").Cause);
    }

    [Fact]
    public void A_full_or_overloaded_host_is_never_chosen()
    {
        var plan = Plan([Port("p1")], [Host("full", capacity: 4, load: 4), Host("over", capacity: 4, load: 7)]);

        Assert.Equal(UnplacedCause.NoCapacity, plan.UnplacedOf("p1").Cause);
        Assert.Equal("no Up host with free capacity (2 Up hosts, all full)", plan.UnplacedOf("p1").Reason);
    }

    [Theory]
    [InlineData(-1, 0)]
    [InlineData(5, -1)]
    [InlineData(-3, -5)]
    public void A_negative_capacity_or_load_gives_no_free_capacity(int capacity, int load)
    {
        var plan = Plan([Port("p1")], [Host("odd", capacity: capacity, load: load)]);

        Assert.Equal(UnplacedCause.NoCapacity, plan.UnplacedOf("p1").Cause);
    }

    [Fact]
    public void A_plan_never_fills_a_host_beyond_its_capacity()
    {
        var ports = Enumerable.Range(0, 10).Select(i => Port($"p{i}")).ToArray();

        var plan = Plan(ports, [Host("a", capacity: 3, load: 1), Host("b", capacity: 2)]);

        Assert.Equal(2, plan.Placements.Count(p => p.Host.Value == "a"));
        Assert.Equal(2, plan.Placements.Count(p => p.Host.Value == "b"));
        Assert.Equal(6, plan.Unplaced.Count);
    }

    // ---- Priority ----

    [Fact]
    public void When_capacity_runs_out_mid_plan_the_lowest_priority_ports_are_unplaced()
    {
        var ports = new[] { Port("c", priority: 1), Port("a", priority: 3), Port("d", priority: 0), Port("b", priority: 2) };

        var plan = Plan(ports, [Host("h1", capacity: 1), Host("h2", capacity: 1)]);

        Assert.Equal(["a", "b"], plan.PlacedPorts());
        Assert.Equal(["c", "d"], plan.UnplacedPorts());
    }

    [Fact]
    public void A_lower_tier_never_takes_the_last_slot_a_higher_tier_needed()
    {
        // The low-priority port comes first in the input and would fit; the slot still goes to the higher tier.
        var plan = Plan([Port("bulk", priority: 0), Port("critical", priority: 10)], [Host("h", capacity: 1)]);

        Assert.Equal("h", plan.HostOf("critical"));
        Assert.Equal(UnplacedCause.NoCapacity, plan.UnplacedOf("bulk").Cause);
    }

    [Fact]
    public void Ports_of_equal_priority_are_placed_in_port_id_order_whatever_the_input_order()
    {
        var plan = Plan([Port("p3"), Port("p1"), Port("p2")], [Host("h", capacity: 2)]);

        Assert.Equal(["p1", "p2"], plan.PlacedPorts());
        Assert.Equal(["p3"], plan.UnplacedPorts());
    }

    [Fact]
    public void Negative_priorities_are_placed_after_zero()
    {
        var plan = Plan([Port("background", priority: -5), Port("normal")], [Host("h", capacity: 1)]);

        Assert.Equal("h", plan.HostOf("normal"));
        Assert.Equal(["background"], plan.UnplacedPorts());
    }

    // ---- Reserved hosts ----

    [Fact]
    public void Reserved_hosts_are_used_first_under_PreferReserved_even_with_less_room()
    {
        var plan = Plan([Port("p1")], [Host("ordinary", capacity: 50), Host("spare", capacity: 2, reserved: true)]);

        Assert.Equal("spare", plan.HostOf("p1"));
        Assert.Equal("reserved host with the most free capacity: 2 of 2 slots free", plan.Placements[0].Reason);
    }

    [Fact]
    public void Other_hosts_are_used_once_the_reserved_hosts_are_full_under_PreferReserved()
    {
        var plan = Plan([Port("p1", priority: 1), Port("p2")], [Host("ordinary", capacity: 50), Host("spare", capacity: 1, reserved: true)]);

        Assert.Equal("spare", plan.HostOf("p1"));
        Assert.Equal("ordinary", plan.HostOf("p2"));
        Assert.StartsWith("no reserved host could take it", plan.Placements[1].Reason);
    }

    [Fact]
    public void Only_reserved_hosts_are_used_under_ReservedOnly()
    {
        var plan = Plan([Port("p1", priority: 1), Port("p2")], [Host("ordinary", capacity: 50), Host("spare", capacity: 1, reserved: true)],
            ReservedHostPolicy.ReservedOnly);

        Assert.Equal("spare", plan.HostOf("p1"));
        var unplaced = plan.UnplacedOf("p2");
        Assert.Equal(UnplacedCause.NoCapacity, unplaced.Cause);
        Assert.Equal("no reserved Up host with free capacity (1 reserved Up host, all full)", unplaced.Reason);
    }

    [Fact]
    public void Reserved_only_with_no_reserved_Up_host_leaves_every_port_unplaced_with_that_reason()
    {
        var hosts = new[] { Host("ordinary", capacity: 50), Host("spare", reserved: true, status: HostStatus.Drained) };

        var plan = Plan([Port("p1"), Port("p2")], hosts, ReservedHostPolicy.ReservedOnly);

        Assert.Empty(plan.Placements);
        Assert.All(plan.Unplaced, u => Assert.Equal(UnplacedCause.NoReservedHost, u.Cause));
        Assert.All(plan.Unplaced, u => Assert.Equal("reserved-only policy and no reserved Up host", u.Reason));
    }

    [Fact]
    public void Reserved_only_when_the_only_reserved_host_is_the_one_the_port_leaves_reports_no_reserved_host()
    {
        var plan = Plan([Port("p1", from: "spare")], [Host("ordinary"), Host("spare", reserved: true)], ReservedHostPolicy.ReservedOnly);

        var unplaced = plan.UnplacedOf("p1");
        Assert.Equal(UnplacedCause.NoReservedHost, unplaced.Cause);
        Assert.Equal("reserved-only policy and no reserved Up host other than spare, which it leaves", unplaced.Reason);
    }

    [Fact]
    public void Reserved_hosts_are_like_any_other_under_Ignore()
    {
        var plan = Plan([Port("p1")], [Host("ordinary", capacity: 5), Host("spare", capacity: 2, reserved: true)], ReservedHostPolicy.Ignore);

        Assert.Equal("ordinary", plan.HostOf("p1"));
        Assert.Equal("Up host with the most free capacity: 5 of 5 slots free", plan.Placements[0].Reason);
    }

    // ---- Spreading load ----

    [Fact]
    public void The_host_with_the_most_free_capacity_is_chosen()
    {
        var plan = Plan([Port("p1")], [Host("a", capacity: 10, load: 8), Host("b", capacity: 6, load: 1), Host("c", capacity: 4)]);

        Assert.Equal("b", plan.HostOf("p1"));
    }

    [Fact]
    public void Equal_free_capacity_is_broken_by_host_id()
    {
        var plan = Plan([Port("p1")], [Host("h2", capacity: 3), Host("h10", capacity: 3), Host("h1", capacity: 3)]);

        Assert.Equal("h1", plan.HostOf("p1")); // ordinal: "h1" < "h10" < "h2"
    }

    [Fact]
    public void Ports_spread_over_hosts_rather_than_filling_one()
    {
        var plan = Plan([Port("p1"), Port("p2"), Port("p3"), Port("p4")], [Host("a", capacity: 10), Host("b", capacity: 10)]);

        Assert.Equal(["a", "b", "a", "b"], plan.Placements.Select(p => p.Host.Value));
    }

    // ---- Anti-affinity ----

    [Fact]
    public void Anti_affinity_counts_ports_already_on_a_host()
    {
        var hosts = new[] { Host("roomy", capacity: 10, here: Existing("db-0", "db")), Host("tight", capacity: 1) };

        var plan = Plan([Port("db-1", group: "db")], hosts);

        Assert.Equal("tight", plan.HostOf("db-1"));
        Assert.EndsWith("passed over 1 host with anti-affinity group 'db'", plan.Placements[0].Reason);
    }

    [Fact]
    public void Anti_affinity_counts_ports_placed_earlier_in_the_plan()
    {
        var plan = Plan([Port("db-1", group: "db"), Port("db-2", group: "db")], [Host("roomy", capacity: 10), Host("tight", capacity: 1)]);

        Assert.Equal("roomy", plan.HostOf("db-1"));
        Assert.Equal("tight", plan.HostOf("db-2"));
    }

    [Fact]
    public void Anti_affinity_across_existing_and_newly_placed_ports_leaves_the_surplus_unplaced_naming_the_group()
    {
        var hosts = new[] { Host("a", here: Existing("db-0", "db")), Host("b"), Host("c") };
        var ports = new[] { Port("db-1", priority: 2, group: "db"), Port("db-2", priority: 1, group: "db"), Port("db-3", group: "db"), Port("web", group: "web") };

        var plan = Plan(ports, hosts);

        Assert.Equal("b", plan.HostOf("db-1"));
        Assert.Equal("c", plan.HostOf("db-2"));
        var unplaced = plan.UnplacedOf("db-3");
        Assert.Equal(UnplacedCause.AntiAffinity, unplaced.Cause);
        Assert.Equal("anti-affinity group 'db' on every Up host with free capacity (3 Up hosts)", unplaced.Reason);
        Assert.NotNull(plan.HostOf("web"));
    }

    [Fact]
    public void Anti_affinity_is_reported_when_the_hosts_without_the_group_are_full()
    {
        var hosts = new[] { Host("a", capacity: 5, here: Existing("db-0", "db")), Host("full", capacity: 1, load: 1) };

        var plan = Plan([Port("db-1", group: "db")], hosts);

        Assert.Equal(UnplacedCause.AntiAffinity, plan.UnplacedOf("db-1").Cause);
    }

    [Fact]
    public void The_host_a_port_leaves_is_no_escape_from_its_anti_affinity_group()
    {
        // "a" is open and free of the group, but the port leaves it: every other host carries "db".
        var hosts = new[] { Host("a"), Host("b", here: Existing("db-0", "db")), Host("c", here: Existing("db-9", "db")) };

        var plan = Plan([Port("db-1", group: "db", from: "a")], hosts);

        Assert.Equal(UnplacedCause.AntiAffinity, plan.UnplacedOf("db-1").Cause);
        Assert.Equal("anti-affinity group 'db' on every Up host with free capacity (2 Up hosts)", plan.UnplacedOf("db-1").Reason);
    }

    [Fact]
    public void A_port_leaving_a_host_still_counts_for_its_group_there_until_the_host_reports_it_gone()
    {
        // db-1 escalated from "a" (its NICs there failed) and is still attached: db-2 must not join it on "a".
        var hosts = new[] { Host("a", here: Existing("db-1", "db")), Host("b", status: HostStatus.Down), Host("c", capacity: 1) };

        var plan = Plan([Port("db-1", priority: 1, group: "db", from: "a"), Port("db-2", group: "db", from: "b")], hosts);

        Assert.Equal("c", plan.HostOf("db-1"));
        Assert.Equal(UnplacedCause.AntiAffinity, plan.UnplacedOf("db-2").Cause);
    }

    [Fact]
    public void Ports_without_a_group_or_of_different_groups_share_a_host()
    {
        var plan = Plan([Port("p1"), Port("p2"), Port("db", group: "db"), Port("web", group: "web")], [Host("only", capacity: 4, here: Existing("x", "cache"))]);

        Assert.Empty(plan.Unplaced);
        Assert.All(plan.Placements, p => Assert.Equal("only", p.Host.Value));
    }

    [Fact]
    public void Group_names_are_compared_exactly()
    {
        var plan = Plan([Port("p1", group: "DB")], [Host("only", here: Existing("x", "db"))]);

        Assert.Equal("only", plan.HostOf("p1"));
    }

    [Fact]
    public void An_empty_group_name_is_no_group()
    {
        var plan = Plan([Port("p1", group: ""), Port("p2", group: "")], [Host("only", capacity: 2, here: Existing("x", ""))]);

        Assert.Empty(plan.Unplaced);
    }

    // ---- Input validation ----

    [Fact]
    public void Duplicate_port_ids_are_rejected()
    {
        var error = Assert.Throws<ArgumentException>(() => Plan([Port("p1"), Port("p2"), Port("p1", priority: 3)], [Host("a")]));

        Assert.Contains("'p1'", error.Message);
    }

    [Fact]
    public void Duplicate_host_ids_are_rejected()
    {
        var error = Assert.Throws<ArgumentException>(() => Plan([Port("p1")], [Host("a"), Host("a", status: HostStatus.Down)]));

        Assert.Contains("'a'", error.Message);
    }

    [Fact]
    public void Null_arguments_are_rejected()
    {
        Assert.Throws<ArgumentNullException>(() => FailoverPlanner.Plan(null!, [], PlannerPolicy.Default));
        Assert.Throws<ArgumentNullException>(() => FailoverPlanner.Plan([], null!, PlannerPolicy.Default));
        Assert.Throws<ArgumentNullException>(() => FailoverPlanner.Plan([], [], null!));
        Assert.Throws<ArgumentException>(() => FailoverPlanner.Plan([null!], [], PlannerPolicy.Default));
        Assert.Throws<ArgumentException>(() => FailoverPlanner.Plan([], [null!], PlannerPolicy.Default));
    }

    [Fact]
    public void No_ports_give_an_empty_plan()
    {
        var plan = Plan([], [Host("a")]);

        Assert.Empty(plan.Placements);
        Assert.Empty(plan.Unplaced);
    }

    // ---- Determinism ----

    [Fact]
    public void The_same_input_in_any_order_gives_the_same_plan()
    {
        var hosts = new[]
        {
            Host("a", capacity: 3, reserved: true), Host("b", capacity: 4, load: 1, here: Existing("x", "db")),
            Host("c", capacity: 4, load: 1), Host("d", status: HostStatus.Down), Host("e", capacity: 2),
        };
        var ports = new[]
        {
            Port("p1", 1, "db", "d"), Port("p2", 1, "db", "d"), Port("p3", 0, null, "d"), Port("p4", 2, "web", "c"),
            Port("p5", 0, "db"), Port("p6", 2, null, "a"), Port("p7", 1), Port("p8", 0, "web"),
        };
        var expected = Plan(ports, hosts);

        var random = new Random(7);
        for (var i = 0; i < 20; i++)
        {
            var plan = Plan(ports.OrderBy(_ => random.Next()).ToArray(), hosts.OrderBy(_ => random.Next()).ToArray());

            Assert.Equal(expected.Placements, plan.Placements);
            Assert.Equal(expected.Unplaced, plan.Unplaced);
        }
    }
}
