using System.Collections.Concurrent;
using Akka.Actor;
using Akka.TestKit;
using Replug.Agent.Devices;
using Replug.Agent.Ports;
using Replug.Agent.Tests.Support;
using Replug.Shared.Devices;
using static Replug.Agent.Devices.DeviceProtocol;

namespace Replug.Agent.Tests.Actors;

/// <summary>A watcher over a fake sysfs tree (the real SysfsDeviceBus), with helpers to follow device states.</summary>
public abstract class AgentActorTestBase : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    protected static readonly StepPolicy FastSteps = new(TimeSpan.FromSeconds(1), 2, TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(50));

    protected readonly FakeSysfs Sysfs = new();
    protected readonly Uevents Events = new();
    protected readonly ConcurrentQueue<string> Steps = new();
    protected readonly TestProbe States;

    protected AgentActorTestBase() : this(null) { }

    /// <param name="config">The actor system's configuration (a cluster provider for tests of the host agent); null: the test kit's default.</param>
    protected AgentActorTestBase(Akka.Configuration.Config? config) : base(config)
    {
        States = CreateTestProbe();
        Sys.EventStream.Subscribe(States, typeof(DeviceStateChanged));
    }

    protected IActorRef StartWatcher(IReadOnlyDictionary<DeviceId, ManagedDevice>? managed = null, params string[] subsystems)
    {
        var options = new WatcherOptions(
            (subsystems.Length == 0 ? [Subsystems.Net, Subsystems.Pci] : subsystems).ToHashSet(),
            managed ?? new Dictionary<DeviceId, ManagedDevice>(), FastSteps);
        return Sys.ActorOf(DeviceWatcher.Props(new SysfsDeviceBus(Sysfs.Root), options));
    }

    protected IActorRef StartPort(IActorRef watcher, IDataPath dataPath, bool revertive, params DeviceId[] members) =>
        Sys.ActorOf(FailSafeGroup.Props(new FailSafePort(new PortId("uplink"), members, revertive), dataPath, watcher, TimeSpan.FromSeconds(2)));

    private readonly List<DeviceStateChanged> _seen = [];
    private readonly Dictionary<DeviceId, int> _consumed = [];

    /// <summary>
    /// Waits until <paramref name="device"/> reaches <paramref name="state"/> after the change
    /// the previous wait for that device returned; changes of other devices are kept for their
    /// own waits (devices move concurrently). Each change seen is logged in <see cref="Steps"/>.
    /// </summary>
    protected DeviceStateChanged AwaitState(DeviceId device, DeviceState state)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        var from = _consumed.GetValueOrDefault(device, -1) + 1;
        while (true)
        {
            for (var i = from; i < _seen.Count; i++)
            {
                if (_seen[i].Device != device || _seen[i].To != state) continue;
                _consumed[device] = i;
                return _seen[i];
            }
            from = _seen.Count;
            var left = deadline - DateTime.UtcNow;
            Assert.True(left > TimeSpan.Zero, $"{device} did not reach {state}; seen:\n{string.Join("\n", _seen)}");
            var change = States.ExpectMsg<DeviceStateChanged>(left);
            Steps.Enqueue($"{change.Device} {change.To}");
            _seen.Add(change);
        }
    }

    protected PortStatus PortStatusOf(IActorRef port) => port.Ask<PortStatus>(new PortProtocol.GetPortStatus(), TimeSpan.FromSeconds(3)).Result;

    protected WatcherStats StatsOf(IActorRef watcher) => watcher.Ask<WatcherStats>(new GetWatcherStats(), TimeSpan.FromSeconds(3)).Result;

    /// <summary>A net device that was unplugged and plugged back: new directory, new class link.</summary>
    protected void ReplugNet(string name, int ifIndex, string? pciSlot = null)
    {
        File.Delete(Sysfs.PathOf($"class/net/{name}"));
        Sysfs.AddNet(name, ifIndex, pciSlot: pciSlot);
    }

    protected void UnplugNet(string name)
    {
        Sysfs.RemoveNetDirectory(name);
        File.Delete(Sysfs.PathOf($"class/net/{name}"));
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) Sysfs.Dispose();
    }
}
