using Akka.Actor;
using Akka.Cluster;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Replug.Agent.Devices;
using Replug.Agent.Hosting;
using Replug.Agent.Ports;
using Replug.Agent.Tests.Support;
using Replug.Agent.Observability;
using Replug.Coordinator.Hosting;
using Replug.Coordinator.Observability;
using Replug.Coordinator.Singleton;
using Replug.Shared.Hosting;

namespace Replug.Coordinator.Tests.Support;

/// <summary>
/// One cluster node in this process: a generic host with Akka.Hosting, composed by the same
/// steps as the executables, remoting over TCP on loopback (a free port).
/// </summary>
public sealed class TestNode : IAsyncDisposable
{
    private readonly IHost _host;
    private bool _stopped;

    private TestNode(string name, IHost host)
    {
        Name = name;
        _host = host;
        System = host.Services.GetRequiredService<ActorSystem>();
    }

    public string Name { get; }
    public ActorSystem System { get; }
    public Akka.Cluster.Cluster Cluster => Akka.Cluster.Cluster.Get(System);
    public Address Address => Cluster.SelfAddress;
    public ActorRegistry Registry => _host.Services.GetRequiredService<ActorRegistry>();
    public IActorRef CoordinatorProxy => Registry.Get<CoordinatorProxyKey>();
    /// <summary>This node's metrics as /metrics serves them (Prometheus' text format).</summary>
    public async Task<string> MetricsText()
    {
        using var text = new MemoryStream();
        await _host.Services.GetRequiredService<Replug.Agent.Observability.PrometheusExport>().WriteAsync(text, CancellationToken.None);
        return global::System.Text.Encoding.UTF8.GetString(text.ToArray());
    }

    /// <summary>An agent node's device watcher: tests hand it the uevents a kernel would send.</summary>
    public IActorRef Watcher => Registry.Get<DeviceWatcherKey>();

    /// <summary>Fast failure detection and a short lease, so tests see fail-over in seconds.</summary>
    public static ClusterNodeOptions FastCluster() => new()
    {
        Port = 0,
        HeartbeatInterval = TimeSpan.FromMilliseconds(200),
        AcceptableHeartbeatPause = TimeSpan.FromSeconds(1),
        Lease = TimeSpan.FromSeconds(1),
        LeaseMargin = TimeSpan.FromMilliseconds(500),
        StableAfter = TimeSpan.FromSeconds(2),
    };

    public static CoordinatorOptions Coordinator(string dataDirectory) => new()
    {
        MigrationWindow = TimeSpan.FromSeconds(2),
        CommandRetryInterval = TimeSpan.FromMilliseconds(300),
        CommandAttempts = 5,
        Persistence = new PersistenceOptions { DataDirectory = dataDirectory, SnapshotEvery = 20 },
    };

    /// <summary>Nodes started after this is set load Akka.Remote's throttler, so a test can cut links (<see cref="Isolate"/>).</summary>
    public static bool Partitionable { get; set; }

    /// <summary>Replaces the nodes' logging (tests: Akka's own, at Info; benchmarks: quieter, or to stderr).</summary>
    public static Action<AkkaConfigurationBuilder, ILoggingBuilder>? ConfigureLogging { get; set; }

    /// <param name="giveUp">What the coordinator's supervisor does when out of recovery attempts; the process would exit otherwise.</param>
    public static Task<TestNode> StartCoordinator(string name, CoordinatorOptions options, ClusterNodeOptions? cluster = null,
        Action<ActorSystem, CoordinatorGaveUp>? giveUp = null) =>
        Start(name, cluster ?? FastCluster(), ClusterNodeOptions.CoordinatorRole, b => b.WithCoordinatorNode(options, cluster ?? FastCluster(), giveUp));

    public static Task<TestNode> StartAgent(string name, AgentOptions options, IDeviceBus bus, Func<AgentOptions.PortOptions, IDataPath> dataPaths,
        ClusterNodeOptions? cluster = null) =>
        Start(name, cluster ?? FastCluster(), ClusterNodeOptions.AgentRole, b => b.WithAgentNode(options, cluster ?? FastCluster(), bus, dataPaths));

    /// <summary>Drops every message between this node and <paramref name="others"/>, both ways: a network partition.</summary>
    public async Task Isolate(IEnumerable<TestNode> others)
    {
        var transport = ((Akka.Remote.RemoteActorRefProvider)((ExtendedActorSystem)System).Provider).Transport;
        foreach (var other in others)
            await transport.ManagementCommand(new Akka.Remote.Transport.SetThrottle(other.Address,
                Akka.Remote.Transport.ThrottleTransportAdapter.Direction.Both, Akka.Remote.Transport.Blackhole.Instance));
    }

