using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Replug.Agent.Devices;
using Replug.Agent.Sources;
using AkkaLogLevel = Akka.Event.LogLevel;

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

    public static async Task<int> RunAsync(string[] args)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Configuration.AddCommandLine(args, Switches);

        if (!TryLoadOptions(builder.Configuration, out var options, out var errors))
        {
            foreach (var error in errors) Console.Error.WriteLine($"replug-agent: bad configuration: {error}");
            return 2;
        }

        builder.Services.AddSystemd();
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<IDeviceBus>(new SysfsDeviceBus(options.SysfsRoot));
        builder.Services.AddAkka("replug", (akka, services) => akka
            .ConfigureLoggers(logging =>
            {
                logging.LogLevel = AkkaLogLevel.InfoLevel;
                logging.ClearLoggers();
                logging.AddLoggerFactory();
            })
            .WithActors((system, registry, _) =>
            {
                var actors = AgentActors.Start(system, options, services.GetRequiredService<IDeviceBus>());
                registry.Register<DeviceWatcherKey>(actors.Watcher);
                registry.Register<HistoryKeeper>(actors.History);
            }));
        builder.Services.AddHostedService<UeventSourceService>();

        await builder.Build().RunAsync();
        return 0;
    }

    /// <summary>Binds and validates "Replug:Agent"; a misspelt key is an error too, not silently ignored.</summary>
    public static bool TryLoadOptions(IConfiguration configuration, out AgentOptions options, out IReadOnlyList<string> errors)
    {
        options = new AgentOptions();
        try
        {
            configuration.GetSection(AgentOptions.Section).Bind(options, b => b.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException e)
        {
            errors = [e.InnerException is null ? e.Message : $"{e.Message} {e.InnerException.Message}"];
            return false;
        }
        errors = options.Validate();
        return errors.Count == 0;
    }
}

/// <summary>Opens the uevent source (kernel or replay) once the actors run, and closes it first on shutdown.</summary>
public sealed class UeventSourceService(AgentOptions options, IRequiredActor<DeviceWatcherKey> watcher,
    ILogger<UeventSourceService> logger) : IHostedService
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
        _source.Start(new ActorUeventSink(target, _capture is null ? null : _capture.Write));
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
