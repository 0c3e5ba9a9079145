using Replug.Agent.Load;

namespace Replug.Agent.Tests.Load;

public sealed class NicLoadTests
{
    private const double TenGbps = 10e9;
    private static readonly TimeSpan Second = TimeSpan.FromSeconds(1);

    private static NicCounters At(double seconds, double rxGbit, double txGbit) =>
        new((ulong)(rxGbit * 1e9 / 8), (ulong)(txGbit * 1e9 / 8), TimeSpan.FromSeconds(seconds));

    [Fact]
    public void The_rate_is_the_busier_direction_against_the_capacity()
    {
        var nic = new NicLoadEstimate(TenGbps, TimeSpan.FromSeconds(30));
        nic.Add(At(0, 0, 0));
        Assert.False(nic.HasRate);

        nic.Add(At(1, 4, 1)); // 4 Gb/s in, 1 Gb/s out

        Assert.True(nic.HasRate);
        Assert.Equal(4e9, nic.RxBps, 3);
        Assert.Equal(0.4, nic.Utilization, 6);
    }

    [Fact]
    public void A_step_in_traffic_reaches_half_way_after_one_half_life_however_often_it_is_sampled()
    {
        foreach (var step in new[] { 1.0, 5.0, 15.0 })
        {
            var nic = new NicLoadEstimate(TenGbps, TimeSpan.FromSeconds(30));
            nic.Add(At(0, 0, 0));
            nic.Add(At(step, 0, 0)); // idle: rate 0
            double rx = 0;
            for (var t = step; t < step + 30 - 1e-9; t += step)
            {
                rx += 8 * step; // 8 Gb/s from here on
                nic.Add(At(t + step, rx, 0));
            }
            Assert.InRange(nic.RxBps, 3.9e9, 4.1e9);
        }
    }

    [Fact]
    public void A_counter_that_goes_back_restarts_the_rate_instead_of_reading_a_wild_one()
    {
        var nic = new NicLoadEstimate(TenGbps, TimeSpan.FromSeconds(30));
        nic.Add(At(0, 100, 100));
        nic.Add(At(1, 102, 101));
        var before = nic.RxBps;

        nic.Add(At(2, 0, 0)); // the device was re-created
        Assert.Equal(before, nic.RxBps);
        nic.Add(At(3, 1, 0));

        Assert.InRange(nic.RxBps, 0, 2e9);
    }

    [Fact]
    public void A_report_goes_when_the_load_moved_past_the_threshold_or_at_the_heartbeat_not_every_sample()
    {
        var gate = new LoadReportGate(0.05, TimeSpan.FromMinutes(1));

        Assert.True(gate.ShouldReport(null, TimeSpan.Zero, 0.3, Second));
        Assert.False(gate.ShouldReport(0.30, TimeSpan.Zero, 0.34, TimeSpan.FromSeconds(30)));
        Assert.True(gate.ShouldReport(0.30, TimeSpan.Zero, 0.36, TimeSpan.FromSeconds(30)));
        Assert.True(gate.ShouldReport(0.30, TimeSpan.Zero, 0.24, TimeSpan.FromSeconds(30)));
        Assert.True(gate.ShouldReport(0.30, TimeSpan.Zero, 0.30, TimeSpan.FromMinutes(1)));
    }

    [Theory]
    [InlineData("10000\n", 10e9)]
    [InlineData("25000", 25e9)]
    [InlineData("-1\n", 1e9)]
    [InlineData("", 1e9)]
    [InlineData(null, 1e9)]
    [InlineData("garbage", 1e9)]
    public void A_NIC_without_a_speed_from_the_kernel_uses_the_configured_capacity(string? speed, double expected) =>
        Assert.Equal(expected, LinkSpeed.CapacityBps(speed, configuredBps: 1e9));

    [Fact]
    public void A_capacity_must_be_positive() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new NicLoadEstimate(0, TimeSpan.FromSeconds(30)));
}
