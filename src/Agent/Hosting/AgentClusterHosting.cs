using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Event;
using Akka.Hosting;
using Replug.Agent.Cluster;
using Replug.Agent.Devices;
using Replug.Agent.Ports;
using Replug.Shared.Devices;
using Replug.Shared.Hosting;
using Replug.Shared.Protocol;

namespace Replug.Agent.Hosting;

/// <summary>Marker for the host agent in Akka.Hosting's registry.</summary>
public sealed class HostAgentKey;

public static class AgentClusterHosting
{
    /// <summary>
    /// An agent as a cluster member: the local actors (ports start fenced) and the host agent that
    /// registers, reports and carries out commands through the node's coordinator proxy
    /// (<see cref="ClusterHosting.WithCoordinatorProxy"/>, added once per node by the caller).
    /// </summary>
    /// <param name="kernelLease">The kernel fence, installed (<see cref="InstallKernelFence"/>); null: none.</param>
    /// <param name="prepared">Where the ports post their prepared switches: the set the uevent source fires (null: the ports prepare none that fire).</param>
    public static AkkaConfigurationBuilder WithAgentNode(this AkkaConfigurationBuilder builder, AgentOptions options,
        ClusterNodeOptions cluster, IDeviceBus bus, Func<AgentOptions.PortOptions, IDataPath>? dataPathFor = null, IKernelLease? kernelLease = null,
        PreparedSwitches? prepared = null)
    {
        builder.WithActors((system, registry, _) =>
        {
            ReleaseFailoverDevices(options, system.Log);
            var actors = AgentActors.Start(system, options, bus, dataPathFor, startFenced: true, prepared: prepared);
            registry.Register<DeviceWatcherKey>(actors.Watcher);
            registry.Register<HistoryKeeper>(actors.History);
            var settings = new HostAgentSettings(new HostId(options.Host), cluster.Lease, options.EffectiveCapacity, options.Reserved,
                options.Ports.ToDictionary(p => new PortId(p.Name), p => new PortSpec(new PortId(p.Name), p.Priority, p.AntiAffinityGroup)),
                TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(100), RenewInterval: options.Fence.RenewInterval,
                AllPortsBridged: options.FenceCoversAllPorts, FencedDevices: options.FencedNetDevices().ToHashSet(StringComparer.Ordinal),
                Load: options.Load.Settings);
            var proxy = registry.Get<CoordinatorProxyKey>();
            var agent = system.ActorOf(HostAgent.Props(settings, actors.Watcher, actors.Ports, proxy, bus,
                FailoverPorts(options, actors.Watcher, dataPathFor, device => IsPresent(bus, device), actors.Prepared), kernelLease), ActorNames.HostAgent);
            registry.Register<HostAgentKey>(agent);
            // Before the node leaves (a stop, or a down by the split brain resolver): the coordinator
            // moves this host's ports once it is gone, and they must have stopped here by then.
            CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseBeforeServiceUnbind, "replug-stop-forwarding", async () =>
            {
                var reason = CoordinatedShutdown.Get(system).ShutdownReason?.ToString() ?? "stopping";
                try { await agent.Ask<Akka.Done>(new HostAgent.StopForwarding($"leaving the cluster: {reason}"), TimeSpan.FromSeconds(4)); }
                catch (Exception e) when (e is AskTimeoutException or TaskCanceledException) { } // the actor's PostStop still takes everything down
                return Akka.Done.Instance;
            });
        });
        return builder;
    }

    /// <summary>
    /// Ports the coordinator sends here (<see cref="FailoverDevicePool.Take"/>): one failed over
    /// takes the next free fail-over device; one that followed its NIC runs over that NIC with the
    /// next free fail-over device as standby. A port's fail-over devices are free again once it
    /// has stopped (detached) and taken its traffic off them.
    /// </summary>
    /// <param name="present">Whether a device exists now (sysfs): absent fail-over devices are not given.</param>
    /// <param name="prepared">Where the ports post their prepared switches (null: they prepare none).</param>
    public static PortFactory FailoverPorts(AgentOptions options, IActorRef watcher, Func<AgentOptions.PortOptions, IDataPath>? dataPathFor,
        Func<DeviceId, bool>? present = null, PreparedSwitches? prepared = null) =>
        FailoverPorts(options, watcher, dataPathFor, out _, present, prepared);

    /// <inheritdoc cref="FailoverPorts(AgentOptions, IActorRef, Func{AgentOptions.PortOptions, IDataPath}?, Func{DeviceId, bool}?)"/>
    /// <param name="pool">The fail-over devices and which are free, for tests and views.</param>
    public static PortFactory FailoverPorts(AgentOptions options, IActorRef watcher, Func<AgentOptions.PortOptions, IDataPath>? dataPathFor,
        out FailoverDevicePool pool, Func<DeviceId, bool>? present = null, PreparedSwitches? prepared = null)
    {
        var devices = new FailoverDevicePool(options.FailoverDevices.Select(ParseDevice));
        pool = devices;
        var made = 0;
        dataPathFor ??= port => DataPaths.Create(port, options.NetworkNamespace);
        return (context, spec, followed) =>
        {
            if (devices.Take(followed, present) is not { } chosen) return null;
            try
            {
                var template = options.FailoverDataPath;
                var port = new AgentOptions.PortOptions
                {
                    Name = spec.Port.Value, Devices = [.. chosen.Members.Select(d => d.ToString())], Revertive = true,
                    Priority = spec.Priority, AntiAffinityGroup = spec.AntiAffinityGroup,
                    DataPath = new AgentOptions.DataPathOptions
                    {
                        Kind = template.Kind, Bridge = template.Bridge?.Replace("{port}", spec.Port.Value),
                        Command = template.Command, DeactivateCommand = template.DeactivateCommand, Timeout = template.Timeout,
                    },
                };
                var failSafe = new FailSafePort(spec.Port, chosen.Members, revertive: true);
                return context.ActorOf(FailSafeGroup.Props(failSafe, dataPathFor(port), watcher, port.DataPath.Timeout,
                        stopped: () => devices.Return(chosen.Taken), prepared: prepared),
                    // A name of its own each time: a port detached and attached again must not collide
                    // with its predecessor, whose stop is asynchronous.
                    $"port-{Uri.EscapeDataString(spec.Port.Value)}-{++made}");
            }
            catch
            {
                devices.Return(chosen.Taken); // no port was made: nothing will give them back
                throw;
            }
        };
    }

    /// <summary>
    /// The kernel fence of an agent in a cluster, installed over its port members and fail-over
    /// devices; null when there is nothing to fence or the fence is off. An error names the cause:
    /// the agent must not start without the fence it was configured with.
    /// </summary>
    public static IKernelLease? InstallKernelFence(AgentOptions options, out string? error)
    {
        error = null;
        var devices = options.FencedNetDevices();
        if (options.Fence.Kind != "nftables" || devices.Count == 0) return null;
        var lease = new NftablesLease(options.Fence.Table, options.NetworkNamespace, options.Fence.Nft);
        var installed = lease.Install(devices);
        if (installed.Succeeded) return lease;
        error = $"cannot install the kernel fence ({lease.Describe}): {installed.Error}";
        return null;
    }

    /// <summary>
    /// Fail-over devices belong to no port when the agent starts; one still in a bridge was put
    /// there by a previous process of this agent that was killed. Released, so the ports the
    /// coordinator attaches again start from a clean path (the kernel fence already keeps them
    /// from forwarding: they are leased only as members of a port the coordinator allows).
    /// </summary>
    private static void ReleaseFailoverDevices(AgentOptions options, ILoggingAdapter log)
    {
        var netDevices = options.FailoverDevices.Select(ParseDevice).Where(d => d.Subsystem == Subsystems.Net).ToList();
        if (netDevices.Count == 0 || options.FailoverDataPath.Kind != "bridge") return;
        using var path = new BridgeDataPath(_ => null, options.NetworkNamespace);
        foreach (var device in netDevices)
        {
            var released = path.DeactivateAsync(new PortId("(fail-over pool)"), device, CancellationToken.None).Result;
            if (!released.Succeeded) log.Warning("Fail-over device {0}: could not release it at start: {1}", device, released.Error);
        }
    }

    private static bool IsPresent(IDeviceBus bus, DeviceId device) => device.Subsystem switch
    {
        Subsystems.Net => bus.FindNet(device.Name) is not null,
        Subsystems.Pci => bus.FindPci(device.Name) is not null,
        _ => true,
    };

    private static DeviceId ParseDevice(string device) =>
        DeviceId.TryParse(device, out var id) ? id : throw new ArgumentException($"'{device}' is not a device id", nameof(device));
}
