using Replug.Coordinator.Policies;
using Replug.Shared.Devices;
using static Replug.Coordinator.Tests.Policies.PolicyFixtures;

namespace Replug.Coordinator.Tests.Policies;

public sealed class LoadBalancerTests
{
    private static readonly LoadBalancingSettings Auto = new(PolicyMode.Auto, Level: 3);

    [Fact]
    public void Ports_crowded_on_one_NIC_are_switched_to_their_idle_members_until_the_NICs_are_even()
    {
        var snapshot = Snapshot([Host("h1", nics: 2)],
            [Port("p1", "h1", 0, 3, 1), Port("p2", "h1", 0, 3, 1), Port("p3", "h1", 0, 2, 1)]);

        var decisions = LoadBalancer.Decide(snapshot, Auto, T0);

        Assert.NotEmpty(decisions);
        Assert.All(decisions, d => Assert.IsType<PolicyAction.SwitchActive>(d.Action));
        var after = ApplyAll(snapshot, decisions, T0).Host(new HostId("h1"))!;
        Assert.True(Math.Abs(after.Nics[0].Utilization - after.Nics[1].Utilization) < Auto.NicSpread,
            $"still uneven: {after.Nics[0].Utilization:P0} / {after.Nics[1].Utilization:P0}");
        Assert.All(decisions, d => Assert.Contains("uneven", d.Reason));
        Assert.All(decisions, d => Assert.True(d.Inputs.ContainsKey("spread")));
    }

    [Fact]
    public void A_switch_goes_only_to_a_usable_member_of_the_port()
    {
        // n1 is idle but unplugged, n2 idle but not a member of p1: nothing to do.
        var snapshot = Snapshot([Host("h1", nics: 3, unplugged: [1])], [Port("p1", "h1", 0, 8, 1)]);

        Assert.Empty(LoadBalancer.Decide(snapshot, Auto, T0));
    }

    [Fact]
    public void Idle_NICs_are_not_balanced_and_off_means_nothing()
    {
        var quiet = Snapshot([Host("h1", nics: 2)], [Port("p1", "h1", 0, 1, 1), Port("p2", "h1", 0, 1, 1)]);
        Assert.Empty(LoadBalancer.Decide(quiet, Auto, T0));

        var busy = Snapshot([Host("h1", nics: 2)], [Port("p1", "h1", 0, 4, 1), Port("p2", "h1", 0, 4, 1)]);
        Assert.NotEmpty(LoadBalancer.Decide(busy, Auto, T0));
        Assert.Empty(LoadBalancer.Decide(busy, Auto with { Mode = PolicyMode.Off }, T0));
    }

    [Fact]
    public void A_hot_host_gives_a_port_to_the_coolest_host_with_room()
    {
        var snapshot = Snapshot([Host("hot", nics: 2), Host("warm", nics: 2), Host("cool", nics: 2), Host("full", nics: 2, freeSlots: 0)],
            [Port("a", "hot", 0, 8, 1), Port("b", "hot", 1, 8, 0), Port("w", "warm", 0, 8, 1)]);

        var decisions = LoadBalancer.Decide(snapshot, Auto, T0);

        var move = Assert.IsType<PolicyAction.MovePort>(Assert.Single(decisions).Action);
        Assert.Equal(new HostId("hot"), move.From);
        Assert.Equal(new HostId("cool"), move.To);
    }

    [Fact]
    public void A_port_moved_within_its_cool_down_is_not_moved_again()
    {
        var ports = new[] { Port("a", "hot", 0, 8, 1) with { LastMovedAt = T0 }, Port("b", "hot", 1, 8, 0) with { LastMovedAt = T0 } };
        var snapshot = Snapshot([Host("hot", nics: 2), Host("cool", nics: 2)], ports);

        Assert.Empty(LoadBalancer.Decide(snapshot, Auto, T0 + TimeSpan.FromMinutes(5)));
        Assert.NotEmpty(LoadBalancer.Decide(snapshot, Auto, T0 + Auto.EffectiveCooldown));
    }

    [Fact]
    public void A_port_goes_only_to_a_host_where_it_keeps_its_reserve()
    {
        // "single" is idle but has one NIC: the port would have no spare there.
        var snapshot = Snapshot([Host("hot", nics: 2), Host("single", nics: 1)],
            [Port("a", "hot", 0, 6, 1), Port("b", "hot", 1, 6, 0), Port("c", "hot", 0, 6, 1)]);

        Assert.Empty(LoadBalancer.Decide(snapshot, Auto, T0));
        Assert.NotEmpty(LoadBalancer.Decide(snapshot, Auto with { Reserve = new Reserve(SpareNicsPerPort: 0) }, T0));
    }

    [Fact]
    public void A_move_never_makes_the_receiving_host_busier_than_the_band_allows()
    {
        var snapshot = Snapshot([Host("hot", nics: 2), Host("busy", nics: 2)],
            [Port("a", "hot", 0, 9.5, 1), Port("c", "hot", 1, 9.5, 0), Port("b", "busy", 0, 10, 1)]);

        Assert.Empty(LoadBalancer.Decide(snapshot, Auto with { Level = 5 }, T0));
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(3, 1)]
    [InlineData(5, 1)]
    public void Higher_levels_act_on_smaller_imbalances(int level, int expectedMoves)
    {
        // 16 Gb/s against 4 (two NICs each): 80 % against a 50 % mean; one move evens it as far as these ports allow.
        var snapshot = Snapshot([Host("a", nics: 2), Host("b", nics: 2)], [Port("x", "a", 0, 8, 1), Port("y", "a", 1, 8, 0), Port("z", "b", 0, 4, 1)]);

        var moves = LoadBalancer.Decide(snapshot, Auto with { Level = level }, T0).Count(d => d.Action is PolicyAction.MovePort);

        Assert.Equal(expectedMoves, moves);
    }
}
