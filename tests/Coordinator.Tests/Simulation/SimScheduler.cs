namespace Replug.Coordinator.Tests.Simulation;

/// <summary>
/// Simulated time and the timed events of one run: no wall clock, no threads. Events at the same
/// instant run in the order they were scheduled, so a seed replays exactly.
/// </summary>
public sealed class SimScheduler
{
    /// <summary>What the decider sees as "now" at simulated time zero.</summary>
    public static readonly DateTimeOffset Origin = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly PriorityQueue<(string What, Action Run), (long At, long Seq)> _queue = new();
    private long _seq;

    /// <summary>Simulated milliseconds since the start of the run.</summary>
    public long Now { get; private set; }

    public DateTimeOffset WallNow => Origin.AddMilliseconds(Now);

    public int Pending => _queue.Count;

    public void At(long at, string what, Action run) => _queue.Enqueue((what, run), (Math.Max(at, Now), _seq++));

    public void After(TimeSpan delay, string what, Action run) => At(Now + (long)delay.TotalMilliseconds, what, run);

    public void After(long delayMs, string what, Action run) => At(Now + delayMs, what, run);

    /// <summary>Runs the next event if it is due before <paramref name="until"/>; false when none is.</summary>
    public bool TryStep(long until, out string what)
    {
        what = "";
        if (!_queue.TryPeek(out _, out var key) || key.At > until) return false;
        var (w, run) = _queue.Dequeue();
        Now = key.At;
        what = w;
        run();
        return true;
    }

    public void AdvanceTo(long at) => Now = Math.Max(Now, at);
}

/// <summary>Guids for the decider (fail-over and command ids) drawn from the run's seed.</summary>
public static class SeededIds
{
    public static Func<Guid> From(Random random) => () =>
    {
        Span<byte> bytes = stackalloc byte[16];
        random.NextBytes(bytes);
        return new Guid(bytes);
    };
}
