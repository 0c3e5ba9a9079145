using Replug.Shared.Hosting;

namespace Replug.Shared.Tests.Hosting;

public class WatchdogScheduleTests
{
    private const int Self = 4242;

    private static WatchdogSchedule? Read(out string off, params (string Name, string Value)[] variables) =>
        WatchdogSchedule.Read(name => variables.FirstOrDefault(v => v.Name == name).Value, Self, out off);

    [Fact]
    public void WatchdogSec_10s_is_a_ping_every_5_s_and_a_probe_of_at_most_2_5_s()
    {
        var schedule = Read(out _, ("WATCHDOG_USEC", "10000000"));

        Assert.NotNull(schedule);
        Assert.Equal(TimeSpan.FromSeconds(10), schedule.Timeout);
        Assert.Equal(TimeSpan.FromSeconds(5), schedule.PingInterval);
        Assert.Equal(TimeSpan.FromSeconds(2.5), schedule.ProbeDeadline);
    }

    [Fact]
    public void A_watchdog_meant_for_this_process_is_kept()
    {
        Assert.NotNull(Read(out _, ("WATCHDOG_USEC", "10000000"), ("WATCHDOG_PID", $"{Self}")));
    }

    [Fact]
    public void A_watchdog_inherited_from_another_process_is_not_ours()
    {
        Assert.Null(Read(out var off, ("WATCHDOG_USEC", "10000000"), ("WATCHDOG_PID", "1")));
        Assert.Equal($"WATCHDOG_PID=1 names another process (this one is {Self}): inherited, not ours", off);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("10s")]
    [InlineData("99999999999999999999999")]
    public void A_timeout_that_is_not_a_positive_number_of_microseconds_is_no_watchdog(string usec)
    {
        Assert.Null(Read(out var off, ("WATCHDOG_USEC", usec)));
        Assert.Equal($"WATCHDOG_USEC='{usec}' is not a positive number of microseconds", off);
    }

    [Fact]
    public void Without_WATCHDOG_USEC_there_is_no_watchdog()
    {
        Assert.Null(Read(out var off, ("WATCHDOG_PID", $"{Self}")));
        Assert.StartsWith("WATCHDOG_USEC is not set", off);
    }
}
