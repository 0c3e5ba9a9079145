using Replug.Coordinator.Policies;
using Replug.Shared.Devices;
using static Replug.Coordinator.Tests.Policies.PolicyFixtures;

namespace Replug.Coordinator.Tests.Policies;

public sealed class PowerSaverTests
{
    private static readonly PowerSavingSettings Auto = new(PolicyMode.Auto, Level: 3);
    private static readonly HostId H1 = new("h1");

    /// <summary>Runs the policy every 30 s from <paramref name="from"/> for <paramref name="length"/> on an unchanging load, carrying out what it decides.</summary>
    private static (PolicySnapshot Snapshot, List<(DateTimeOffset At, PolicyDecision Decision)> Decisions) Run(PolicySnapshot snapshot,
        PowerSavingSettings settings, TimeSpan length, PowerSavingMemory? memory = null)
    {
        var state = memory ?? PowerSavingMemory.Empty;
        var all = new List<(DateTimeOffset, PolicyDecision)>();
        for (var now = T0; now <= T0 + length; now += TimeSpan.FromSeconds(30))
        {
            var (decisions, next) = PowerSaver.Decide(snapshot, state, settings, now);
            state = next;
            all.AddRange(decisions.Select(d => (now, d)));
            snapshot = ApplyAll(snapshot, decisions, now);
        }
        return (snapshot, all);
    }

    [Fact]
    public void A_quiet_host_consolidates_its_ports_and_unplugs_the_freed_NIC_only_after_the_low_period()
    {
        // Four NICs, two ports at 1 Gb/s each on n0 and n1, each with two spares.
        var snapshot = Snapshot([Host("h1")], [Port("p1", "h1", 0, 1, 1, 2), Port("p2", "h1", 1, 1, 0, 3)]);

        var early = Run(snapshot, Auto, Auto.RetireAfter - TimeSpan.FromMinutes(1));
        Assert.Empty(early.Decisions);

        var (after, decisions) = Run(snapshot, Auto, Auto.RetireAfter + TimeSpan.FromMinutes(1));
        var unplugged = decisions.Select(d => d.Decision.Action).OfType<PolicyAction.UnplugNic>().ToList();
        Assert.NotEmpty(unplugged);
        Assert.All(decisions, d => Assert.True(d.At - T0 >= Auto.RetireAfter));
        Assert.All(after.Ports, p => Assert.True(new Reserve().Holds(after, p), $"{p.Port.Value} lost its reserve"));
        Assert.Contains(after.Host(H1)!.Nics, n => n.Usable);
        Assert.All(after.Ports, p => Assert.True(after.Host(H1)!.Nic(p.Active!.Value)!.Usable));
    }

    [Fact]
    public void The_reserve_is_never_spent_a_port_with_one_spare_keeps_it()
    {
        var snapshot = Snapshot([Host("h1", nics: 2)], [Port("p1", "h1", 0, 0.5, 1)]);

        var (after, decisions) = Run(snapshot, Auto with { Level = 5 }, TimeSpan.FromHours(3));

        Assert.DoesNotContain(decisions, d => d.Decision.Action is PolicyAction.UnplugNic);
        Assert.All(after.Host(H1)!.Nics, n => Assert.True(n.Plugged));
    }

    [Fact]
    public void A_fault_wins_an_unplugged_member_comes_back_at_once_when_the_active_device_fails()
    {
        var snapshot = Snapshot([Host("h1", nics: 3, unplugged: [2])], [Port("p1", "h1", 0, 1, 1, 2)]);
        snapshot = snapshot with
        {
            Hosts = [snapshot.Hosts[0] with { Nics = [.. snapshot.Hosts[0].Nics.Select(n => n.Device == Nic("h1-n1") ? n with { Healthy = false } : n)] }],
        };

        var (decisions, _) = PowerSaver.Decide(snapshot, PowerSavingMemory.Empty, Auto, T0);

        var plug = Assert.IsType<PolicyAction.PlugNic>(Assert.Single(decisions).Action);
        Assert.Equal(Nic("h1-n2"), plug.Nic);
        Assert.StartsWith("fault:", decisions[0].Reason);
    }

