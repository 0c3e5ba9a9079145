using Replug.Coordinator.Deciding;
using Replug.Coordinator.Singleton;
using Replug.Shared.Protocol;

namespace Replug.Coordinator.Tests.Simulation;

/// <summary>
/// One instance of the coordinator singleton on a coordinator node, as its persistent actor runs
/// it: recover the state from the shared journal, start an epoch, take the membership snapshot,
/// then for each input decide → persist → send, and Tick at the state's next deadline. Its
/// memory dies with it; the journal (a database) is shared by every instance. A write after
/// another instance has written fails, as a SQL journal's sequence-number key makes it fail, and
/// the instance stops.
/// </summary>
public sealed class SimCoordinator
{
    private readonly SimWorld _world;
    private readonly SimDecide _decide;
    private int _seen;
    private long? _tickAt;

    public SimCoordinator(SimWorld world, SimNode node, long id, SimDecide decide)
    {
        _world = world;
        Node = node;
        Id = id;
        _decide = decide;
        State = CoordinatorApi.NewState(world.Options.Coordinator);
    }

    public long Id { get; }
    public SimNode Node { get; }
    public CoordinatorState State { get; }
    public bool Running { get; private set; } = true;
    public Endpoint Self => new Endpoint.Coordinator(Node.Index, Id);

    /// <summary>The unreachable members this instance was last told about.</summary>
    public SortedSet<string> KnownUnreachable { get; } = new(StringComparer.Ordinal);

    private string Name => $"{Node.Name}#{Id}";

    public void Start(IReadOnlyCollection<string> members, IReadOnlyCollection<string> unreachable, IReadOnlyCollection<string> notYetUp)
    {
        var journal = _world.Journal;
        foreach (var e in journal) State.Apply(e);
        _seen = journal.Count;
        var before = State.Epoch;
        _world.Log($"coordinator {Name}: recovered {journal.Count} events (epoch {before})");
        if (!Decide(new CoordinatorInputs.Recovered(Node.Address), null)) return;
        _world.OnEpochStarted(this, State.Epoch);
        KnownUnreachable.UnionWith(unreachable);
        Decide(new CoordinatorInputs.Membership(members, unreachable, notYetUp), null);
        StartPolicyTimer();
    }

    /// <summary>CoordinatorActor's policy timer: a PolicyTick at the policies' interval while this instance runs.</summary>
    private void StartPolicyTimer()
    {
        if (!State.Policies.AnyOn) return;
        var every = State.Policies.EffectiveInterval;
        void Tick()
        {
            if (!Running) return;
            Decide(CoordinatorInputs.PolicyTick.Instance, null);
            _world.Scheduler.After(every, $"{Name} policies", Tick);
        }
        _world.Scheduler.After(every, $"{Name} policies", Tick);
    }

    public void Stop(string why)
    {
        if (!Running) return;
        Running = false;
        _world.Log($"coordinator {Name}: stopped ({why})");
    }

    /// <summary>One input: decide, persist (or fail and stop), then send. False when the instance stopped.</summary>
    public bool Decide(ICoordinatorInput input, Endpoint? replyTo)
    {
        if (!Running) return false;
        Decision decision;
        try
        {
            decision = _decide(State, input, _world.Scheduler.WallNow);
        }
        catch (Exception ex)
        {
            // The actor would crash and restart (a new recovery, a new epoch): a bug either way.
            _world.OnDeciderThrew(this, input, ex);
            return false;
        }
        if (decision.Events.Count > 0)
        {
            if (_world.Journal.Count != _seen)
            {
                Stop($"persist failed: the journal has {_world.Journal.Count - _seen} event(s) written by another instance");
                return false;
            }
            _world.Journal.AddRange(decision.Events);
            _seen = _world.Journal.Count;
        }
        foreach (var e in decision.Events) _world.Log($"coordinator {Name}: event {SimText.Of(e)}");
        foreach (var line in decision.Log)
            if (line.Level != DecisionLogLevel.Info) _world.Log($"coordinator {Name}: {line.Level}: {line.Text}");
        foreach (var message in decision.Messages) Send(message, replyTo);
        ScheduleTick();
        return true;
    }

    private void Send(Outbound message, Endpoint? replyTo)
    {
        switch (message)
        {
            case Outbound.ToHost(var host, var payload):
                if (State.Hosts.GetValueOrDefault(host) is not { } record || _world.NodeAt(record.Address) is not { } node)
                {
                    _world.Log($"coordinator {Name}: no address for {host}: {SimText.Of(payload)} not sent");
                    return;
                }
                _world.OnCommandSent(this, payload);
                _world.Network.Send(Self, new Endpoint.Agent(node.Index, null), payload);
                break;
            case Outbound.Reply(var payload) when replyTo is not null:
                if (payload is IHostMessage hostMessage) _world.OnCommandSent(this, hostMessage);
                _world.Network.Send(Self, replyTo, payload);
                break;
            case Outbound.Reply(var payload):
                _world.Log($"coordinator {Name}: reply {SimText.Of(payload)} (to the operator)");
                break;
        }
    }

    private void ScheduleTick()
    {
        if (CoordinatorApi.NextDeadline(State, _world.Scheduler.WallNow) is not { } deadline) return;
        var at = Math.Max(_world.Scheduler.Now + 1, (long)Math.Ceiling((deadline - SimScheduler.Origin).TotalMilliseconds) + 1);
        if (_tickAt is { } scheduled && scheduled <= at && scheduled >= _world.Scheduler.Now) return;
        _tickAt = at;
        _world.Scheduler.At(at, $"{Name} tick", () =>
        {
            if (_tickAt != at) return;
            _tickAt = null;
            Decide(CoordinatorInputs.Tick.Instance, null);
        });
    }
}