    /// <summary>
    /// A cluster member with the given role and whatever <paramref name="compose"/> adds (the proxy is always there).
    /// <paramref name="coordinatorSerializers"/>: bind the coordinator's events and queries (a coordinator node has
    /// them; an agent-role node that asks the singleton needs them too).
    /// </summary>
    public static async Task<TestNode> Start(string name, ClusterNodeOptions cluster, string role, Action<AkkaConfigurationBuilder> compose,
        string? extraHocon = null, bool? coordinatorSerializers = null)
    {
        var partitionable = Partitionable;
        var configureLogging = ConfigureLogging;
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        // The node's instruments exported as the executables export them (MetricsText).
        builder.Services.AddCoordinatorObservability();
        builder.Services.AddAgentObservability(clustered: true);
        builder.Services.AddAkka(ClusterNodeOptions.SystemName, (akka, _) =>
        {
            akka.ConfigureLoggers(l => l.LogLevel = Akka.Event.LogLevel.InfoLevel);
            configureLogging?.Invoke(akka, builder.Logging);
            // Crash() terminates without leaving, as a dead process does; a normal stop still leaves
            // through the host's coordinated shutdown.
            akka.AddHocon("akka.coordinated-shutdown.run-by-actor-system-terminate = off", HoconAddMode.Prepend);
            if (partitionable) akka.AddHocon("akka.remote.dot-netty.tcp.applied-adapters = [trttl]", HoconAddMode.Prepend);
            if (extraHocon is not null) akka.AddHocon(extraHocon, HoconAddMode.Prepend);
            akka.WithReplugCluster(cluster, role);
            akka.WithNodeSerializers(coordinatorSerializers ?? role == ClusterNodeOptions.CoordinatorRole);
            akka.WithCoordinatorProxy();
            compose(akka);
        });
        var host = builder.Build();
        await host.StartAsync();
        return new TestNode(name, host);
    }

    /// <summary>Joins <paramref name="seed"/>'s cluster (itself when null) and waits until this node is Up.</summary>
    public async Task Join(TestNode? seed)
    {
        Cluster.Join(seed?.Address ?? Address);
        await Wait.Until(() => Cluster.SelfMember.Status == MemberStatus.Up, $"{Name} to be Up");
    }

    public async Task<T> Ask<T>(object query, TimeSpan? timeout = null) => await CoordinatorProxy.Ask<T>(query, timeout ?? TimeSpan.FromSeconds(10));

    /// <summary>A hard stop: the ActorSystem ends without leaving the cluster, as a crashed host does.</summary>
    public async Task Crash()
    {
        if (_stopped) return;
        _stopped = true;
        await System.Terminate();
        _host.Dispose();
    }

    /// <summary>A graceful stop: the host's coordinated shutdown leaves the cluster first.</summary>
    public async Task Leave()
    {
        if (_stopped) return;
        _stopped = true;
        try { await _host.StopAsync(TimeSpan.FromSeconds(15)); } catch (OperationCanceledException) { }
        _host.Dispose();
    }

    public async ValueTask DisposeAsync() => await Leave();
}

public static class Wait
{
    /// <summary>Polls until <paramref name="condition"/> holds; fails naming <paramref name="what"/> after a generous bound.</summary>
    public static async Task Until(Func<bool> condition, string what, TimeSpan? timeout = null, int pollMs = 20)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        var deadline = DateTime.UtcNow + limit;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out after {limit.TotalSeconds:0} s waiting for {what}");
            await Task.Delay(pollMs);
        }
    }

    public static async Task Until(Func<Task<bool>> condition, string what, TimeSpan? timeout = null, int pollMs = 50)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            try { if (await condition()) return; }
            catch (Exception e) when (e is AskTimeoutException or TimeoutException) { }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out after {limit.TotalSeconds:0} s waiting for {what}");
            await Task.Delay(pollMs);
        }
    }
}

/// <summary>An agent host without hardware: a fake sysfs with its NICs, and a data path that records what it did.</summary>
public sealed class FakeHost : IDisposable
{
    public FakeHost(string name, int firstIfIndex, IEnumerable<string> nics, System.Collections.Concurrent.ConcurrentQueue<string>? sharedLog = null)
    {
        Name = name;
        Path = new RecordingDataPath(sharedLog);
        var i = firstIfIndex;
        foreach (var nic in nics)
        {
            Sysfs.AddNet(nic, i, mac: $"52:54:00:{i / 65536 % 256:x2}:{i / 256 % 256:x2}:{i % 256:x2}", addrAssignType: 0, pciSlot: null);
            i++;
        }
    }

    public string Name { get; }
    public FakeSysfs Sysfs { get; } = new();
    /// <summary>What the host's data path did; several hosts may share one log to show the order across hosts.</summary>
    public RecordingDataPath Path { get; }
    public IDeviceBus Bus => new SysfsDeviceBus(Sysfs.Root);

    public AgentOptions Options(IEnumerable<AgentOptions.PortOptions> ports, IEnumerable<string> failoverDevices, bool reserved = false) => new()
    {
        Host = Name,
        SysfsRoot = Sysfs.Root,
        Subsystems = ["net"],
        Ports = [.. ports],
        FailoverDevices = [.. failoverDevices],
        Reserved = reserved,
    };

    public static AgentOptions.PortOptions Port(string name, params string[] devices) => new()
    {
        Name = name, Devices = [.. devices], DataPath = new AgentOptions.DataPathOptions { Kind = "bridge", Bridge = "br-" + name },
    };

    public void Dispose() => Sysfs.Dispose();
}
