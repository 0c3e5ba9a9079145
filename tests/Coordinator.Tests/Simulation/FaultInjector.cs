using Replug.Shared.Devices;
using Replug.Shared.Protocol;

namespace Replug.Coordinator.Tests.Simulation;

/// <summary>
/// Injects the profile's faults at random times during the fault phase, each with the repair
/// that undoes it later (a restart, a heal, a re-plug), so the world keeps changing both ways.
/// </summary>
public sealed class FaultInjector(SimWorld world)
{
    private int _moved;

    private Random Random => world.Random;

    private TimeSpan Between(int minMs, int maxMs) => TimeSpan.FromMilliseconds(minMs + Random.Next(maxMs - minMs));

    public void Schedule(long fromMs, long untilMs)
    {
        var kinds = world.Options.Profile.Kinds;
        if (kinds.Count == 0) return;
        var mean = world.Options.MeanTimeBetweenFaults.TotalMilliseconds;
        var at = (double)fromMs;
        while (true)
        {
            at += -Math.Log(1 - Random.NextDouble()) * mean;
            if (at >= untilMs) break;
            var kind = kinds[Random.Next(kinds.Count)];
            world.Scheduler.At((long)at, $"fault {kind}", () => Inject(kind));
        }
    }

    public void Inject(FaultKind kind)
    {
        if (world.Quiet) return;
        var done = kind switch
        {
            FaultKind.FullPartition => FullPartition(),
            FaultKind.FlappingPartition => FlappingPartition(),
            FaultKind.AsymmetricPartition => AsymmetricPartition(),
            FaultKind.HostCrash => HostCrash(),
            FaultKind.AgentRestart => AgentRestart(),
            FaultKind.AgentCrash => AgentCrash(),
            FaultKind.CoordinatorCrash => CoordinatorCrash(),
            FaultKind.NicRemoval => NicRemoval(),
            FaultKind.Migration => Migration(),
            _ => false,
        };
        if (done) world.CountFault(kind);
    }

    private T Pick<T>(IReadOnlyList<T> from) => from[Random.Next(from.Count)];

    /// <summary>A side of one node up to half the cluster (exactly half now and then: the lowest address breaks the tie).</summary>
    private List<int> Side()
    {
        var n = world.Nodes.Length;
        var size = 1 + Random.Next(Math.Max(1, n / 2));
        return [.. Enumerable.Range(0, n).OrderBy(_ => Random.Next()).Take(size).Order()];
    }

    private string Names(IEnumerable<int> side) => string.Join(",", side.Select(world.NodeName));

    private bool FullPartition()
    {
        var side = Side();
        world.Network.Separate(side, cut: true);
        world.Log($"FAULT partition: [{Names(side)}] cut from the rest");
        world.Repair(Between(500, 12_000), $"partition [{Names(side)}] heals", () => world.Network.Separate(side, cut: false));
        return true;
    }

    private bool FlappingPartition()
    {
        var side = Side();
        var cut = false;
        var flapping = true;
        world.Log($"FAULT flapping partition: [{Names(side)}]");
        void Toggle()
        {
            if (!flapping || world.Quiet) return;
            cut = !cut;
            world.Network.Separate(side, cut);
            world.Log($"partition [{Names(side)}] {(cut ? "cut" : "healed")} (flapping)");
            world.Scheduler.After(Between(300, 3000), "flap", Toggle);
        }
        Toggle();
        world.Repair(Between(3000, 15_000), $"flapping [{Names(side)}] stops", () =>
        {
            flapping = false;
            if (cut) world.Network.Separate(side, cut: false);
        });
        return true;
    }

    private bool AsymmetricPartition()
    {
        var n = world.Nodes.Length;
        var from = Random.Next(n);
        var to = (from + 1 + Random.Next(n - 1)) % n;
        world.Network.Cut(from, to);
        world.Log($"FAULT asymmetric partition: {world.NodeName(from)} -> {world.NodeName(to)} cut (the other way works)");
        world.Repair(Between(500, 12_000), $"link {world.NodeName(from)} -> {world.NodeName(to)} heals", () => world.Network.Heal(from, to));
        return true;
    }

    private SimNode? AnyHost(Func<SimNode, bool> where)
    {
        var hosts = world.HostNodes.Where(where).ToList();
        return hosts.Count == 0 ? null : Pick(hosts);
    }

    private bool HostCrash()
    {
        if (AnyHost(h => h.Kernel.PoweredOn) is not { } host) return false;
        world.Log($"FAULT host {host.Name} powers off (its data path stops)");
        host.Kernel.PowerOff();
        world.CrashNode(host, "host powered off");
        world.Repair(Between(2000, 15_000), $"host {host.Name} powers on", () =>
        {
            host.Kernel.PowerOn();
            world.StartNode(host);
        });
        return true;
    }

    private bool AgentRestart()
    {
        if (AnyHost(h => h.ProcessUp) is not { } host) return false;
        world.Log($"FAULT agent {host.Name} restarts (service stop: coordinated shutdown)");
        world.StopNode(host, "service stop");
        world.Repair(Between(500, 5000), $"agent {host.Name} starts", () => world.StartNode(host));
        return true;
    }

