using Akka.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Akka.Cluster.Hosting;
using Replug.Agent.Devices;
using Replug.Agent.Observability;
using Replug.Agent.Ports;
using Replug.Agent.Sources;
using Replug.Shared.Hosting;
using Replug.Shared.Serialization;

namespace Replug.Agent.Hosting;

/// <summary>Marker for the watcher in Akka.Hosting's registry.</summary>
public sealed class DeviceWatcherKey;

public static class AgentHost
{
    /// <summary>Short command-line switches for the settings an operator types most.</summary>
    public static readonly Dictionary<string, string> Switches = new()
    {
        ["--replay"] = $"{AgentOptions.Section}:Replay",
        ["--capture"] = $"{AgentOptions.Section}:Capture",
        ["--sysfs"] = $"{AgentOptions.Section}:SysfsRoot",
        ["--netns"] = $"{AgentOptions.Section}:NetworkNamespace",
        ["--host"] = $"{AgentOptions.Section}:Host",
    };

    /// <summary>
    /// Agent-only (no seed nodes, as before the cluster): the host's devices and ports alone. With
    /// <c>Replug:Cluster:SeedNodes</c> the agent joins that cluster (role "agent") and reports to
    /// the coordinator through the singleton proxy; its ports then wait for the coordinator's word.
    /// </summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Configuration.AddCommandLine(args, Switches);
        builder.WithReplugConsoleLogFormat();

        var errors = CommandLine.Check(args, [], Switches.Keys).Concat(CheckConfiguration(builder.Configuration, out var options, out var cluster)).ToList();
        if (errors.Count > 0)
        {
            foreach (var error in errors) Console.Error.WriteLine($"replug-agent: bad configuration: {error}");
            return ExitCodes.BadConfiguration;
        }

        var clustered = cluster.SeedNodes.Count > 0;
        string? fenceError = null;
        var kernelLease = clustered ? AgentClusterHosting.InstallKernelFence(options, out fenceError) : null;
        if (fenceError is not null)
        {
            Console.Error.WriteLine($"replug-agent: {fenceError}");
            return ExitCodes.BadConfiguration;
        }
        var bus = new SysfsDeviceBus(options.SysfsRoot);
        builder.Services.AddSystemd();
        builder.Services.AddSystemdWatchdog();
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<IDeviceBus>(bus);
        var prepared = new PreparedSwitches();
        builder.Services.AddSingleton(prepared);
        builder.Services.AddAgentObservability(clustered);
        builder.Services.AddAkka(ClusterNodeOptions.SystemName, (akka, _) =>
        {
            akka.WithReplugLogging(builder.Configuration).WithActorSystemLivenessCheck();
            if (clustered) akka.WithAkkaClusterReadinessCheck();
            if (clustered) akka.WithAgentClusterMember(options, cluster, bus, kernelLease, prepared);
            else akka.WithActors((system, registry, _) =>
            {
                var actors = AgentActors.Start(system, options, bus, prepared: prepared);
                registry.Register<DeviceWatcherKey>(actors.Watcher);
                registry.Register<HistoryKeeper>(actors.History);
            });
        });
        builder.Services.AddHostedService<UeventSourceService>();
        builder.Services.AddHostedService<AgentHttpListener>();

