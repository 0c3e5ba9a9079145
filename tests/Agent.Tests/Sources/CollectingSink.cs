using System.Collections.Concurrent;
using Replug.Agent.Sources;
using Replug.Shared.Uevents;

namespace Replug.Agent.Tests.Sources;

/// <summary>
/// A sink that records everything a source reports, for tests to wait on without polling:
/// events go through a BlockingCollection, completion through a task.
/// </summary>
/// <param name="onOverflow">Runs on the source's thread when an overflow is reported, before the source reads on.</param>
internal sealed class CollectingSink(Action? onOverflow = null) : IUeventSink
{
    /// <summary>Only to catch hangs: a healthy test never comes near it.</summary>
    public static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);

    private readonly BlockingCollection<Uevent> _incoming = new();
    private readonly List<Uevent> _taken = [];
    private readonly TaskCompletionSource<Exception?> _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _overflows, _completions, _delivered, _deliveredBeforeOverflow = -1;

    public ConcurrentQueue<(UeventRejection Reason, string Detail)> Rejections { get; } = new();

    public int Overflows => Volatile.Read(ref _overflows);

    /// <summary>How many events had been delivered when the first overflow was reported (-1: none was).</summary>
    public int DeliveredBeforeOverflow => Volatile.Read(ref _deliveredBeforeOverflow);

    public int Completions => Volatile.Read(ref _completions);

    /// <summary>Every event taken so far by <see cref="WaitFor"/> or <see cref="WaitForCompletion"/>, in arrival order.</summary>
    public IReadOnlyList<Uevent> Taken => _taken;

    public void OnEvent(Uevent uevent)
    {
        Interlocked.Increment(ref _delivered);
        _incoming.Add(uevent);
    }

    public void OnRejected(UeventRejection reason, string detail) => Rejections.Enqueue((reason, detail));

    public void OnOverflow()
    {
        Interlocked.CompareExchange(ref _deliveredBeforeOverflow, Volatile.Read(ref _delivered), -1);
        Interlocked.Increment(ref _overflows);
        onOverflow?.Invoke();
    }

    public void OnCompleted(Exception? error)
    {
        Interlocked.Increment(ref _completions);
        _completed.TrySetResult(error);
    }

    /// <summary>Takes events in order until one matches; fails after <paramref name="timeout"/> (default: generous).</summary>
    public Uevent WaitFor(Func<Uevent, bool> match, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Generous);
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || !_incoming.TryTake(out var uevent, left))
                throw new TimeoutException($"no {what} within {timeout ?? Generous}; saw {_taken.Count} events: " +
                    string.Join("; ", _taken.TakeLast(10)));
            _taken.Add(uevent);
            if (match(uevent)) return uevent;
        }
    }

    /// <summary>Takes events until each of <paramref name="matches"/> has matched one, in any order (the kernel announces a veth's peer first).</summary>
    public Uevent[] WaitForAll(string what, params Func<Uevent, bool>[] matches)
    {
        var found = new Uevent?[matches.Length];
        while (found.Any(f => f is null))
        {
            WaitFor(e => Array.Exists(matches, m => m(e)), what);
            var uevent = _taken[^1];
            for (var i = 0; i < matches.Length; i++)
                if (found[i] is null && matches[i](uevent)) found[i] = uevent;
        }
        return found.Select(f => f!).ToArray();
    }

    /// <summary>Waits for OnCompleted, then returns every event delivered, in order.</summary>
    public IReadOnlyList<Uevent> WaitForCompletion(out Exception? error)
    {
        if (!_completed.Task.Wait(Generous)) throw new TimeoutException("the source never completed");
        error = _completed.Task.Result;
        while (_incoming.TryTake(out var uevent)) _taken.Add(uevent);
        return _taken;
    }
}
