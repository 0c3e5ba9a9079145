using Akka.Actor;

namespace Replug.Shared.Hosting;

/// <summary>Whether this process still does its work; asked before every <c>WATCHDOG=1</c>.</summary>
public interface IProcessHealthProbe
{
    /// <summary>Null when healthy; otherwise why not, for the log. Answers within <paramref name="deadline"/>.</summary>
    Task<string?> CheckAsync(TimeSpan deadline, CancellationToken cancellationToken);
}

/// <summary>
/// A Replug process is healthy while its ActorSystem runs and moves: the system has not
/// terminated, its scheduler fires a timer, and the default dispatcher runs an actor's message.
/// One probe covers both moving parts: the scheduler's callback tells the probe actor, so an
/// answer proves the scheduler thread and a dispatcher thread both ran. A process wedged in
/// either (a deadlock, starved threads) stops answering, stops sending <c>WATCHDOG=1</c>, and
/// systemd kills and restarts it.
/// </summary>
/// <param name="resolve">The system, fetched at the first check (the host creates it as it starts).</param>
public sealed class ActorSystemHealthProbe(Func<ActorSystem> resolve) : IProcessHealthProbe
{
    /// <summary>A probe of <paramref name="system"/>.</summary>
    public ActorSystemHealthProbe(ActorSystem system) : this(() => system) { }

    /// <summary>The scheduler's timer fires on its next tick (10 ms by default), not inline on the caller's thread.</summary>
    private static readonly TimeSpan TimerDelay = TimeSpan.FromMilliseconds(1);

    private readonly Lock _gate = new();
    private IActorRef? _answerer;

    public async Task<string?> CheckAsync(TimeSpan deadline, CancellationToken cancellationToken)
    {
        var system = resolve();
        if (system.WhenTerminated.IsCompleted) return "the actor system has terminated";
        IActorRef answerer;
        try
        {
            answerer = Answerer(system);
        }
        catch (Exception e) when (e is InvalidActorNameException or InvalidOperationException)
        {
            return $"the actor system cannot start the probe actor: {e.Message}";
        }

        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        system.Scheduler.Advanced.ScheduleOnce(TimerDelay, () =>
        {
            fired.TrySetResult();
            answerer.Tell(new WatchdogProbeActor.Ping(answered));
        });
        try
        {
            await answered.Task.WaitAsync(deadline, cancellationToken);
            return null;
        }
        catch (TimeoutException)
        {
            if (system.WhenTerminated.IsCompleted) return "the actor system has terminated";
            return fired.Task.IsCompleted
                ? $"the default dispatcher did not run the probe actor within {deadline.TotalMilliseconds:0} ms"
                : $"the scheduler did not fire a timer within {deadline.TotalMilliseconds:0} ms";
        }
    }

    private IActorRef Answerer(ActorSystem system)
    {
        lock (_gate) return _answerer ??= system.ActorOf(Props.Create<WatchdogProbeActor>(), "systemd-watchdog-probe");
    }
}

/// <summary>Answers the watchdog's probe on the default dispatcher.</summary>
internal sealed class WatchdogProbeActor : ReceiveActor
{
    /// <summary>Local only (it carries the waiting task), never sent to another node.</summary>
    public sealed record Ping(TaskCompletionSource Answered);

    public WatchdogProbeActor() => Receive<Ping>(ping => ping.Answered.TrySetResult());
}
