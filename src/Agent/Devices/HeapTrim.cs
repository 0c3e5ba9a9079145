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
/// collection costs a pause of tens of milliseconds, so it runs only after the count has moved by
/// <see cref="MinChange"/> since the last one, and once nothing has moved for <see cref="Quiet"/>
/// (not in the middle of a storm). Pure: the caller passes the time.
/// </summary>
public sealed class HeapTrimPolicy(int minChange, TimeSpan quiet)
{
    private int _countAtLastTrim;
    private TimeSpan _lastChangeAt;

    public int MinChange { get; } = minChange > 0 ? minChange : throw new ArgumentOutOfRangeException(nameof(minChange));
    public TimeSpan Quiet { get; } = quiet;

    /// <summary>The device count is now <paramref name="count"/> (at <paramref name="now"/>, any monotonic clock).</summary>
    public void CountChanged(int count, TimeSpan now) => _lastChangeAt = now;

    /// <summary>What to do now, with <paramref name="count"/> devices.</summary>
    public HeapTrimDecision Decide(int count, TimeSpan now) =>
        Math.Abs(count - _countAtLastTrim) < MinChange ? HeapTrimDecision.Nothing
        : now - _lastChangeAt < Quiet ? HeapTrimDecision.WaitForQuiet
        : HeapTrimDecision.Trim;

    /// <summary>How long until a change at <see cref="CountChanged"/> has been quiet enough.</summary>
    public TimeSpan QuietLeft(TimeSpan now) => Quiet - (now - _lastChangeAt) is { Ticks: > 0 } left ? left : TimeSpan.Zero;

    /// <summary>A collection ran with <paramref name="count"/> devices: the next one waits for another large change.</summary>
    public void Trimmed(int count) => _countAtLastTrim = count;

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
