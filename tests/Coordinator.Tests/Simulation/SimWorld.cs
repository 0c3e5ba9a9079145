using Replug.Coordinator.Deciding;
using Replug.Coordinator.Singleton;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;

namespace Replug.Coordinator.Tests.Simulation;

/// <summary>
/// The simulated cluster of one run: its nodes and their processes, the network, membership, the
/// singleton's placement, the shared journal; it routes messages and tells the invariants what
/// happened. Everything is drawn from one seeded <see cref="Random"/>.
/// </summary>
public sealed class SimWorld
{
    private readonly Dictionary<string, SimNode> _byAddress = new(StringComparer.Ordinal);
    private readonly List<SimCoordinator> _instances = [];
    private readonly Func<Guid> _ids;
    private long _nextInstance;
    private bool _singletonStarting;

    public SimWorld(int seed, SimulationOptions options)
    {
        Seed = seed;
        Options = options;
        Random = new Random(seed);
        _ids = SeededIds.From(Random);
        Trace = new SimTrace(options.RecordTrace);
        Invariants = new SimInvariants(this);

        var coordinators = Random.Next(options.CoordinatorNodes.Min, options.CoordinatorNodes.Max + 1);
        var hosts = Random.Next(options.Hosts.Min, options.Hosts.Max + 1);
        var ports = Random.Next(options.Ports.Min, options.Ports.Max + 1);
        var configs = SimLayout.Hosts(Random, hosts, ports, options.FailoverDevicesPerHost);
        var nodes = new List<SimNode>();
        for (var c = 0; c < coordinators; c++) nodes.Add(new SimNode(nodes.Count, $"c{c + 1}", coordinatorRole: true));
        foreach (var config in configs) nodes.Add(new SimNode(nodes.Count, config.Host.Value, coordinatorRole: false) { Host = config });
        Nodes = [.. nodes];
        foreach (var node in Nodes) _byAddress[node.Address] = node;
        foreach (var host in HostNodes)
            foreach (var (device, identity) in host.Host!.Nics) host.Kernel.Plug(device, identity);
        AllPorts = [.. configs.SelectMany(c => c.Ports).Select(p => p.Spec.Port).OrderBy(p => p.Value, StringComparer.Ordinal)];
        Network = new SimNetwork(this, Nodes.Length);
        Cluster = new SimCluster(this, Nodes);
        var decider = options.Decider?.Invoke(options.Coordinator, _ids) ?? new CoordinatorDecider(options.Coordinator, _ids).Decide;
        Decide = decider;
    }

    public int Seed { get; }
    public SimulationOptions Options { get; }
    public Random Random { get; }
    public SimScheduler Scheduler { get; } = new();
    public SimTrace Trace { get; }
    public SimNetwork Network { get; }
    public SimCluster Cluster { get; }
    public SimInvariants Invariants { get; }
    public SimNode[] Nodes { get; }
    public IEnumerable<SimNode> HostNodes => Nodes.Where(n => n.Host is not null);
    public IEnumerable<SimNode> CoordinatorNodes => Nodes.Where(n => n.CoordinatorRole);
    public IReadOnlyList<PortId> AllPorts { get; }
    public List<ICoordinatorEvent> Journal { get; } = [];
    public SortedDictionary<string, int> Faults { get; } = new(StringComparer.Ordinal);
    public SimDecide Decide { get; }

    /// <summary>Raised by every change of processes, links or membership: the failure detector has work only then or while something is pending.</summary>
    public long Version { get; set; }

    /// <summary>The singleton instance the oldest coordinator member runs (what a proxy in the majority finds).</summary>
    public SimCoordinator? Singleton => _instances.LastOrDefault(i => i.Running && i.Node.Member && i.Node == OldestCoordinator);

    public IEnumerable<SimCoordinator> RunningInstances => _instances.Where(i => i.Running);

    private SimNode? OldestCoordinator => Cluster.UpMembers.FirstOrDefault(n => n.CoordinatorRole && n.ProcessUp && !n.Joining);

    public string NodeName(int index) => index >= 0 && index < Nodes.Length ? Nodes[index].Name : "operator";

