using Akka.Actor;
using Replug.Agent.Devices;
using Replug.Agent.Sources;
using Replug.Agent.Tests.Support;
using Replug.Shared.Devices;
using Replug.Shared.Uevents;
using static Replug.Agent.Devices.DeviceProtocol;

namespace Replug.Agent.Tests.Integration;

/// <summary>
/// The watcher and the netlink source on the real kernel, after a receive buffer overflow: what
/// the agent knows afterwards must be what sysfs shows, whatever the kernel kept and dropped.
/// </summary>
public sealed class OverflowResyncTests : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    private static readonly DeviceId Member = DeviceId.Net("st1");
    private readonly TestNetworkNamespace? _host;
    private NetlinkUeventSource? _source;

    public OverflowResyncTests()
    {
        if (KernelRequirements.MissingReason() is null) _host = new TestNetworkNamespace("rpors");
    }

    /// <summary>
    /// A stopped agent (SIGSTOP) is a socket nobody reads: here the source is opened and not
    /// started. The kernel keeps the first messages of the storm (the removal of st1), drops the
    /// rest (its re-creation among them), and reports ENOBUFS before the kept ones. Those are
    /// older than any rescan: handled after the rescan started, the removal used to win over the
    /// rescan's view, and st1 stayed Detached although it existed.
    /// </summary>
    [KernelFact]
    public void A_device_removed_and_recreated_while_the_agent_was_stopped_is_active_after_the_overflow_rescan()
    {
        var host = _host!;
        RunBatch(host, [
            "link add st1 type veth peer name st1p",
            .. Enumerable.Range(0, 100).Select(i => $"link add s{i} type veth peer name t{i}"),
        ]);
        var states = CreateTestProbe();
        Sys.EventStream.Subscribe(states, typeof(DeviceStateChanged));
        var resyncs = CreateTestProbe();
        Sys.EventStream.Subscribe(resyncs, typeof(ResyncCompleted));
        var watcher = Sys.ActorOf(DeviceWatcher.Props(new SysfsDeviceBus(host.SysfsRoot), new WatcherOptions(
            new HashSet<string> { Subsystems.Net },
            new Dictionary<DeviceId, ManagedDevice> { [Member] = ManagedDevice.PortMember },
            StepPolicy.Default)));
        resyncs.ExpectMsg<ResyncCompleted>(TimeSpan.FromSeconds(30));
        states.FishForMessage<DeviceStateChanged>(c => c.Device == Member && c.To == DeviceState.Active, TimeSpan.FromSeconds(30));
        var events = CreateTestProbe();
        watcher.Tell(new Subscribe(events.Ref, DeviceEventFilter.ForDevice(Member)), events.Ref);
        events.ExpectMsg<SubscriptionAck>();

        _source = new NetlinkUeventSource(new NetlinkSourceOptions { NetworkNamespace = host.Name, ReceiveBufferBytes = 16 * 1024 });
        RunBatch(host, [
            "link del st1",
            .. Enumerable.Range(0, 100).Select(i => $"link del s{i}"),
            .. Enumerable.Range(0, 100).Select(i => $"link add s{i} type veth peer name t{i}"),
            .. Enumerable.Range(0, 50).Select(i => $"link set s{i} name r{i}"),
            "link add st1 type veth peer name st1p",
        ]);
        _source.Start(new ActorUeventSink(watcher));

        resyncs.ExpectMsg<ResyncCompleted>(TimeSpan.FromSeconds(30));
        // The kernel kept st1's removal and dropped its re-creation: the rescan brings it back.
        var removal = events.FishForMessage<DeviceEvent>(_ => true, TimeSpan.FromSeconds(10), "st1's removal, kept by the kernel");
        Assert.Equal((UeventOrigin.Kernel, UeventAction.Remove), (removal.Uevent.Origin, removal.Uevent.Action));
        var back = events.FishForMessage<DeviceEvent>(_ => true, TimeSpan.FromSeconds(10), "st1 found again by the rescan");
        Assert.Equal((UeventOrigin.Resync, UeventAction.Add), (back.Uevent.Origin, back.Uevent.Action));
        Assert.True(_source.Counters.Overflows >= 1, "the storm did not overflow the buffer");

        AwaitAssert(() =>
        {
            var devices = watcher.Ask<DeviceList>(new GetDevices(), TimeSpan.FromSeconds(10)).GetAwaiter().GetResult().Devices;
            Assert.Equal(DeviceState.Active, Assert.Single(devices, d => d.Device == Member).State);
            // Everything else the agent believes present is what sysfs lists, renames included.
            var present = devices.Where(d => d.Present).Select(d => d.Device.Name).Order(StringComparer.Ordinal);
            var listed = Directory.EnumerateFileSystemEntries(Path.Combine(host.SysfsRoot, "class/net")).Select(Path.GetFileName).Order(StringComparer.Ordinal);
            Assert.Equal(listed, present);
        }, TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(200));
    }

    private static void RunBatch(TestNetworkNamespace host, IEnumerable<string> commands)
    {
        var batch = Path.Combine(Path.GetTempPath(), $"replug-batch-{host.Name}.txt");
        try
        {
            File.WriteAllLines(batch, commands);
            host.Ip($"-batch {batch}");
        }
        finally
        {
            File.Delete(batch);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _source?.Dispose();
            _host?.Dispose();
        }
        base.Dispose(disposing);
    }
}
