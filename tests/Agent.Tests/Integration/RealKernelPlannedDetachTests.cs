using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Akka.Actor;
using Akka.Configuration;
using Replug.Agent.Cluster;
using Replug.Agent.Devices;
using Replug.Agent.Hosting;
using Replug.Agent.Linux;
using Replug.Agent.Tests.Support;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using static Replug.Shared.Protocol.HostProtocol;

namespace Replug.Agent.Tests.Integration;

/// <summary>
/// The coordinator's planned detach on the real kernel, under traffic: a namespace is the host (a
/// port over two veths, its data path the bridge br0, which has the host's address), another is the
/// fabric (the veths' peers in one bridge, and a sender). The kernel's own record of link changes
/// (`ip monitor link`) shows the order: the standby enters br0 before the detached veth's link goes
/// down, and the traffic keeps arriving.
/// </summary>
public sealed partial class RealKernelPlannedDetachTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly Config ClusterConfig = ConfigurationFactory.ParseString("""
        akka.actor.provider = cluster
        akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
        akka.loglevel = INFO
        """);

    private readonly TestNetworkNamespace? _host, _fabric;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<IDisposable> _disposables = [];
    private Process? _monitor;

    public RealKernelPlannedDetachTests() : base(ClusterConfig)
    {
        if (KernelRequirements.MissingReason() is not null) return;
        _host = new TestNetworkNamespace("pdh");
        _fabric = new TestNetworkNamespace("pdf");
    }

    [GeneratedRegex(@"^(?:\d+: )?(?<name>[^:@\s]+)(?:@\S+)?: <(?<flags>[^>]*)>(?<rest>.*)$")]
    private static partial Regex LinkLine();

    [KernelFact]
    public void A_planned_detach_of_the_active_member_moves_the_traffic_to_the_standby_before_the_link_goes_down()
    {
        var host = _host!;
        var fabric = _fabric!;
        host.Ip("link add br0 type bridge");
        host.Ip("addr add 10.78.0.1/24 dev br0");
        host.Ip("link set br0 up");
        fabric.Ip("link add brf type bridge");
        foreach (var veth in new[] { "pd1", "pd2" })
        {
            Shell.Run("ip", $"link add {veth} netns {host.Name} type veth peer name {veth}p netns {fabric.Name}");
            fabric.Ip($"link set {veth}p master brf");
            fabric.Ip($"link set {veth}p up");
        }
        fabric.Ip("addr add 10.78.0.2/24 dev brf");
        fabric.Ip("link set brf up");

        var agent = StartAgent(host, out var incarnation);
        AwaitAssert(() => Assert.Equal("br0", MasterOf("pd1")), TimeSpan.FromSeconds(10));

        // Traffic from the fabric to the host's address, a datagram a millisecond, counted at the host.
        var received = 0;
        var receiver = NetworkNamespace.Run(host.Name, () => new UdpClient(new IPEndPoint(IPAddress.Parse("10.78.0.1"), 7000)));
        var sender = NetworkNamespace.Run(fabric.Name, () => new UdpClient(AddressFamily.InterNetwork));
        _disposables.Add(receiver);
        _disposables.Add(sender);
        _ = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                try { await receiver.ReceiveAsync(_stop.Token); }
                catch (OperationCanceledException) { return; }
                Interlocked.Increment(ref received);
            }
        });
        _ = Task.Run(async () =>
        {
            var target = new IPEndPoint(IPAddress.Parse("10.78.0.1"), 7000);
            while (!_stop.IsCancellationRequested)
            {
                try { await sender.SendAsync(new byte[64], target, _stop.Token); await Task.Delay(1, _stop.Token); }
                catch (OperationCanceledException) { return; }
                catch (SocketException) { } // unreachable for a moment: keep sending
            }
        });
        AwaitAssert(() => Assert.True(Volatile.Read(ref received) > 50, $"{received} datagrams arrived through pd1"), TimeSpan.FromSeconds(10));

        var changes = StartLinkMonitor(host);
        var detach = new DetachDevice(CommandId.New(), 1, DeviceId.Net("pd1"), "maintenance", incarnation);
        agent.Tell(detach, TestActor);
        Assert.Equal(detach.Id, FishForMessage<CommandAcknowledged>(_ => true, TimeSpan.FromSeconds(15)).Id);
        var arrivedAtDetach = Volatile.Read(ref received);

        Assert.Equal("br0", MasterOf("pd2"));
        Assert.DoesNotContain("UP", LinkFlags(host, "pd1"));
        int standbyIn = -1, detachedDown = -1;
        AwaitAssert(() =>
        {
            var lines = changes.ToList();
            standbyIn = lines.FindIndex(l => l.Name == "pd2" && l.Rest.Contains(" master br0 "));
            detachedDown = lines.FindIndex(l => l.Name == "pd1" && !l.Flags.Contains("UP"));
            Assert.True(standbyIn >= 0 && detachedDown >= 0, string.Join("\n", lines));
        }, TimeSpan.FromSeconds(5));
        Assert.True(standbyIn < detachedDown, $"pd2 entered br0 at change {standbyIn}, pd1 went down at change {detachedDown}:\n{string.Join("\n", changes)}");

        // The traffic goes on over pd2, with pd1 down.
        AwaitAssert(() => Assert.True(Volatile.Read(ref received) > arrivedAtDetach + 100, $"{received - arrivedAtDetach} datagrams after the detach"),
            TimeSpan.FromSeconds(10));
    }

    private IActorRef StartAgent(TestNetworkNamespace host, out long incarnation)
    {
        var cluster = Akka.Cluster.Cluster.Get(Sys);
        cluster.Join(cluster.SelfAddress);
        AwaitCondition(() => cluster.SelfMember.Status == Akka.Cluster.MemberStatus.Up, TimeSpan.FromSeconds(10));

        var options = host.AgentWithBridgedPort(["pd1", "pd2"]);
        var bus = new SysfsDeviceBus(host.SysfsRoot);
        var actors = AgentActors.Start(Sys, options, bus);
        var settings = HostAgentSettings.For(new HostId(host.Name), TimeSpan.FromSeconds(5));
        var agent = Sys.ActorOf(HostAgent.Props(settings, actors.Watcher, actors.Ports, TestActor, bus));
        var register = FishForMessage<RegisterHost>(_ => true, TimeSpan.FromSeconds(10));
        incarnation = register.Incarnation;
        agent.Tell(new HostRegistered(register.Host, 1, [new PortId("uplink")], null, incarnation), TestActor);
        return agent;
    }

    private sealed record LinkChange(string Name, string[] Flags, string Rest)
    {
        public override string ToString() => $"{Name} <{string.Join(",", Flags)}>{Rest}";
    }

    /// <summary>`ip monitor link` in the host's namespace, running once it has shown a change of its own (so none is missed).</summary>
    private ConcurrentQueue<LinkChange> StartLinkMonitor(TestNetworkNamespace host)
    {
        var changes = new ConcurrentQueue<LinkChange>();
        var ready = new ManualResetEventSlim();
        _monitor = Process.Start(new ProcessStartInfo("ip", $"-n {host.Name} monitor link") { RedirectStandardOutput = true, RedirectStandardError = true })!;
        _monitor.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not { } line) return;
            if (LinkLine().Match(line) is not { Success: true } m) return;
            if (m.Groups["name"].Value == "lo") ready.Set();
            else changes.Enqueue(new LinkChange(m.Groups["name"].Value, m.Groups["flags"].Value.Split(','), m.Groups["rest"].Value + " "));
        };
        _monitor.BeginOutputReadLine();
        // An alias change of lo is a link change the monitor prints: once one shows, it is listening.
        for (var attempt = 0; !ready.IsSet && attempt < 50; attempt++)
        {
            host.Ip($"link set lo alias replug-monitor-ready-{attempt}");
            ready.Wait(TimeSpan.FromMilliseconds(100));
        }
        Assert.True(ready.IsSet, "ip monitor link showed nothing");
        changes.Clear();
        return changes;
    }

    private string[] LinkFlags(TestNetworkNamespace host, string device) =>
        LinkLine().Match(host.Ip($"-o link show {device}").Trim()) is { Success: true } m ? m.Groups["flags"].Value.Split(',') : [];

    /// <summary>The bridge a device is enslaved to, from the namespace's own sysfs (class/net/DEV/master).</summary>
    private string? MasterOf(string device)
    {
        var link = new FileInfo(Path.Combine(_host!.SysfsRoot, "class/net", device, "master"));
        return link.LinkTarget is { } target ? Path.GetFileName(target) : null;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _stop.Cancel();
            if (_monitor is { HasExited: false }) _monitor.Kill();
            _monitor?.Dispose();
            foreach (var d in _disposables) d.Dispose();
            _host?.Dispose();
            _fabric?.Dispose();
        }
        base.Dispose(disposing);
    }
}
