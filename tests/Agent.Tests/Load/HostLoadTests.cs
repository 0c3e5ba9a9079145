using Replug.Agent.Load;
using Replug.Shared.Devices;

namespace Replug.Agent.Tests.Load;

public sealed class HostLoadTests
{
    private const double TenGbps = 10e9;
    private static readonly DeviceId Eth1 = DeviceId.Net("eth1"), Eth2 = DeviceId.Net("eth2");

    private static HostLoad Load(params DeviceId[] nics) => Load(TimeSpan.FromSeconds(10), nics);

    private static HostLoad Load(TimeSpan halfLife, params DeviceId[] nics)
    {
        var load = new HostLoad(halfLife, new LoadReportGate(0.05, TimeSpan.FromSeconds(30)));
        load.Track(nics);
        return load;
    }

    private static NicCounters At(double seconds, double rxGbit) =>
        new((ulong)(rxGbit * 1e9 / 8), 0, TimeSpan.FromSeconds(seconds));

    [Fact]
    public void No_report_is_due_before_a_NIC_has_a_rate()
    {
        var load = Load(Eth1);
        load.Add(Eth1, At(0, 0), TenGbps);
        Assert.Null(load.Due(TimeSpan.Zero));
    }

    [Fact]
    public void One_report_carries_every_measured_NIC_when_one_of_them_moved()
    {
        var load = Load(TimeSpan.FromSeconds(1), Eth1, Eth2);
        load.Add(Eth1, At(0, 0), TenGbps); load.Add(Eth2, At(0, 0), TenGbps);
        load.Add(Eth1, At(1, 1), TenGbps); load.Add(Eth2, At(1, 0), TenGbps);
        Assert.Equal([Eth1, Eth2], load.Due(TimeSpan.FromSeconds(1))!.Select(n => n.Device));

        // eth2 alone goes to 4 Gb/s, half-way after one half-life: 20 points. Both are reported
        // again, eth1 with its unchanged figure.
        load.Add(Eth1, At(2, 2), TenGbps); load.Add(Eth2, At(2, 4), TenGbps);
        var report = load.Due(TimeSpan.FromSeconds(2));
        Assert.NotNull(report);
        Assert.Equal(0.1, report.Single(n => n.Device == Eth1).Utilization, 3);
        Assert.Equal(0.2, report.Single(n => n.Device == Eth2).Utilization, 3);
    }

    [Fact]
    public void A_small_change_waits_for_the_heartbeat()
    {
        var load = Load(Eth1);
        load.Add(Eth1, At(0, 0), TenGbps);
        load.Add(Eth1, At(1, 3), TenGbps); // 3 Gb/s: 30 %
        Assert.NotNull(load.Due(TimeSpan.FromSeconds(1)));

        load.Add(Eth1, At(2, 6.2), TenGbps); // 3.2 Gb/s: two points more after smoothing at most
        Assert.Null(load.Due(TimeSpan.FromSeconds(2)));
        Assert.NotNull(load.Due(TimeSpan.FromSeconds(31)));
    }

    [Fact]
    public void A_new_link_speed_restarts_the_NICs_figure()
    {
        var load = Load(Eth1);
        load.Add(Eth1, At(0, 0), TenGbps);
        load.Add(Eth1, At(1, 5), TenGbps);
        Assert.Equal(0.5, load.Due(TimeSpan.FromSeconds(1))!.Single().Utilization, 3);

        load.Add(Eth1, At(2, 10), 2 * TenGbps); // renegotiated: no rate yet at the new speed
        Assert.Null(load.Due(TimeSpan.FromSeconds(2)));
        load.Add(Eth1, At(3, 15), 2 * TenGbps);
        var report = load.Due(TimeSpan.FromSeconds(3))!.Single();
        Assert.Equal(20e9, report.CapacityBps);
        Assert.Equal(0.25, report.Utilization, 3);
    }

    [Fact]
    public void A_NIC_no_longer_tracked_leaves_the_report_and_forgetting_reports_the_rest_again()
    {
        var load = Load(Eth1, Eth2);
        foreach (var nic in new[] { Eth1, Eth2 }) { load.Add(nic, At(0, 0), TenGbps); load.Add(nic, At(1, 1), TenGbps); }
        Assert.Equal(2, load.Due(TimeSpan.FromSeconds(1))!.Count);

        load.Track([Eth1]);
        Assert.Null(load.Due(TimeSpan.FromSeconds(2)));
        load.Forget();
        Assert.Equal([Eth1], load.Due(TimeSpan.FromSeconds(2))!.Select(n => n.Device));
    }
}
