using System.Runtime;

namespace Replug.Agent.Devices;

/// <summary>What the watcher does about its heap after a device count change.</summary>
public enum HeapTrimDecision
{
    /// <summary>Too small a change to be worth a full collection.</summary>
    Nothing,
    /// <summary>Devices are still coming or going: look again once they have been quiet.</summary>
    WaitForQuiet,
    /// <summary>A large change, settled: collect and give the memory back now.</summary>
    Trim,
}

/// <summary>
/// When to give memory back after many devices came or went. The GC only collects when something
/// allocates, and an idle agent allocates little: without a collection 10,000 stopped supervisors
/// (a host's VMs all gone) would keep their memory until the next storm. A full compacting
/// collection costs a pause of tens of milliseconds, so it runs only after <see cref="MinChange"/>
/// devices came or went since the last one, and once nothing has moved for <see cref="Quiet"/>
/// (not in the middle of a storm). Pure: the caller passes the time.
/// </summary>
public sealed class HeapTrimPolicy(int minChange, TimeSpan quiet)
{
    // Devices that came or went since the last collection: churn, not the net change (10,000 that
    // came and left before a check ran leave the count where it was, and their garbage behind).
    private int _changesSinceTrim;
    private TimeSpan _lastChangeAt;

    public int MinChange { get; } = minChange > 0 ? minChange : throw new ArgumentOutOfRangeException(nameof(minChange));
    public TimeSpan Quiet { get; } = quiet;

    /// <summary><paramref name="devices"/> came or went at <paramref name="now"/> (any monotonic clock).</summary>
    public void Changed(TimeSpan now, int devices = 1)
    {
        _changesSinceTrim += devices;
        _lastChangeAt = now;
    }

    /// <summary>What to do now.</summary>
    public HeapTrimDecision Decide(TimeSpan now) =>
        _changesSinceTrim < MinChange ? HeapTrimDecision.Nothing
        : now - _lastChangeAt < Quiet ? HeapTrimDecision.WaitForQuiet
        : HeapTrimDecision.Trim;

    /// <summary>How long until the last change has been quiet enough.</summary>
    public TimeSpan QuietLeft(TimeSpan now) => Quiet - (now - _lastChangeAt) is { Ticks: > 0 } left ? left : TimeSpan.Zero;

    /// <summary>A collection ran: the next one waits for another <see cref="MinChange"/> devices to come or go.</summary>
    public void Trimmed() => _changesSinceTrim = 0;

    /// <summary>
    /// A full, compacting collection that also returns the freed memory to the system (Aggressive
    /// decommits what the GC would otherwise keep for later allocations); the heap after it, bytes.
    /// </summary>
    public static long CollectAndReturnMemory()
    {
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: false);
    }
}
