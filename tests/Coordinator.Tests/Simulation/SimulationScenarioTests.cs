using Replug.Shared.Devices;

namespace Replug.Coordinator.Tests.Simulation;

/// <summary>Scripted faults over the same world: one fault each, no random ones, the promise checked as in the seeded runs.</summary>
public sealed class SimulationScenarioTests
{
    private static readonly SimulationOptions Scripted = new() { Profile = FaultProfile.None, Hosts = (4, 4), CoordinatorNodes = (1, 1) };

    private static SimulationResult Run(Action<SimWorld> script, int seed = 1) => SimulationRunner.Run(seed, Scripted, script);

    [Fact]
    public void A_crashed_host_has_its_ports_moved_to_the_others()
    {
        SimNode? lost = null;
        var result = Run(world => world.Scheduler.At(5_000, "script", () =>
        {
            lost = world.HostNodes.First(h => h.Host!.Ports.Count > 0);
            lost.Kernel.PowerOff();
            world.CrashNode(lost, "power off (script)");
            world.Scheduler.After(TimeSpan.FromSeconds(15), "script", () => Assert.All(lost.Host!.Ports, p =>
                Assert.Single(world.ForwardingHosts(p.Spec.Port), h => h != lost)));
        }));
        Assert.True(result.Passed, result.Describe());
    }

    [Fact]
    public void A_healed_partition_leaves_every_port_on_one_host()
    {
        var result = Run(world => world.Scheduler.At(5_000, "script", () =>
        {
            var side = new[] { world.HostNodes.First().Index };
            world.Network.Separate(side, cut: true);
            world.Scheduler.After(TimeSpan.FromSeconds(6), "script", () => world.Network.Separate(side, cut: false));
        }));
        Assert.True(result.Passed, result.Describe());
    }

    [Fact]
    public void A_port_follows_its_migrated_nic_to_the_new_host()
    {
        PortId? moved = null;
        SimNode? to = null;
        var result = Run(world => world.Scheduler.At(5_000, "script", () =>
        {
            var from = world.HostNodes.First(h => h.Host!.Ports.Count > 0);
            to = world.HostNodes.First(h => h != from);
            var port = from.Host!.Ports[0];
            moved = port.Spec.Port;
            var nic = from.Kernel.ActiveOf(port.Spec.Port)!.Value;
            var identity = from.Kernel.IdentityOf(nic)!.Value;
            // Every device of the port leaves with the VM; the NIC it ran on arrives on the other host.
            foreach (var member in port.Members.Where(from.Kernel.Has)) from.Kernel.Unplug(member);
            foreach (var member in port.Members) from.Agent!.OnNicRemoved(member);
            world.Scheduler.After(TimeSpan.FromSeconds(1), "script", () =>
            {
                var arrival = DeviceId.Net("mv-script");
                to.Kernel.Plug(arrival, identity);
                to.Agent!.OnNicAdded(arrival, identity);
            });
            world.Scheduler.After(TimeSpan.FromSeconds(20), "script", () => Assert.Equal([to], world.ForwardingHosts(port.Spec.Port)));
        }));
        Assert.True(result.Passed, result.Describe());
    }
    /// <summary>
    /// Seed 10127 (policies eager, StableAfter 4 s) in one fault: a planned detach took a standby's
    /// link down, the agent restarted (the new process does not know the device was drained and
    /// counts it healthy), and the port then moves onto that standby. The real data path brings the
    /// link up as it enslaves the device (BridgeDataPath: IFLA_MASTER and IFF_UP in one
    /// RTM_SETLINK), so the port forwards; a model that kept the link down reported a port that
    /// forwards on no host.
    /// </summary>
    [Fact]
    public void A_port_moved_onto_a_standby_a_planned_detach_took_down_before_its_agent_restarted_forwards()
    {
        SimNode? host = null;
        PortId? moved = null;
        var result = Run(world => world.Scheduler.At(5_000, "script", () =>
        {
            host = world.HostNodes.First(h => h.Host!.Ports.Any(p => p.Members.Count == 2));
            var port = host.Host!.Ports.First(p => p.Members.Count == 2);
            moved = port.Spec.Port;
            var active = host.Kernel.ActiveOf(port.Spec.Port)!.Value;
            host.Kernel.SetLink(port.Members.Single(m => m != active), up: false);
            world.CrashNode(host, "agent killed (script)");
            world.Scheduler.After(TimeSpan.FromMilliseconds(500), "script", () => world.StartNode(host));
            world.Scheduler.After(TimeSpan.FromSeconds(10), "script", () =>
            {
                host.Kernel.Unplug(active);
                host.Agent!.OnNicRemoved(active);
                world.Scheduler.After(TimeSpan.FromSeconds(1), "script", () => Assert.Equal([host], world.ForwardingHosts(moved.Value)));
            });
        }));
        Assert.True(result.Passed, result.Describe());
    }
}
