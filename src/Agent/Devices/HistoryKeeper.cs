using Akka.Actor;

namespace Replug.Agent.Devices;

/// <summary>Keeps the host's recent device state changes and port events, bounded, for operators and the coordinator.</summary>
public sealed class HistoryKeeper : ReceiveActor
{
    public sealed record GetHistory(int Max = int.MaxValue);
    public sealed record History(IReadOnlyList<IAgentEvent> Events);

    private readonly BoundedHistory<IAgentEvent> _history;

    public HistoryKeeper(int capacity)
    {
        _history = new BoundedHistory<IAgentEvent>(capacity);
        Receive<DeviceStateChanged>(_history.Add);
        Receive<Ports.PortSwitched>(_history.Add);
        Receive<Ports.PortSwitchFailed>(_history.Add);
        Receive<Ports.PortEscalated>(_history.Add);
        Receive<Ports.PortRecovered>(_history.Add);
        Receive<GetHistory>(g => Sender.Tell(new History([.. _history.ToList().TakeLast(g.Max)])));
    }

    public static Props Props(int capacity) => Akka.Actor.Props.Create(() => new HistoryKeeper(capacity));

    protected override void PreStart()
    {
        var stream = Context.System.EventStream;
        stream.Subscribe(Self, typeof(DeviceStateChanged));
        stream.Subscribe(Self, typeof(Ports.PortSwitched));
        stream.Subscribe(Self, typeof(Ports.PortSwitchFailed));
        stream.Subscribe(Self, typeof(Ports.PortEscalated));
        stream.Subscribe(Self, typeof(Ports.PortRecovered));
    }
}
