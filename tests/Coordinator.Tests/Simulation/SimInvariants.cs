using Replug.Coordinator.Deciding;
using Replug.Coordinator.Singleton;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using static Replug.Shared.Protocol.HostProtocol;

namespace Replug.Coordinator.Tests.Simulation;

/// <summary>
/// The promise, checked on what the kernels do rather than on what the coordinator says:
/// <list type="number">
/// <item>at-most-one-host: after every step, no port forwards on two hosts;</item>
/// <item>settled: once faults stop and the settle bound has passed, every port forwards on exactly
/// one host or the coordinator records it Unplaced with a cause;</item>
/// <item>applied-once: no command's effect reaches a data path twice (the ledger forgets on a
/// restart; a re-application that finds the path already so changes nothing and is not counted);</item>
/// <item>epoch-fresh: every instance's epoch is above every epoch used before;</item>
/// <item>views-agree: after quiescence the coordinator's ports and hosts are what the kernels and processes are.</item>
/// </list>
/// A decider that throws is recorded too (one bad input must never fail the coordinator).
/// </summary>
public sealed class SimInvariants(SimWorld world)
{
    public const int MaxViolations = 20;

    private readonly List<Violation> _violations = [];
    private readonly Dictionary<CommandId, string> _changedPathBy = [];
    private readonly SortedSet<string> _doubled = new(StringComparer.Ordinal);
    private long _kernelVersions = -1;
    private long _maxEpoch;

    public IReadOnlyList<Violation> Violations => _violations;
    public long MaxEpoch => _maxEpoch;

    private void Add(string invariant, string detail, params string[] involved)
    {
        if (_violations.Count >= MaxViolations) return;
        var violation = new Violation(invariant, world.Trace.Step, world.Scheduler.Now, detail, involved);
        _violations.Add(violation);
        world.Log($"VIOLATION {violation}");
    }

    /// <summary>Invariant 1, after every step (the kernels' versions say whether anything could have changed).</summary>
    public void AfterStep()
    {
        long versions = 0;
        foreach (var host in world.HostNodes) versions += host.Kernel.Version;
        if (versions == _kernelVersions) return;
        _kernelVersions = versions;
        foreach (var port in world.AllPorts)
        {
            var hosts = world.ForwardingHosts(port).Select(h => h.Name).ToList();
            if (hosts.Count <= 1)
            {
                _doubled.Remove(port.Value);
                continue;
            }
            if (_doubled.Add(port.Value))
                Add("at-most-one-host", $"port {port} forwards on {string.Join(" and ", hosts)}", [port.Value, .. hosts]);
        }
    }

    public void CommandApplied(SimNode node, CommandId id, bool changedDataPath)
    {
        if (!changedDataPath) return;
        // The same host after a power-off or a coordinated shutdown lost the first effect: a repeat there restores it.
        var where = $"{node.Name} (data path generation {node.Kernel.Generation})";
        var key = $"{node.Name}@{node.Kernel.Generation}";
        var repeat = _changedPathBy.TryGetValue(id, out var first) && (first == key || !first.StartsWith(node.Name + "@", StringComparison.Ordinal));
        if (repeat)
            Add("applied-once", $"command {id} changed the data path on {where} after it already did ({first})", node.Name, first!.Split('@')[0], id.ToString());
        _changedPathBy[id] = $"{node.Name}@{node.Kernel.Generation}";
    }

    public void EpochStarted(SimCoordinator instance, long epoch)
    {
        if (epoch <= _maxEpoch)
            Add("epoch-fresh", $"instance {instance.Node.Name}#{instance.Id} started epoch {epoch}; epoch {_maxEpoch} was already used", instance.Node.Name);
        _maxEpoch = Math.Max(_maxEpoch, epoch);
    }

    public void CommandSent(SimCoordinator instance, IHostMessage message)
    {
        var epoch = message switch
        {
            AttachPort a => a.Epoch, DetachPort d => d.Epoch, HostRegistered r => r.Epoch,
            DetachDevice d => d.Epoch, AttachDevice a => a.Epoch, SwitchPortDevice s => s.Epoch,
            _ => (long?)null,
        };
        if (epoch is { } e && e > instance.State.Epoch)
            Add("epoch-fresh", $"instance {instance.Node.Name}#{instance.Id} (epoch {instance.State.Epoch}) sent epoch {e}: {SimText.Of(message)}", instance.Node.Name);
    }

    public void DeciderThrew(SimCoordinator instance, ICoordinatorInput input, Exception ex) =>
        Add("decider-threw", $"{instance.Node.Name}#{instance.Id} on {input.GetType().Name}: {ex.GetType().Name}: {ex.Message}", instance.Node.Name);

    /// <summary>Invariants 2 and 5, once the world has been quiet for the settle bound.</summary>
    public void CheckSettled(string when)
    {
        if (world.Singleton is not { } singleton)
        {
            Add("settled", $"{when}: no coordinator singleton runs");
            return;
        }
        var state = singleton.State;
        foreach (var port in world.AllPorts)
        {
            var hosts = world.ForwardingHosts(port).ToList();
            var names = hosts.Select(h => h.Name).ToArray();
            var record = state.Ports.GetValueOrDefault(port);
            var cause = record is { State: PortState.Unplaced, Failover: { } id } && state.Failovers.TryGetValue(id, out var f)
                && f.Status == FailoverStatus.Unplaced ? f.Steps[^1].What : null;
            if (hosts.Count != 1 && !(hosts.Count == 0 && cause is not null))
                Add("settled", $"{when}: port {port} forwards on {(hosts.Count == 0 ? "no host" : string.Join(" and ", names))}; "
                    + $"the coordinator has it {Describe(record)}", [port.Value, .. names, .. record is null ? Array.Empty<string>() : [record.Host.Value]]);
            if (record is null)
            {
                Add("views-agree", $"{when}: the coordinator does not know port {port}", [port.Value, .. names]);
                continue;
            }
            var agrees = record.State switch
            {
                PortState.Active => hosts.Count == 1 && hosts[0].Host!.Host == record.Host,
                PortState.Unplaced => hosts.Count == 0,
                _ => false,
            };
            if (!agrees)
                Add("views-agree", $"{when}: the coordinator has port {port} {Describe(record)}, the kernels forward it on "
                    + (hosts.Count == 0 ? "no host" : string.Join(" and ", names)), [port.Value, record.Host.Value, .. names]);
        }
        foreach (var node in world.HostNodes.Where(n => n.Member && n.ProcessUp))
        {
            var host = node.Host!.Host;
            if (state.Hosts.GetValueOrDefault(host) is not { } record || record.Status != Replug.Coordinator.Planning.HostStatus.Up)
                Add("views-agree", $"{when}: host {host} is up and a member, the coordinator has it {state.Hosts.GetValueOrDefault(host)?.Status.ToString() ?? "unknown"}", host.Value);
        }
    }

    private static string Describe(PortRecord? record) => record is null ? "unknown" : $"{record.State} on {record.Host}";
}
