using System.Text;
using Akka.Actor;
using Akka.Persistence;
using Akka.Serialization;

namespace Replug.Coordinator.Tests.Persistence;

/// <summary>What <see cref="CounterActor"/> writes to the journal and the snapshot store: bound to <see cref="CounterSerializer"/>, never to the JSON fallback.</summary>
public interface ICounterPersisted;

public sealed record CounterAdded(int Value) : ICounterPersisted;

public sealed record CounterSnapshot(int Events, int Sum) : ICounterPersisted;

/// <summary>Test-only explicit serializer: "added:7" and "snapshot:12:78" as UTF-8, manifests "A" and "S".</summary>
public sealed class CounterSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    public const int Id = 9_101;
    public const string Name = "replug-test-counter";

    public override int Identifier => Id;

    public override string Manifest(object o) => o switch
    {
        CounterAdded => "A",
        CounterSnapshot => "S",
        _ => throw new ArgumentException($"{GetType().Name} cannot serialize {o.GetType()}"),
    };

    public override byte[] ToBinary(object obj) => Encoding.UTF8.GetBytes(obj switch
    {
        CounterAdded added => $"{added.Value}",
        CounterSnapshot snapshot => $"{snapshot.Events}:{snapshot.Sum}",
        _ => throw new ArgumentException($"{GetType().Name} cannot serialize {obj.GetType()}"),
    });

    public override object FromBinary(byte[] bytes, string manifest)
    {
        var parts = Encoding.UTF8.GetString(bytes).Split(':');
        return manifest switch
        {
            "A" => new CounterAdded(int.Parse(parts[0])),
            "S" => new CounterSnapshot(int.Parse(parts[0]), int.Parse(parts[1])),
            _ => throw new System.Runtime.Serialization.SerializationException($"{GetType().Name}: unknown manifest '{manifest}'"),
        };
    }
}

/// <summary>
/// Test-only event-sourced actor: adds numbers, snapshots after every <c>snapshotEvery</c> events
/// and reports how it recovered (from which snapshot, how many events replayed after it).
/// </summary>
public sealed class CounterActor : ReceivePersistentActor
{
    public sealed record Add(int Value);
    public sealed record Added(long SequenceNr);
    public sealed record GetState;
    public sealed record State(int Sum, int Events, long? RecoveredFromSnapshotAt, int ReplayedEvents, long LastSnapshotSavedAt, string? SnapshotFailure);

    private readonly int _snapshotEvery;
    private int _sum;
    private int _events;
    private long? _recoveredFromSnapshotAt;
    private int _replayedEvents;
    private long _lastSnapshotSavedAt;
    private string? _snapshotFailure;

    public CounterActor(string persistenceId, int snapshotEvery)
    {
        PersistenceId = persistenceId;
        _snapshotEvery = snapshotEvery;

        Recover<SnapshotOffer>(offer =>
        {
            var snapshot = (CounterSnapshot)offer.Snapshot;
            _events = snapshot.Events;
            _sum = snapshot.Sum;
            _recoveredFromSnapshotAt = offer.Metadata.SequenceNr;
        });
        Recover<CounterAdded>(added =>
        {
            Apply(added);
            _replayedEvents++;
        });

        Command<Add>(add => Persist(new CounterAdded(add.Value), added =>
        {
            Apply(added);
            if (LastSequenceNr % _snapshotEvery == 0) SaveSnapshot(new CounterSnapshot(_events, _sum));
            Sender.Tell(new Added(LastSequenceNr));
        }));
        Command<GetState>(_ => Sender.Tell(new State(_sum, _events, _recoveredFromSnapshotAt, _replayedEvents, _lastSnapshotSavedAt, _snapshotFailure)));
        Command<SaveSnapshotSuccess>(success => _lastSnapshotSavedAt = Math.Max(_lastSnapshotSavedAt, success.Metadata.SequenceNr));
        Command<SaveSnapshotFailure>(failure => _snapshotFailure = failure.Cause.ToString());
    }

    public override string PersistenceId { get; }

    private void Apply(CounterAdded added)
    {
        _sum += added.Value;
        _events++;
    }

    public static Props Props(string persistenceId, int snapshotEvery) =>
        Akka.Actor.Props.Create(() => new CounterActor(persistenceId, snapshotEvery));
}
