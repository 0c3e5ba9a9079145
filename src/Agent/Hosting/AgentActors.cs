using Akka.Actor;
using Replug.Agent.Devices;
using Replug.Agent.Ports;
using Replug.Shared.Devices;

namespace Replug.Agent.Hosting;

/// <summary>The agent's actors on one host: the watcher (with its supervisors), one fail-safe group per port, the history.</summary>
public sealed record AgentActors(IActorRef Watcher, IReadOnlyDictionary<PortId, IActorRef> Ports, IActorRef History)
{
    /// <summary>
    /// Starts the agent's actors in <paramref name="system"/>. The one composition root for the
    /// executable, the tests and the benchmarks, so they all run the same wiring.
    /// </summary>
    /// <param name="startFenced">In a cluster ports wait for the coordinator's word before carrying traffic.</param>
    public static AgentActors Start(ActorSystem system, AgentOptions options, IDeviceBus bus,
        Func<AgentOptions.PortOptions, IDataPath>? dataPathFor = null, string namePrefix = "", bool startFenced = false)
    {
        dataPathFor ??= port => DataPaths.Create(port, options.NetworkNamespace);
        var history = system.ActorOf(HistoryKeeper.Props(options.HistorySize), namePrefix + "history");
        var watcher = system.ActorOf(
            DeviceWatcher.Props(bus, new WatcherOptions(options.EffectiveSubsystems, options.ManagedDevices(), options.StepPolicy)),
            namePrefix + "device-watcher");
        var ports = new Dictionary<PortId, IActorRef>();
        foreach (var port in options.Ports)
        {
            var id = new PortId(port.Name);
            var members = port.Devices.Select(d => DeviceId.TryParse(d, out var dev) ? dev
                : throw new ArgumentException($"port {port.Name}: '{d}' is not a device id")).ToList();
            var group = system.ActorOf(FailSafeGroup.Props(new FailSafePort(id, members, port.Revertive), dataPathFor(port), watcher,
                port.DataPath.Timeout, startFenced), namePrefix + "port-" + Uri.EscapeDataString(port.Name));
            ports[id] = group;
        }
        return new AgentActors(watcher, ports, history);
    }
}
