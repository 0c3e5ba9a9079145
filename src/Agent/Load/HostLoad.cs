using Replug.Shared.Devices;
using Replug.Shared.Protocol;

namespace Replug.Agent.Load;

/// <summary>
/// Every NIC's load on one host, and when the host owes the coordinator a report. One report
/// carries every NIC's figures (the coordinator replaces the host's whole picture); it is due when
/// any NIC's utilization moved past the gate's threshold since the last report, or at the gate's
/// heartbeat. A NIC counts only once it has a rate (two samples): before that it has no figure.
/// </summary>
public sealed class HostLoad(TimeSpan halfLife, LoadReportGate gate)
{
    private sealed class Nic
    {
        /// <summary>Null until the first sample gives the capacity.</summary>
        public NicLoadEstimate? Estimate { get; set; }
        public double? Reported { get; set; }
    }

    private readonly Dictionary<DeviceId, Nic> _nics = [];
    private TimeSpan _reportedAt;

    public IReadOnlyCollection<DeviceId> Tracked => _nics.Keys;

    /// <summary>Measures exactly these NICs from now on: new ones start without a rate, those left out are forgotten.</summary>
    public void Track(IEnumerable<DeviceId> nics)
    {
        var wanted = nics.ToHashSet();
        foreach (var gone in _nics.Keys.Where(n => !wanted.Contains(n)).ToList()) _nics.Remove(gone);
        foreach (var nic in wanted) _nics.TryAdd(nic, new Nic());
    }

    /// <summary>
    /// A NIC's counters at one moment, against its capacity now. A capacity that changed (the link
    /// renegotiated its speed) starts the NIC's estimate over: a rate smoothed against one speed
    /// says nothing about the other.
    /// </summary>
    public void Add(DeviceId device, NicCounters counters, double capacityBps)
    {
        if (!_nics.TryGetValue(device, out var nic)) return;
        if (nic.Estimate is null || nic.Estimate.CapacityBps != capacityBps)
        {
            nic.Estimate = new NicLoadEstimate(capacityBps, halfLife);
            nic.Reported = null;
        }
        nic.Estimate.Add(counters);
    }

    /// <summary>The next <see cref="Due"/> reports every NIC whatever it last said (a new coordinator, or a registration after a partition).</summary>
    public void Forget()
    {
        foreach (var nic in _nics.Values) nic.Reported = null;
    }

    /// <summary>Every measured NIC's figures now, reported or not.</summary>
    public IReadOnlyList<NicLoadSample> Current =>
        [.. Measured().Select(n => new NicLoadSample(n.Device, n.Estimate.CapacityBps, n.Estimate.RxBps, n.Estimate.TxBps))];

    private List<(DeviceId Device, Nic Nic, NicLoadEstimate Estimate)> Measured() =>
        [.. _nics.Where(n => n.Value.Estimate is { HasRate: true })
            .Select(n => (Device: n.Key, Nic: n.Value, Estimate: n.Value.Estimate!))
            .OrderBy(n => n.Device.Name, StringComparer.Ordinal)];

    /// <summary>Every NIC's figures when a report is due now (and they count as reported from here); null when none is.</summary>
    public IReadOnlyList<NicLoadSample>? Due(TimeSpan now)
    {
        var measured = Measured();
        if (!measured.Exists(n => gate.ShouldReport(n.Nic.Reported, _reportedAt, n.Estimate.Utilization, now))) return null;
        _reportedAt = now;
        foreach (var (_, nic, estimate) in measured) nic.Reported = estimate.Utilization;
        return [.. measured.Select(n => new NicLoadSample(n.Device, n.Estimate.CapacityBps, n.Estimate.RxBps, n.Estimate.TxBps))];
    }
}
