using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Replug.Coordinator.Hosting;

namespace Replug.Coordinator.Tests.Persistence;

/// <summary>A generic host with an ActorSystem configured by <see cref="PersistenceHosting.WithReplugPersistence"/>, as the coordinator does.</summary>
internal sealed class PersistenceTestHost : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly IHost _host;

    private PersistenceTestHost(IHost host) => _host = host;

    public ActorSystem System => _host.Services.GetRequiredService<ActorSystem>();

    public static async Task<PersistenceTestHost> StartAsync(PersistenceOptions options)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddHealthChecks();
        builder.Services.AddAkka("persistence-test", (akka, _) => akka
            .WithCustomSerializer(CounterSerializer.Name, [typeof(ICounterPersisted)], system => new CounterSerializer(system))
            .WithStrictSerialization(true)
            .WithReplugPersistence(options));
        var host = builder.Build();
        await host.StartAsync();
        return new PersistenceTestHost(host);
    }

    public IActorRef Counter(string persistenceId, int snapshotEvery) =>
        System.ActorOf(CounterActor.Props(persistenceId, snapshotEvery));

    public Task<HealthReport> HealthAsync() =>
        _host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();

    public async ValueTask DisposeAsync()
    {
        var system = System;
        await _host.StopAsync();
        await system.WhenTerminated.WaitAsync(Timeout);
        _host.Dispose();
    }
}

/// <summary>The checks that run the same against SQLite and PostgreSQL.</summary>
internal static class PersistenceScenarios
{
    /// <summary>
    /// 12 events with a snapshot every 5; after a full stop, a new ActorSystem on the same database
    /// recovers from the snapshot at 10 plus the 2 events after it.
    /// </summary>
    public static async Task State_survives_a_restart_from_snapshot_and_events(PersistenceOptions options)
    {
        options.SnapshotEvery = 5;
        var persistenceId = $"counter-{Guid.NewGuid():N}";

        await using (var first = await PersistenceTestHost.StartAsync(options))
        {
            var counter = first.Counter(persistenceId, options.SnapshotEvery);
            for (var i = 1; i <= 12; i++)
            {
                var added = await counter.Ask<CounterActor.Added>(new CounterActor.Add(i), PersistenceTestHost.Timeout);
                Assert.Equal(i, added.SequenceNr);
            }
            var state = await Eventually(counter, s => s.LastSnapshotSavedAt == 10 || s.SnapshotFailure is not null);
            Assert.Null(state.SnapshotFailure);
            Assert.Equal(new CounterActor.State(78, 12, null, 0, 10, null), state);
        }

        await using (var second = await PersistenceTestHost.StartAsync(options))
        {
            var counter = second.Counter(persistenceId, options.SnapshotEvery);
            var state = await counter.Ask<CounterActor.State>(new CounterActor.GetState(), PersistenceTestHost.Timeout);
            Assert.Equal(new CounterActor.State(Sum: 78, Events: 12, RecoveredFromSnapshotAt: 10, ReplayedEvents: 2, LastSnapshotSavedAt: 0, SnapshotFailure: null), state);

            // and it goes on writing where it stopped
            var added = await counter.Ask<CounterActor.Added>(new CounterActor.Add(100), PersistenceTestHost.Timeout);
            Assert.Equal(13, added.SequenceNr);
        }
    }

    /// <summary>Starts on an empty database, writes one event (and its snapshot when SnapshotEvery is 1) and reads it back; returns after the host stopped.</summary>
    public static async Task Start_write_one_event_and_stop(PersistenceOptions options, Func<PersistenceTestHost, Task>? whileRunning = null)
    {
        await using var host = await PersistenceTestHost.StartAsync(options);
        var counter = host.Counter($"counter-{Guid.NewGuid():N}", options.SnapshotEvery);
        var added = await counter.Ask<CounterActor.Added>(new CounterActor.Add(7), PersistenceTestHost.Timeout);
        Assert.Equal(1, added.SequenceNr);
        var snapshotExpectedAt = options.SnapshotEvery == 1 ? 1 : 0; // snapshots are saved asynchronously
        var state = await Eventually(counter, s => s.LastSnapshotSavedAt == snapshotExpectedAt || s.SnapshotFailure is not null);
        Assert.Equal(new CounterActor.State(7, 1, null, 0, snapshotExpectedAt, null), state);
        if (whileRunning is not null) await whileRunning(host);
    }

    private static async Task<CounterActor.State> Eventually(IActorRef counter, Func<CounterActor.State, bool> done)
    {
        var deadline = DateTime.UtcNow + PersistenceTestHost.Timeout;
        while (true)
        {
            var state = await counter.Ask<CounterActor.State>(new CounterActor.GetState(), PersistenceTestHost.Timeout);
            if (done(state) || DateTime.UtcNow > deadline) return state;
            await Task.Delay(20);
        }
    }
}