    public SimNode? NodeAt(string address) => _byAddress.GetValueOrDefault(address);

    public void Log(string text) => Trace.Add(Scheduler.Now, text);

    public void CountFault(FaultKind kind)
    {
        var key = kind.ToString();
        Faults[key] = Faults.GetValueOrDefault(key) + 1;
    }

    // ---- processes ---------------------------------------------------------------------------------

    /// <summary>Starts the node's process (a new incarnation) and joins it to the cluster after the join delay.</summary>
    public void StartNode(SimNode node)
    {
        if (node.ProcessUp) return;
        node.ProcessUp = true;
        node.Joining = true;
        node.Incarnation++;
        Version++;
        node.JoinedAs = 0;
        var incarnation = node.Incarnation;
        Log($"{node.Name}: process started (incarnation {incarnation})");
        if (node.Host is not null)
        {
            node.Agent = new SimAgent(this, node, incarnation);
            node.Agent.Start();
        }
        void TryJoin()
        {
            if (!node.ProcessUp || node.Incarnation != incarnation || !node.Joining) return;
            var members = Cluster.Members.Where(m => m.ProcessUp && !m.Joining).ToList();
            // The first node founds the cluster; the others join through a seed node they can reach.
            if (members.Count == 0 || members.Any(m => Network.Up(m.Index, node.Index) && Network.Up(node.Index, m.Index)))
            {
                Cluster.Join(node);
                return;
            }
            Scheduler.After(Options.MembershipTick, $"{node.Name} join retry", TryJoin);
        }
        Scheduler.After(Options.JoinDelay, $"{node.Name} join", TryJoin);
    }

    /// <summary>
    /// A graceful stop (downed, leaving, service stop): coordinated shutdown takes the agent's
    /// ports down. A downed process is restarted by its service manager after a while.
    /// </summary>
    public void StopNode(SimNode node, string why, bool restart = false)
    {
        if (!node.ProcessUp) return;
        Log($"{node.Name}: process stops gracefully ({why})");
        node.Agent?.StopGracefully(why);
        node.Kernel.Generation++;
        EndProcess(node, why);
        Cluster.Remove(node, $"left ({why})", left: true);
        if (restart) Repair(TimeSpan.FromMilliseconds(2000 + Random.Next(4000)), $"{node.Name}: the service manager restarts it", () => StartNode(node));
    }

    // ---- repairs: what undoes a fault, run early when the faults stop -----------------------------

    private readonly SortedDictionary<long, (string What, Action Run)> _repairs = [];
    private long _nextRepair;

    /// <summary>True once the faults stopped: repairs run at once, message faults are off.</summary>
    public bool Quiet { get; private set; }

    public void Repair(TimeSpan after, string what, Action run)
    {
        if (Quiet)
        {
            Log($"repair: {what}");
            run();
            return;
        }
        var id = ++_nextRepair;
        _repairs[id] = (what, run);
        Scheduler.After(after, what, () =>
        {
            if (!_repairs.Remove(id)) return;
            Log($"repair: {what}");
            run();
        });
    }

    /// <summary>The faults stop: every pending repair runs now, partitions heal, every node and host comes back.</summary>
    public void StopFaults()
    {
        Quiet = true;
        Network.Faulty = false;
        Log($"faults stop; {Options.DescribeBound()}");
        while (_repairs.Count > 0)
        {
            var (id, (what, run)) = _repairs.First();
            _repairs.Remove(id);
            Log($"repair now: {what}");
            run();
        }
        Network.HealAll();
        foreach (var node in Nodes)
        {
            if (node.Host is not null && !node.Kernel.PoweredOn) node.Kernel.PowerOn();
            if (!node.ProcessUp) StartNode(node);
        }
    }

    /// <summary>kill -9 (or power off, with <see cref="SimKernel.PowerOff"/> by the caller): nothing runs, the cluster notices later.</summary>
    public void CrashNode(SimNode node, string why)
    {
        if (!node.ProcessUp) return;
        Log($"{node.Name}: process killed ({why})");
        node.Agent?.Crash();
        EndProcess(node, why);
    }