        // Only a cluster member binds a remoting port.
        return await RunUntilStopped(builder.Build(), "replug-agent", $"{ClusterNodeOptions.Section}:Port, {AgentOptions.Section}:HttpUrls", clustered ? cluster : null);
    }

    /// <summary>
    /// The agent's sections ("Replug:Agent", "Replug:Cluster") read and checked as the executable
    /// does: every problem, each naming its key; none when the options are usable.
    /// </summary>
    public static IReadOnlyList<string> CheckConfiguration(IConfiguration configuration, out AgentOptions options, out ClusterNodeOptions cluster)
    {
        var errors = new List<string>(ConfigurationSections.Unknown(configuration, AgentOptions.Section, ClusterNodeOptions.Section));
        errors.AddRange(ConfigurationSections.LogLevels(configuration));
        TryLoadOptions(configuration, out options, out var agentErrors);
        ConfigurationSections.TryBind(configuration, ClusterNodeOptions.Section, o => o.Validate(), out cluster, out var clusterErrors);
        errors.AddRange(agentErrors);
        errors.AddRange(clusterErrors);
        return errors;
    }

    /// <summary>
    /// Runs the host until Ctrl-C / SIGTERM (0). A port that another process holds is an
    /// operator's problem, not a crash: it is named with the setting that moves it (1). A
    /// coordinated shutdown run with an <see cref="ExitCodeReason"/> (the coordinator that cannot
    /// recover its journal, 3), or because the cluster downed this node (4), ends the process with
    /// that code, so the service manager sees it.
    /// </summary>
    /// <param name="remoting">The node's remoting address, claimed for this process before Akka binds it (<see cref="RemotingPort"/>); null when it binds none.</param>
    public static async Task<int> RunUntilStopped(IHost host, string program, string portSettings, ClusterNodeOptions? remoting = null)
    {
        using (host)
        {
            try
            {
                // Held until the process ends: Akka's listener outlives the host's stop.
                using var port = remoting is null ? null : RemotingPort.Claim(remoting.Hostname, remoting.Port);
                // RunAsync would dispose the services before the shutdown reason can be read.
                await host.StartAsync();
                await host.WaitForShutdownAsync();
                if (ExitCodes.Of(ShutdownReasonOf(host.Services)) is { } exit)
                {
                    Console.Error.WriteLine($"{program}: stopped: {exit.Why}");
                    return exit.Code;
                }
                return ExitCodes.Stopped;
            }
            catch (Exception e) when (AddressInUse(e) is { } problem)
            {
                Console.Error.WriteLine($"{program}: {problem}: address already in use (another Replug running? set {portSettings})");
                return ExitCodes.AddressInUse;
            }
        }
    }

    /// <summary>The reason of the ActorSystem's coordinated shutdown, if it ran.</summary>
    public static Akka.Actor.CoordinatedShutdown.Reason? ShutdownReasonOf(IServiceProvider services) =>
        services.GetService<Akka.Actor.ActorSystem>() is { } system ? Akka.Actor.CoordinatedShutdown.Get(system).ShutdownReason : null;

    /// <summary>What failed to bind (Akka remoting's or Kestrel's message), when <paramref name="e"/> is an address already in use.</summary>
    public static string? AddressInUse(Exception e)
    {
        var chain = new List<Exception>();
        void Walk(Exception x)
        {
            chain.Add(x);
            if (x is AggregateException aggregate) foreach (var inner in aggregate.InnerExceptions) Walk(inner);
            else if (x.InnerException is { } inner) Walk(inner);
        }
        Walk(e);
        if (!chain.Any(x => x is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.AddressAlreadyInUse }
                || x.GetType().Name == "AddressInUseException"))
            return null;
        // The outermost exception that says what it tried to bind ("Failed to bind to [127.0.0.1:4053]", "Failed to bind to address http://...").
        var what = chain.FirstOrDefault(x => x is not AggregateException && x.Message.StartsWith("Failed to bind", StringComparison.Ordinal))?.Message
            ?? "failed to bind";
        var cut = what.IndexOf(". See InnerException", StringComparison.Ordinal);
        return (cut > 0 ? what[..cut] : what).TrimEnd('.').Replace(": address already in use", "");
    }

    /// <summary>Akka logs through the host's ILoggerFactory (console, journald) with <see cref="AkkaLogging"/>.</summary>
    public static AkkaConfigurationBuilder WithReplugLogging(this AkkaConfigurationBuilder builder, IConfiguration? configuration = null) =>
        builder.WithAkkaLogBridge(configuration);

    /// <summary>The agent executable in a cluster: role "agent", the shared protocols' serializers, the coordinator proxy, the host agent.</summary>
    public static AkkaConfigurationBuilder WithAgentClusterMember(this AkkaConfigurationBuilder builder, AgentOptions options,
        ClusterNodeOptions cluster, IDeviceBus bus, IKernelLease? kernelLease = null, PreparedSwitches? prepared = null) => builder
        .WithReplugCluster(cluster, ClusterNodeOptions.AgentRole)
        .WithReplugSerializers()
        .WithCoordinatorProxy()
        .WithAgentNode(options, cluster, bus, kernelLease: kernelLease, prepared: prepared);

    /// <summary>Binds and validates "Replug:Agent"; a misspelt key is an error too, not silently ignored.</summary>
    public static bool TryLoadOptions(IConfiguration configuration, out AgentOptions options, out IReadOnlyList<string> errors) =>
        ConfigurationSections.TryBind(configuration, AgentOptions.Section, o => o.Validate(), out options, out errors);
}

/// <summary>Opens the uevent source (kernel or replay) once the actors run, and closes it first on shutdown.</summary>
/// <param name="metrics">Exports the source's counters (null: not exported).</param>
/// <param name="health">Told whether the source listens (null: not told).</param>
/// <param name="prepared">The ports' prepared switches, fired on the source's thread (null: none).</param>
public sealed class UeventSourceService(AgentOptions options, IRequiredActor<DeviceWatcherKey> watcher,
    ILogger<UeventSourceService> logger, AgentMetrics? metrics = null, AgentHealth? health = null, PreparedSwitches? prepared = null) : IHostedService
{
    private IUeventSource? _source;
    private UeventCaptureWriter? _capture;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var target = await watcher.GetAsync(cancellationToken);
        _source = options.Replay is { } replay
            ? new ReplayUeventSource(replay)
            : new NetlinkUeventSource(new NetlinkSourceOptions
            {
                ReceiveBufferBytes = options.ReceiveBufferBytes,
                NetworkNamespace = options.NetworkNamespace,
            });
        if (options.Capture is { } path) _capture = new UeventCaptureWriter(path);
        switch (_source)
        {
            case NetlinkUeventSource netlink:
                metrics?.ObserveSource(netlink.Counters);
                health?.ObserveSource(() => (netlink.Listening, "netlink uevent socket"));
                break;
            case ReplayUeventSource replaying:
                metrics?.ObserveSource(replaying.Counters);
                health?.ObserveSource(() => (true, $"replay of {options.Replay}"));
                break;
        }
        _source.Start(new ActorUeventSink(target, _capture is null ? null : _capture.Write, prepared));
        logger.LogInformation("Agent {Host} listening: {Source}; sysfs {Root}; {Ports} port(s)", options.Host,
            _source.Description, options.SysfsRoot, options.Ports.Count);
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _source?.Stop();
        if (_source is NetlinkUeventSource netlink) logger.LogInformation("Uevent source counters: {Counters}", netlink.Counters.Snapshot());
        if (_source is ReplayUeventSource replay) logger.LogInformation("Replay counters: {Counters}", replay.Counters.Snapshot());
        _source?.Dispose();
        _capture?.Dispose();
        return Task.CompletedTask;
    }
}
