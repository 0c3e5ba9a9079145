namespace Replug.Agent.Devices;

/// <summary>How the agent treats one device it manages (a port member or a device named in configuration).</summary>
public sealed record ManagedDevice(string? Driver = null, int? Mtu = null, bool BringUp = true)
{
    public static readonly ManagedDevice PortMember = new();
}

/// <summary>How each supervisor step is bounded and retried.</summary>
public sealed record StepPolicy(TimeSpan Timeout, int Retries, TimeSpan InitialBackoff, TimeSpan MaxBackoff)
{
    public static readonly StepPolicy Default = new(TimeSpan.FromSeconds(2), 5, TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(2));

    /// <summary>Exponential backoff: attempt 1 waits the initial delay, each next one twice as long, up to the maximum.</summary>
    public TimeSpan BackoffFor(int attempt)
    {
        var factor = Math.Pow(2, Math.Max(0, attempt - 1));
        var ms = Math.Min(MaxBackoff.TotalMilliseconds, InitialBackoff.TotalMilliseconds * factor);
        return TimeSpan.FromMilliseconds(ms);
    }
}

/// <summary>
/// A bounded, oldest-first-dropped record of recent entries. Its storage grows with what it holds,
/// up to the bound: 10,000 devices with two state changes each do not each reserve room for 32.
/// </summary>
public sealed class BoundedHistory<T>(int capacity) where T : class
{
    private readonly Queue<T> _entries = new();
    private T? _last;

    public int Capacity { get; } = capacity > 0 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity));

    public int Count => _entries.Count;

    /// <summary>The newest entry; null when empty.</summary>
    public T? Last => _last;

    public void Add(T entry)
    {
        if (_entries.Count == Capacity) _entries.Dequeue();
        _entries.Enqueue(entry);
        _last = entry;
    }

    public IReadOnlyList<T> ToList() => [.. _entries];
}
