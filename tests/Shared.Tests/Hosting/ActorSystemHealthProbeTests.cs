using Akka.Actor;
using Akka.Configuration;
using Replug.Shared.Hosting;

namespace Replug.Shared.Tests.Hosting;

/// <summary>The probe behind the systemd watchdog, against real ActorSystems: running, wedged, terminated.</summary>
public class ActorSystemHealthProbeTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task A_running_actor_system_is_healthy()
    {
        using var system = ActorSystem.Create("probe-running");
        var probe = new ActorSystemHealthProbe(system);

        Assert.Null(await probe.CheckAsync(Deadline, CancellationToken.None));
        Assert.Null(await probe.CheckAsync(Deadline, CancellationToken.None)); // the probe actor is made once, then reused
    }

    [Fact]
    public async Task A_terminated_actor_system_is_not()
    {
        var system = ActorSystem.Create("probe-terminated");
        await system.Terminate();

        Assert.Equal("the actor system has terminated", await new ActorSystemHealthProbe(system).CheckAsync(Deadline, CancellationToken.None));
    }

    [Fact]
    public async Task A_dispatcher_whose_threads_are_all_stuck_is_not_until_they_are_free()
    {
        // One dispatcher thread, held by an actor that waits on a gate: a deadlock in miniature.
        using var system = ActorSystem.Create("probe-wedged", ConfigurationFactory.ParseString("""
            akka.actor.default-dispatcher {
              executor = fork-join-executor
              fork-join-executor { parallelism-min = 1, parallelism-factor = 1.0, parallelism-max = 1 }
            }
            """));
        using var gate = new ManualResetEventSlim();
        using var holding = new ManualResetEventSlim();
        system.ActorOf(Props.Create(() => new Blocker(gate, holding))).Tell("hold");
        Assert.True(holding.Wait(Deadline), "the blocker never ran");
        var probe = new ActorSystemHealthProbe(system);

        var stuck = await probe.CheckAsync(TimeSpan.FromMilliseconds(300), CancellationToken.None);

        Assert.Equal("the default dispatcher did not run the probe actor within 300 ms", stuck);
        gate.Set();
        Assert.Null(await probe.CheckAsync(Deadline, CancellationToken.None));
    }

    private sealed class Blocker : ReceiveActor
    {
        public Blocker(ManualResetEventSlim gate, ManualResetEventSlim holding) => Receive<string>(_ =>
        {
            holding.Set();
            gate.Wait();
        });
    }
}
