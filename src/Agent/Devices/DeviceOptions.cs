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

/// <summary>A bounded, oldest-first-dropped record of recent entries.</summary>
public sealed class BoundedHistory<T>(int capacity)
{
    private readonly Queue<T> _entries = new(capacity);

    public int Capacity { get; } = capacity > 0 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity));

    public void Add(T entry)
    {
        if (_entries.Count == Capacity) _entries.Dequeue();
        _entries.Enqueue(entry);
    }

    public IReadOnlyList<T> ToList() => [.. _entries];
}
