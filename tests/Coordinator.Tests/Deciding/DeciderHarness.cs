using Replug.Coordinator.Deciding;
using Replug.Coordinator.Singleton;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using static Replug.Shared.Protocol.HostProtocol;

namespace Replug.Coordinator.Tests.Deciding;

/// <summary>
/// A coordinator as the decider alone: state, a journal (every event decided), a clock and
/// seeded ids. Each step checks that the state equals the journal replayed into a fresh state,
/// so a hand-over at any step would resume exactly.
/// </summary>
public sealed class DeciderHarness
{
    public static readonly DateTimeOffset T0 = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
    public static readonly CoordinatorSettings Settings = CoordinatorSettings.Default;

    private readonly Random _ids = new(7);
    public CoordinatorDecider Decider { get; }
    public CoordinatorState State { get; private set; }
    public List<ICoordinatorEvent> Journal { get; } = [];
    public List<Outbound> Sent { get; } = [];
    public List<DecisionLog> Log { get; } = [];
    public DateTimeOffset Now { get; set; } = T0;

    public DeciderHarness(CoordinatorSettings? settings = null)
    {
        Decider = new CoordinatorDecider(settings ?? Settings, NextId);
        State = new CoordinatorState(settings ?? Settings);
    }

    private Guid NextId()
    {
        Span<byte> bytes = stackalloc byte[16];
        _ids.NextBytes(bytes);
        return new Guid(bytes);
    }

    public Decision Decide(ICoordinatorInput input)
    {
        var decision = Decider.Decide(State, input, Now);
        Journal.AddRange(decision.Events);
        Sent.AddRange(decision.Messages);
        Log.AddRange(decision.Log);
        return decision;
    }

    public Decision FromHost(IHostMessage message) => Decide(new CoordinatorInputs.FromHost(message));

    /// <summary>Time passes: one tick at every deadline due by <paramref name="by"/>, then the clock at it.</summary>
    public void AdvanceTo(DateTimeOffset by)
    {
        while (State.NextDeadline is { } next && next <= by)
        {
            Now = next > Now ? next : Now;
            Decide(CoordinatorInputs.Tick.Instance);
        }
        Now = by;
    }

    public void Advance(TimeSpan by) => AdvanceTo(Now + by);

    /// <summary>A hand-over: a new instance rebuilds its state from the journal alone and starts its epoch.</summary>
    public Decision HandOver(string node = "akka.tcp://replug@coordinator-2:4053")
    {
        var members = State.Cluster.Members.Where(m => m != CoordinatorNode).Append(node).ToList();
        var unreachable = State.Cluster.Unreachable.ToList();
        State = Replayed();
        var recovered = Decide(new CoordinatorInputs.Recovered(node));
        Decide(new CoordinatorInputs.Membership(members, unreachable));
        return recovered;
    }

    public CoordinatorState Replayed()
    {
        var fresh = new CoordinatorState(Decider.Settings);
        foreach (var e in Journal) fresh.Apply(e);
        return fresh;
    }

    public IReadOnlyList<T> SentTo<T>(HostId host) where T : IHostMessage =>
        [.. Sent.OfType<Outbound.ToHost>().Where(m => m.Host == host).Select(m => m.Message).OfType<T>()];

    public void ClearSent() => Sent.Clear();

    // ---- building blocks of scenarios --------------------------------------------------------

    public static string AddressOf(HostId host) => $"akka.tcp://replug@{host.Value}:4054";

    public static NicReport Nic(string device, string mac) =>
        new(DeviceId.Net(device), new NicIdentity(NicIdentityKind.PermanentMac, mac), null, true);

    public static PortReport Port(string name, params string[] members) =>
        new(new PortSpec(new PortId(name)), [.. members.Select(DeviceId.Net)], members.Length > 0 ? DeviceId.Net(members[0]) : null, false);

    public Decision Register(HostId host, int slots, NicReport[] nics, PortReport[] ports, long incarnation = 1, long newestEpoch = 0)
    {
        Decide(new CoordinatorInputs.MemberUp(AddressOf(host)));
        return FromHost(new RegisterHost(host, AddressOf(host), incarnation, new HostInventory(nics, ports, slots, 0), newestEpoch));
    }

    public const string CoordinatorNode = "akka.tcp://replug@coordinator-1:4053";

    /// <summary>A first instance on a one-node cluster (hosts join as they register).</summary>
    public void Start()
    {
        Decide(new CoordinatorInputs.Recovered(CoordinatorNode));
        Decide(new CoordinatorInputs.Membership([CoordinatorNode], []));
    }

    /// <summary>Every command owed to <paramref name="host"/> is answered as applied.</summary>
    public void AcknowledgeAll(HostId host)
    {
        foreach (var command in State.PendingCommands.Values.Where(c => c.Host == host).ToList())
            FromHost(new CommandAcknowledged(command.Id, host, State.Epoch));
    }

    /// <summary>Every device operation owed to <paramref name="host"/> is answered as done.</summary>
    public void AcknowledgeOperations(HostId host)
    {
        foreach (var op in State.OpenOperations.Where(o => o.Host == host).ToList())
            FromHost(new CommandAcknowledged(op.Id, host, State.Epoch));
    }

    /// <summary>An event as if an earlier decision had journaled it (a scenario's starting point).</summary>
    public T Record<T>(T e) where T : ICoordinatorEvent
    {
        State.Apply(e);
        Journal.Add(e);
        return e;
    }

    /// <summary>The state equals the journal replayed into a fresh state (what a new instance would hold).</summary>
    public void AssertReplayMatches()
    {
        var replayed = Replayed().ToSnapshot();
        var live = State.ToSnapshot();
        Assert.Equal(Serialized(replayed), Serialized(live));
    }

    private static string Serialized(CoordinatorSnapshot snapshot) =>
        System.Text.Json.JsonSerializer.Serialize(snapshot);
}