    private void EndProcess(SimNode node, string why)
    {
        node.ProcessUp = false;
        Version++;
        foreach (var instance in _instances.Where(i => i.Running && i.Node == node)) instance.Stop($"its node stopped: {why}");
        EnsureSingleton();
    }

    // ---- the singleton -----------------------------------------------------------------------------

    /// <summary>
    /// The singleton runs on the oldest coordinator member; a new one starts there (after the
    /// hand-over gap) once no instance runs on a member node. An instance on a downed node that
    /// still runs is not stopped by this: only its node's end, or a failed write, stops it.
    /// </summary>
    public void EnsureSingleton()
    {
        if (_singletonStarting || OldestCoordinator is not { } oldest) return;
        if (_instances.Any(i => i.Running && i.Node.Member)) return;
        _singletonStarting = true;
        Scheduler.After(Options.HandoverGap, "singleton hand-over", () =>
        {
            _singletonStarting = false;
            if (OldestCoordinator != oldest || _instances.Any(i => i.Running && i.Node.Member))
            {
                EnsureSingleton();
                return;
            }
            var instance = new SimCoordinator(this, oldest, ++_nextInstance, Decide);
            _instances.Add(instance);
            Log($"singleton starts on {oldest.Name} (instance {instance.Id})");
            var members = Cluster.UpMembers.Select(m => m.Address).ToList();
            var unreachable = Cluster.ViewOf(oldest).Select(i => Nodes[i].Address).ToList();
            instance.Start(members, unreachable, [.. Cluster.Members.Where(m => m.WeaklyUp).Select(m => m.Address)]);
            FlushProxies();
        });
    }

    /// <summary>
    /// Where an agent's singleton proxy sends: the instance on the oldest coordinator node this
    /// agent sees as a reachable member (possibly a downed one that still runs, on its side of a
    /// partition); null while it has none (the proxy buffers).
    /// </summary>
    public Endpoint? Proxy(SimAgent agent)
    {
        var node = Nodes.First(n => n.Agent == agent);
        if (node.Joining) return null;
        var seen = Cluster.MembersSeenBy(node).Concat(Nodes.Where(SimCluster.IsZombie)).Where(n => n.CoordinatorRole && n.ProcessUp && !n.Joining)
            .Distinct().OrderBy(n => n.JoinedAs);
        foreach (var c in seen)
        {
            if (Cluster.SeesUnreachable(node, c)) continue;
            var instance = _instances.LastOrDefault(i => i.Running && i.Node == c);
            return instance?.Self;
        }
        return null;
    }

    private void FlushProxies()
    {
        foreach (var host in HostNodes)
            if (host.ProcessUp && host.Member && !host.Joining && host.Agent is { Alive: true } agent) agent.FlushProxy();
    }

    // ---- membership --------------------------------------------------------------------------------

    public void MembershipTick()
    {
        Cluster.Tick();
        Akka.Actor.Address[]? memberAddresses = null;
        foreach (var host in HostNodes)
        {
            if (!host.ProcessUp || host.Agent is not { Alive: true } agent) continue;
            var view = Cluster.ViewOf(host);
            var members = host.Member && !host.Joining
                ? memberAddresses ??= [.. Cluster.UpMembers.Select(m => m.AkkaAddress)]
                : [.. Cluster.MembersSeenBy(host).Select(m => m.AkkaAddress)];
            agent.CheckLease(members, view.Count == 0 ? [] : [.. view.Select(i => Nodes[i].AkkaAddress)]);
        }
        EnsureSingleton();
        FlushProxies();
    }

    public void OnMemberJoined(SimNode node)
    {
        foreach (var instance in _instances.Where(i => i.Running && i.Node.Member && i.Node != node).ToList())
            instance.Decide(new CoordinatorInputs.MemberUp(node.Address), null);
    }

    public void OnMembershipChanged()
    {
        EnsureSingleton();
        FlushProxies();
    }

