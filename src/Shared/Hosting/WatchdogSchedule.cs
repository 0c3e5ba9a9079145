using System.Globalization;

namespace Replug.Shared.Hosting;

/// <summary>
/// The watchdog systemd asks of this process (<c>WatchdogSec=</c> in the unit), read from the
/// environment it sets: <c>WATCHDOG_USEC</c> is the timeout, and <c>WATCHDOG_PID</c>, when set, the
/// process it is meant for (a child that inherited the variables must not answer for its parent).
/// The rules are sd_watchdog_enabled(3)'s.
/// </summary>
public sealed record WatchdogSchedule(TimeSpan Timeout)
{
    public const string TimeoutVariable = "WATCHDOG_USEC";
    public const string ProcessIdVariable = "WATCHDOG_PID";

    /// <summary>How often a healthy process sends <c>WATCHDOG=1</c>: half the timeout, as sd_watchdog_enabled(3) advises.</summary>
    public TimeSpan PingInterval => Timeout / 2;

    /// <summary>
    /// How long the health probe may take: a quarter of the timeout, so a probe that runs to its
    /// deadline still leaves the next ping at three quarters of the timeout, inside it.
    /// </summary>
    public TimeSpan ProbeDeadline => Timeout / 4;

    /// <summary>
    /// The schedule for process <paramref name="processId"/>, or null with <paramref name="off"/>
    /// saying why there is none (no watchdog asked for, meant for another process, or a value
    /// that is not a number of microseconds).
    /// </summary>
    public static WatchdogSchedule? Read(Func<string, string?> environment, int processId, out string off)
    {
        var usec = environment(TimeoutVariable);
        if (string.IsNullOrEmpty(usec))
        {
            off = $"{TimeoutVariable} is not set (no WatchdogSec= in the unit, or not run by systemd)";
            return null;
        }
        if (!ulong.TryParse(usec, NumberStyles.None, CultureInfo.InvariantCulture, out var microseconds) || microseconds == 0)
        {
            off = $"{TimeoutVariable}='{usec}' is not a positive number of microseconds";
            return null;
        }
        if (environment(ProcessIdVariable) is { Length: > 0 } pid)
        {
            if (!int.TryParse(pid, NumberStyles.None, CultureInfo.InvariantCulture, out var meantFor))
            {
                off = $"{ProcessIdVariable}='{pid}' is not a process id";
                return null;
            }
            if (meantFor != processId)
            {
                off = $"{ProcessIdVariable}={meantFor} names another process (this one is {processId}): inherited, not ours";
                return null;
            }
        }
        off = "";
        // TimeSpan counts 100 ns ticks: ten to a microsecond. A timeout beyond TimeSpan's range is no watchdog at all.
        return new WatchdogSchedule(microseconds >= (ulong)(TimeSpan.MaxValue.Ticks / TimeSpan.TicksPerMicrosecond)
            ? TimeSpan.MaxValue
            : TimeSpan.FromTicks((long)microseconds * TimeSpan.TicksPerMicrosecond));
    }
}
