using Akka.Actor;
using Akka.TestKit;
using Replug.Agent.Load;
using Replug.Agent.Tests.Support;
using Replug.Shared.Devices;

namespace Replug.Agent.Tests.Load;

/// <summary>The sampler over a fake sysfs tree whose counters the test advances, on a clock the test moves.</summary>
public sealed class NicLoadSamplerTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly DeviceId Eth1 = DeviceId.Net("eth1");
    private const ulong GigabitPerSecond = 125_000_000; // bytes in one second at 1 Gb/s

    private readonly FakeSysfs _sysfs = new();
    private readonly TestProbe _agent;
    private readonly IActorRef _sampler;
    private long _nowTicks;
    private ulong _rx;

    public NicLoadSamplerTests()
    {
        _sysfs.AddNet("eth1", 2).SetCounters("eth1", 0, 0); // a veth-like NIC: no speed, the configured 1 Gb/s
        _agent = CreateTestProbe();
        // A half-life far below the steps: each figure is (almost) the last step's rate. The timer
        // never fires within a test: every sample is the test's.
        var settings = new NicLoadSettings(TimeSpan.FromHours(1), TimeSpan.FromMilliseconds(500), 0.05, TimeSpan.FromSeconds(60), 1e9);
        _sampler = Sys.ActorOf(NicLoadSampler.Props(settings, new SysfsNicCounters(_sysfs.Root), _agent.Ref,
            () => TimeSpan.FromTicks(Interlocked.Read(ref _nowTicks))));
        _sampler.Tell(new NicLoadSampler.Track([Eth1]));
        Sample(); // the first reading: no rate yet
    }

    /// <summary>Ten seconds pass at <paramref name="gbps"/>; then the sampler reads. Returns the figures it holds.</summary>
    private NicLoadSampler.LoadSampled Pass(double gbps, double seconds = 10)
    {
        _rx += (ulong)(gbps * GigabitPerSecond * seconds);
        _sysfs.SetCounters("eth1", _rx, 0);
        Interlocked.Add(ref _nowTicks, TimeSpan.FromSeconds(seconds).Ticks);
        return Sample();
    }

    private NicLoadSampler.LoadSampled Sample() =>
        _sampler.Ask<NicLoadSampler.LoadSampled>(new NicLoadSampler.SampleNow(), TimeSpan.FromSeconds(5)).GetAwaiter().GetResult();

    /// <summary>Whether a report reached the agent by the time the sample was answered (the sampler tells it first).</summary>
    private NicLoadSampler.LoadReportDue? ReportSent() =>
        _agent.HasMessages ? _agent.ExpectMsg<NicLoadSampler.LoadReportDue>(TimeSpan.Zero) : null;

    [Fact]
    public void A_NIC_is_reported_once_it_has_a_rate_against_the_configured_capacity_when_the_kernel_gives_no_speed()
    {
        Assert.Null(ReportSent());
        Pass(gbps: 0.3);
        var nic = Assert.Single(ReportSent()!.Nics);
        Assert.Equal(Eth1, nic.Device);
        Assert.Equal(1e9, nic.CapacityBps);
        Assert.Equal(0.3, nic.Utilization, 2);
    }

    [Fact]
    public void A_change_past_the_threshold_is_reported_and_a_small_one_is_not()
    {
        Pass(gbps: 0.3);
        Assert.NotNull(ReportSent());

        var held = Pass(gbps: 0.33); // three points
        Assert.Equal(0.33, Assert.Single(held.Nics).Utilization, 2);
        Assert.Null(ReportSent());

        Pass(gbps: 0.5); // twenty points from what was reported
        Assert.Equal(0.5, Assert.Single(ReportSent()!.Nics).Utilization, 2);
    }

    [Fact]
    public void A_steady_NIC_is_reported_again_at_the_heartbeat()
    {
        Pass(gbps: 0.3);
        Assert.NotNull(ReportSent());
        for (var i = 0; i < 5; i++)
        {
            Pass(gbps: 0.3); // 10 s each: 50 s after the report
            Assert.Null(ReportSent());
        }
        Pass(gbps: 0.3); // 60 s: the heartbeat
        Assert.Equal(0.3, Assert.Single(ReportSent()!.Nics).Utilization, 2);
    }

    [Fact]
    public void The_kernels_speed_is_the_capacity_where_it_gives_one()
    {
        _sysfs.SetSpeed("eth1", "10000");
        Pass(gbps: 5);
        Assert.Null(ReportSent()); // a new capacity starts the figure over: one more sample for a rate
        Pass(gbps: 5);
        var nic = Assert.Single(ReportSent()!.Nics);
        Assert.Equal(10e9, nic.CapacityBps);
        Assert.Equal(0.5, nic.Utilization, 2);
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) _sysfs.Dispose();
    }
}