    public void OnViewChanged(SimNode observer, IReadOnlyList<int> before, IReadOnlyList<int> after)
    {
        foreach (var instance in _instances.Where(i => i.Running && i.Node == observer).ToList())
        {
            foreach (var i in after.Except(before))
                if (instance.KnownUnreachable.Add(Nodes[i].Address)) instance.Decide(new CoordinatorInputs.MemberUnreachable(Nodes[i].Address), null);
            foreach (var i in before.Except(after))
                if (Nodes[i].Member && instance.KnownUnreachable.Remove(Nodes[i].Address))
                    instance.Decide(new CoordinatorInputs.MemberReachable(Nodes[i].Address), null);
        }
    }

    public void OnMemberGone(SimNode node, string how, bool left)
    {
        foreach (var instance in _instances.Where(i => i.Running && i.Node.Member).ToList())
        {
            instance.KnownUnreachable.Remove(node.Address);
            instance.Decide(new CoordinatorInputs.MemberGone(node.Address, how, left), null);
        }
        EnsureSingleton();
    }

    // ---- messages ----------------------------------------------------------------------------------

    public void Deliver(Envelope envelope)
    {
        switch (envelope.To)
        {
            case Endpoint.Agent(var index, var incarnation):
                var node = Nodes[index];
                if (node.Agent is not { Alive: true } agent || (incarnation is { } inc && agent.Incarnation != inc))
                {
                    Log($"dead letter to {node.Name}: {SimText.Of(envelope.Payload)}");
                    return;
                }
                Log($"{NodeName(envelope.From.NodeIndex)} -> {node.Name}: {SimText.Of(envelope.Payload)}");
                agent.Receive(envelope.Payload, envelope.From);
                break;
            case Endpoint.Coordinator(var index, var id):
                var instance = _instances.FirstOrDefault(i => i.Id == id);
                if (instance is not { Running: true })
                {
                    Log($"dead letter to coordinator {Nodes[index].Name}#{id}: {SimText.Of(envelope.Payload)}");
                    return;
                }
                Log($"{NodeName(envelope.From.NodeIndex)} -> {Nodes[index].Name}#{id}: {SimText.Of(envelope.Payload)}");
                var input = envelope.Payload switch
                {
                    IHostMessage m => (ICoordinatorInput)new CoordinatorInputs.FromHost(m),
                    IOperatorMessage m => new CoordinatorInputs.FromOperator(m),
                    _ => throw new InvalidOperationException($"not a coordinator input: {envelope.Payload}"),
                };
                instance.Decide(input, envelope.From);
                break;
        }
    }

    /// <summary>An operator's request (a migration notice through the HTTP API): straight to the singleton, or lost if none runs.</summary>
    public void FromOperator(IOperatorMessage message)
    {
        if (Singleton is not { } instance)
        {
            Log($"operator: no singleton for {SimText.Of(message)}");
            return;
        }
        Log($"operator -> {instance.Node.Name}#{instance.Id}: {SimText.Of(message)}");
        instance.Decide(new CoordinatorInputs.FromOperator(message), null);
    }

    // ---- what the invariants watch -----------------------------------------------------------------

    public void OnKernelChanged(SimNode node, PortId port, string what) { }

    public void OnCommandApplied(SimNode node, CommandId id, bool changedDataPath) => Invariants.CommandApplied(node, id, changedDataPath);

    public void OnEpochStarted(SimCoordinator instance, long epoch) => Invariants.EpochStarted(instance, epoch);

    public void OnCommandSent(SimCoordinator instance, IHostMessage message) => Invariants.CommandSent(instance, message);

    public void OnDeciderThrew(SimCoordinator instance, ICoordinatorInput input, Exception ex)
    {
        Invariants.DeciderThrew(instance, input, ex);
        // The actor crashes; its supervisor restarts it (a new recovery) after a back-off.
        instance.Stop($"the decider threw {ex.GetType().Name}");
        EnsureSingletonAfter(TimeSpan.FromSeconds(1));
    }

    private void EnsureSingletonAfter(TimeSpan delay) => Scheduler.After(delay, "singleton restart", EnsureSingleton);

    // ---- layout helpers ----------------------------------------------------------------------------

    public SimNode HostNode(HostId host) => Nodes.First(n => n.Host?.Host == host);

    public IEnumerable<SimNode> ForwardingHosts(PortId port) => HostNodes.Where(h => h.Kernel.Forwards(port));
}
