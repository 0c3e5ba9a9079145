using Akka.Actor;
using Replug.Agent.Devices;
using Replug.Agent.Ports;
using Replug.Agent.Sources;
using Replug.Shared.Uevents;
using Replug.Shared.Devices;

namespace Replug.Agent.Hosting;

/// <summary>
/// The agent's actors on one host: the watcher (with its supervisors), one fail-safe group per port, the history;
/// and the switches the ports prepare, which the uevent source fires (<see cref="ActorUeventSinkFor"/>).
/// </summary>
public sealed record AgentActors(IActorRef Watcher, IReadOnlyDictionary<PortId, IActorRef> Ports, IActorRef History, PreparedSwitches Prepared)
{
    /// <summary>
    /// Starts the agent's actors in <paramref name="system"/>. The one composition root for the
    /// executable, the tests and the benchmarks, so they all run the same wiring.
    /// </summary>
    /// <param name="startFenced">In a cluster ports wait for the coordinator's word before carrying traffic.</param>
    /// <param name="prepared">Where the ports post their prepared switches (null: a new set, in <see cref="Prepared"/>).</param>
    public static AgentActors Start(ActorSystem system, AgentOptions options, IDeviceBus bus,
        Func<AgentOptions.PortOptions, IDataPath>? dataPathFor = null, string namePrefix = "", bool startFenced = false,
        PreparedSwitches? prepared = null)
    {
        prepared ??= new PreparedSwitches();
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
                port.DataPath.Timeout, startFenced, prepared: prepared), namePrefix + "port-" + Uri.EscapeDataString(port.Name));
            ports[id] = group;
        }
        return new AgentActors(watcher, ports, history, prepared);
    }

    /// <summary>The sink a uevent source feeds: the watcher, with the ports' prepared switches fired on the source's thread.</summary>
    public IUeventSink ActorUeventSinkFor(Action<Uevent>? observe = null) => new ActorUeventSink(Watcher, observe, Prepared);
}