    [Fact]
    public void A_NIC_plugged_back_for_demand_is_not_retired_again_within_the_low_period()
    {
        var hot = Snapshot([Host("h1", nics: 3, unplugged: [2])], [Port("p1", "h1", 0, 9, 1, 2), Port("p2", "h1", 1, 9, 0, 2)]);
        var (plugged, decisions) = Run(hot, Auto, Auto.ReplugAfter + TimeSpan.FromMinutes(1));
        var plug = decisions.Select(d => d.Decision.Action).OfType<PolicyAction.PlugNic>().Single();
        Assert.True(decisions.Single().At - T0 >= Auto.ReplugAfter);
        Assert.Equal(Nic("h1-n2"), plug.Nic);

        // Demand falls at once: n2 (idle) stays plugged for at least the low period after it came back.
        var quiet = Snapshot(plugged.Hosts, plugged.Ports.Select(p => p with { Bps = 0.2 * Gbps }));
        var memory = PowerSaver.Decide(plugged, PowerSavingMemory.Empty, Auto, T0).Memory with
        {
            PluggedAt = System.Collections.Immutable.ImmutableDictionary<(HostId, DeviceId), DateTimeOffset>.Empty.Add((H1, Nic("h1-n2")), T0),
        };
        var (_, later) = Run(quiet, Auto, Auto.RetireAfter - TimeSpan.FromMinutes(1), memory);
        Assert.DoesNotContain(later, d => d.Decision.Action is PolicyAction.UnplugNic { Nic: var n } && n == Nic("h1-n2"));
    }

    [Fact]
    public void High_demand_plugs_a_NIC_back_after_the_high_period_not_before()
    {
        var hot = Snapshot([Host("h1", nics: 3, unplugged: [2])], [Port("p1", "h1", 0, 9, 1, 2), Port("p2", "h1", 1, 9, 0, 2)]);

        Assert.Empty(Run(hot, Auto, Auto.ReplugAfter - TimeSpan.FromSeconds(31)).Decisions);
        Assert.Single(Run(hot, Auto, Auto.ReplugAfter).Decisions);
    }

    [Fact]
    public void An_empty_host_is_recommended_to_standby_only_while_enough_hosts_keep_room_and_is_woken_when_they_do_not()
    {
        var snapshot = Snapshot([Host("busy"), Host("empty1"), Host("empty2")], [Port("p", "busy", 0, 1, 1, 2)]);
        var settings = Auto with { Reserve = new Reserve(SpareHosts: 2) };

        var (after, decisions) = Run(snapshot, settings, settings.RetireAfter + TimeSpan.FromMinutes(1));
        Assert.Single(decisions, d => d.Decision.Action is PolicyAction.StandbyHost);
        Assert.Equal(2, Reserve.HostsWithRoom(after));

        // One of the two hosts with room goes down: the sleeping one is woken at once.
        var lost = after with { Hosts = [.. after.Hosts.Select(h => h.Host == new HostId("busy") ? h with { Up = false } : h)] };
        var (wake, _) = PowerSaver.Decide(lost, PowerSavingMemory.Empty, settings, T0);
        Assert.IsType<PolicyAction.WakeHost>(Assert.Single(wake).Action);
    }

    [Fact]
    public void Advise_decides_the_same_as_auto_and_off_decides_nothing()
    {
        var snapshot = Snapshot([Host("h1")], [Port("p1", "h1", 0, 1, 1, 2), Port("p2", "h1", 1, 1, 0, 3)]);

        var auto = Run(snapshot, Auto, Auto.RetireAfter).Decisions.Select(d => d.Decision.Action);
        var advise = Run(snapshot, Auto with { Mode = PolicyMode.Advise }, Auto.RetireAfter).Decisions.Select(d => d.Decision.Action);

        Assert.Equal(auto, advise);
        Assert.Empty(Run(snapshot, Auto with { Mode = PolicyMode.Off }, Auto.RetireAfter).Decisions);
    }
}
