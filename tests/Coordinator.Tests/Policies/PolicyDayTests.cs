using Replug.Coordinator.Policies;

namespace Replug.Coordinator.Tests.Policies;

/// <summary>The policies in auto over a simulated day of a small cluster with NIC faults (the benchmark's day, smaller).</summary>
public sealed class PolicyDayTests
{
    private static readonly DayOptions SmallDay = new(Seed: 3, Hosts: 10, NicFaults: 12);
    private static readonly Reserve Reserve = new(SpareNicsPerPort: 1, SpareHosts: 1);

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    public void Replugs_policies_save_NIC_hours_without_an_outage_or_flapping(int level)
    {
        var baseline = PolicyDaySimulation.Run(SmallDay, new NoPolicy(), Reserve);
        var day = PolicyDaySimulation.Run(SmallDay, new ReplugPolicies(level, Reserve), Reserve);

        Assert.True(day.NicHoursUnplugged > 0.2 * day.NicHours, $"only {day.NicHoursUnplugged:0} of {day.NicHours:0} NIC-hours unplugged");
        Assert.Equal(0, day.PortMinutesDown);
        Assert.Equal(day.Faults, day.FaultsHandled);
        // Every NIC is unplugged a few times a day at most: the low period is the hysteresis.
        Assert.True(day.Unplugs <= 3 * SmallDay.Hosts * SmallDay.NicsPerHost, $"{day.Unplugs} unplugs: flapping");
        // Fewer NICs carry the traffic, yet capacity comes back with demand: little more time above 80 % than with every NIC plugged.
        Assert.True(day.NicMinutesAbove80 <= 1.5 * baseline.NicMinutesAbove80,
            $"{day.NicMinutesAbove80:0} NIC-minutes above 80 % against {baseline.NicMinutesAbove80:0} with no policy");
    }

    [Fact]
    public void The_naive_rule_spends_the_reserve_and_flaps_where_Replug_does_not()
    {
        var naive = PolicyDaySimulation.Run(SmallDay, new NaiveThreshold(), Reserve);
        var replug = PolicyDaySimulation.Run(SmallDay, new ReplugPolicies(3, Reserve), Reserve);

        Assert.True(naive.PortMinutesWithoutReserve > 100 * Math.Max(1, replug.PortMinutesWithoutReserve));
        Assert.True(naive.Plugs > 10 * Math.Max(1, replug.Plugs));
    }
}
