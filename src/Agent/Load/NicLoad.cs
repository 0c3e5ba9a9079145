namespace Replug.Agent.Load;

/// <summary>A NIC's byte counters (<c>statistics/rx_bytes</c>, <c>tx_bytes</c>) read at one moment of a monotonic clock.</summary>
public readonly record struct NicCounters(ulong RxBytes, ulong TxBytes, TimeSpan At);

/// <summary>
/// One NIC's smoothed traffic from its byte counters: an exponentially weighted moving average of
/// each direction's rate, weighted by the time between samples (a late sample weighs more, a quick
/// one less), so the figure does not depend on how regularly it is sampled. Utilization is the
/// busier direction against the capacity: each direction of a full-duplex link has all of it.
/// </summary>
public sealed class NicLoadEstimate(double capacityBps, TimeSpan halfLife)
{
    private readonly double _tauSeconds = halfLife.TotalSeconds / Math.Log(2);
    private NicCounters? _last;

    public double CapacityBps { get; } = capacityBps > 0 ? capacityBps : throw new ArgumentOutOfRangeException(nameof(capacityBps), "must be positive");
    public double RxBps { get; private set; }
    public double TxBps { get; private set; }
    public double Utilization => Math.Max(RxBps, TxBps) / CapacityBps;
    /// <summary>Whether two samples have been seen: before that there is no rate.</summary>
    public bool HasRate { get; private set; }

    /// <summary>
    /// Adds a sample. A counter that went back (the device was re-created, the driver reset it)
    /// starts the rate over from this sample instead of reading a huge or negative rate.
    /// </summary>
    public void Add(NicCounters sample)
    {
        if (_last is not { } last || sample.At <= last.At || sample.RxBytes < last.RxBytes || sample.TxBytes < last.TxBytes)
        {
            _last = sample;
            return;
        }
        var seconds = (sample.At - last.At).TotalSeconds;
        var rx = (sample.RxBytes - last.RxBytes) * 8.0 / seconds;
        var tx = (sample.TxBytes - last.TxBytes) * 8.0 / seconds;
        if (!HasRate)
        {
            (RxBps, TxBps, HasRate) = (rx, tx, true);
        }
        else
        {
            var weight = 1 - Math.Exp(-seconds / _tauSeconds);
            RxBps += weight * (rx - RxBps);
            TxBps += weight * (tx - TxBps);
        }
        _last = sample;
    }
}

/// <summary>
/// When an agent reports a NIC's load: when its utilization moved by more than
/// <see cref="Threshold"/> (in utilization, 0.05 = five points) since the last report, or
/// <see cref="Heartbeat"/> after it, whichever comes first; a small, steady NIC costs one message a
/// heartbeat, not one a sample.
/// </summary>
public sealed record LoadReportGate(double Threshold, TimeSpan Heartbeat)
{
    public static readonly LoadReportGate Default = new(0.05, TimeSpan.FromMinutes(1));

    public bool ShouldReport(double? lastReported, TimeSpan lastReportedAt, double utilization, TimeSpan now) =>
        lastReported is not { } last || Math.Abs(utilization - last) > Threshold || now - lastReportedAt >= Heartbeat;
}

/// <summary>A NIC's capacity: the kernel's <c>speed</c> (Mb/s) where it gives one, else the configured one (veths, some virtual NICs).</summary>
public static class LinkSpeed
{
    /// <summary>Bits per second from the text of <c>/sys/class/net/DEV/speed</c>; null when it gives none (absent, -1, unreadable).</summary>
    public static double? FromSysfs(string? speedFileText) =>
        long.TryParse(speedFileText?.Trim(), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var mbps) && mbps > 0
            ? mbps * 1e6
            : null;

    public static double CapacityBps(string? speedFileText, double configuredBps) => FromSysfs(speedFileText) ?? configuredBps;
}
