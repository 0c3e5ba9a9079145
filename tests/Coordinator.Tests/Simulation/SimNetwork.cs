namespace Replug.Coordinator.Tests.Simulation;

/// <summary>Who a message is for: an agent's process (one incarnation, or whichever runs at the address) or one coordinator instance.</summary>
public abstract record Endpoint
{
    /// <summary>An agent; <paramref name="Incarnation"/> null: whatever process runs at the host's address (an actor selection).</summary>
    public sealed record Agent(int Node, long? Incarnation) : Endpoint;

    /// <summary>One singleton instance (a reply to its Sender): gone with it.</summary>
    public sealed record Coordinator(int Node, long Instance) : Endpoint;

    public int NodeIndex => this switch { Agent a => a.Node, Coordinator c => c.Node, _ => -1 };
}

public sealed record Envelope(long Id, Endpoint From, Endpoint To, object Payload);

/// <summary>
/// Links between nodes, cut by partitions (full: a set of nodes from the rest; asymmetric: one
/// direction of one pair; flapping: either, switched on and off), and each message's delay,
/// loss, duplication and reordering (across pairs of nodes: each pair stays in order, as over
/// Akka's one TCP association per pair; a long delay holds back what follows it on that pair).
/// A message needs its link up when sent and when delivered.
/// </summary>
public sealed class SimNetwork
{
    private readonly SimWorld _world;
    private readonly int[,] _cuts;
    private long _nextId;
    // Akka remoting keeps each pair of nodes in order (one TCP association): a message is never
    // delivered before one sent earlier on the same pair; reordering happens across pairs.
    private readonly long[,] _lastDelivery;

    public SimNetwork(SimWorld world, int nodes)
    {
        _world = world;
        _cuts = new int[nodes, nodes];
        _lastDelivery = new long[nodes, nodes];
    }

    /// <summary>Message faults happen only while true (the fault phase).</summary>
    public bool Faulty { get; set; }

    public int ActiveCuts { get; private set; }

    public bool Up(int from, int to) => from == to || _cuts[from, to] == 0;

    public void Cut(int from, int to)
    {
        _cuts[from, to]++;
        ActiveCuts++;
        _world.Version++;
    }

    public void Heal(int from, int to)
    {
        if (_cuts[from, to] == 0) return;
        _cuts[from, to]--;
        ActiveCuts--;
        _world.Version++;
    }

    public void HealAll()
    {
        for (var i = 0; i < _cuts.GetLength(0); i++)
            for (var j = 0; j < _cuts.GetLength(1); j++) _cuts[i, j] = 0;
        ActiveCuts = 0;
        _world.Version++;
    }

    /// <summary>Cuts (or heals) every link between <paramref name="side"/> and the other nodes, both ways.</summary>
    public void Separate(IReadOnlyCollection<int> side, bool cut)
    {
        for (var i = 0; i < _cuts.GetLength(0); i++)
        {
            if (side.Contains(i)) continue;
            foreach (var s in side)
            {
                if (cut) { Cut(s, i); Cut(i, s); }
                else { Heal(s, i); Heal(i, s); }
            }
        }
    }

    public void Send(Endpoint from, Endpoint to, object payload)
    {
        var f = from.NodeIndex;
        var t = to.NodeIndex;
        var random = _world.Random;
        var options = _world.Options;
        if (!Up(f, t))
        {
            _world.Log($"drop {_world.NodeName(f)}->{_world.NodeName(t)} (link cut): {SimText.Of(payload)}");
            return;
        }
        var copies = 1;
        if (Faulty && options.Profile.MessageFaults)
        {
            if (random.NextDouble() < options.DropProbability)
            {
                _world.CountFault(FaultKind.MessageDropped);
                _world.Log($"drop {_world.NodeName(f)}->{_world.NodeName(t)} (lost): {SimText.Of(payload)}");
                return;
            }
            if (random.NextDouble() < options.DuplicateProbability)
            {
                _world.CountFault(FaultKind.MessageDuplicated);
                copies = 2;
            }
        }
        for (var c = 0; c < copies; c++)
        {
            var delay = 1 + random.Next((int)options.MaxDelay.TotalMilliseconds);
            if (Faulty && options.Profile.MessageFaults && random.NextDouble() < options.LongDelayProbability)
            {
                _world.CountFault(FaultKind.MessageDelayed);
                delay = 1 + random.Next((int)options.MaxLongDelay.TotalMilliseconds);
            }
            var envelope = new Envelope(++_nextId, from, to, payload);
            var at = Math.Max(_world.Scheduler.Now + delay, _lastDelivery[f, t]);
            _lastDelivery[f, t] = at;
            _world.Scheduler.At(at, "deliver", () => Deliver(envelope));
        }
    }

    private void Deliver(Envelope envelope)
    {
        var f = envelope.From.NodeIndex;
        var t = envelope.To.NodeIndex;
        if (!Up(f, t))
        {
            _world.Log($"drop {_world.NodeName(f)}->{_world.NodeName(t)} (cut in flight): {SimText.Of(envelope.Payload)}");
            return;
        }
        _world.Deliver(envelope);
    }
}