    private bool AgentCrash()
    {
        if (AnyHost(h => h.ProcessUp) is not { } host) return false;
        world.Log($"FAULT agent {host.Name} killed (kill -9; its data path keeps forwarding)");
        world.CrashNode(host, "kill -9");
        world.Repair(Between(1000, 10_000), $"agent {host.Name} starts", () => world.StartNode(host));
        return true;
    }

    private bool CoordinatorCrash()
    {
        var nodes = world.CoordinatorNodes.Where(c => c.ProcessUp).ToList();
        if (nodes.Count == 0) return false;
        var node = world.Singleton?.Node is { } s && Random.NextDouble() < 0.7 ? s : Pick(nodes);
        world.Log($"FAULT coordinator node {node.Name} killed");
        world.CrashNode(node, "kill -9");
        world.Repair(Between(1000, 10_000), $"coordinator node {node.Name} starts", () => world.StartNode(node));
        return true;
    }

    /// <summary>A NIC of a host, most often one a port runs over.</summary>
    private (SimNode Host, DeviceId Device, NicIdentity Identity)? AnyNic(bool preferActive)
    {
        if (AnyHost(h => h.Kernel.PoweredOn && h.Kernel.Nics.Any()) is not { } host) return null;
        var nics = host.Kernel.Nics.ToList();
        if (preferActive && Random.NextDouble() < 0.7)
        {
            var active = host.Kernel.ActivePorts.Select(a => a.Value).ToHashSet();
            var carrying = nics.Where(n => active.Contains(n.Device)).ToList();
            if (carrying.Count > 0) nics = carrying;
        }
        var (device, identity) = Pick(nics);
        return (host, device, identity);
    }

    private void Unplug(SimNode host, DeviceId device)
    {
        host.Kernel.Unplug(device);
        if (host.Agent is { Alive: true } agent) agent.OnNicRemoved(device);
    }

    private void Plug(SimNode host, DeviceId device, NicIdentity identity)
    {
        host.Kernel.Plug(device, identity);
        if (host.Agent is { Alive: true } agent) agent.OnNicAdded(device, identity);
    }

    private bool NicRemoval()
    {
        if (AnyNic(preferActive: true) is not var (host, device, identity)) return false;
        world.Log($"FAULT NIC {device.Name} ({identity.Value}) surprise-removed from {host.Name}");
        Unplug(host, device);
        if (world.Options.Profile.Replugs && Random.NextDouble() < 0.6)
            world.Repair(Between(200, 8000), $"NIC {device.Name} re-plugged on {host.Name}", () =>
            {
                if (!host.Kernel.PoweredOn || host.Kernel.Has(device)) return;
                world.CountFault(FaultKind.NicReplug);
                Plug(host, device, identity);
            });
        return true;
    }

    /// <summary>
    /// A live migration moves a NIC from A to B: a removal on A and an add on B under a new name,
    /// in either order; announced by the orchestrator half the time.
    /// </summary>
    private bool Migration()
    {
        if (AnyNic(preferActive: true) is not var (from, device, identity)) return false;
        var targets = world.HostNodes.Where(h => h != from && h.Kernel.PoweredOn).ToList();
        if (targets.Count == 0) return false;
        var to = Pick(targets);
        var arrival = DeviceId.Net($"mv{++_moved}");
        var announced = Random.NextDouble() < 0.5;
        var addFirst = !announced && Random.NextDouble() < 0.3;
        var window = (int)world.Options.Coordinator.MigrationWindow.TotalMilliseconds;
        HostId A = from.Host!.Host, B = to.Host!.Host;
        world.Log($"FAULT NIC {device.Name} ({identity.Value}) migrates {from.Name} -> {to.Name} as {arrival.Name}"
            + (announced ? " (announced)" : addFirst ? " (arrives first)" : ""));
        if (announced) world.FromOperator(new OperatorProtocol.MigrationNotice(identity, A, B, MigrationPhase.Start));
        void Leave()
        {
            if (from.Kernel.Has(device)) Unplug(from, device);
        }
        void Arrive()
        {
            if (!to.Kernel.PoweredOn) return;
            Plug(to, arrival, identity);
            if (announced)
                world.Scheduler.After(Between(100, 500), "migration completes",
                    () => world.FromOperator(new OperatorProtocol.MigrationNotice(identity, A, B, MigrationPhase.Complete)));
        }
        if (addFirst)
        {
            Arrive();
            world.Repair(Between(10, window * 8 / 10), $"NIC {device.Name} leaves {from.Name}", Leave);
        }
        else
        {
            world.Repair(announced ? Between(100, 500) : TimeSpan.Zero, $"NIC {device.Name} leaves {from.Name}", Leave);
            world.Repair(Between(200, window * 8 / 10), $"NIC {identity.Value} arrives on {to.Name} as {arrival.Name}", Arrive);
        }
        return true;
    }
}
