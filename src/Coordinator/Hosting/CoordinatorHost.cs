using System.Diagnostics.CodeAnalysis;
using Akka.Cluster.Hosting;
using Akka.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Replug.Agent.Devices;
using Replug.Agent.Hosting;
using Replug.Agent.Observability;
using Replug.Coordinator.Observability;
using Replug.Agent.Ports;
using Replug.Coordinator.Api;
using Replug.Shared.Hosting;

namespace Replug.Coordinator.Hosting;

/// <summary>
/// The coordinator executable's composition. A coordinator node: the cluster ("Replug:Cluster"),
/// the serializers with the coordinator's events, the proxy, the singleton ("Replug:Coordinator")
/// and the HTTP API on <see cref="CoordinatorOptions.ApiUrls"/>. With <see cref="StandaloneFlag"/>
/// the same process is also this machine's agent ("Replug:Agent", the real kernel and /sys): a
/// one-node cluster with both roles.
/// </summary>
public static class CoordinatorHost
{
    public const string ProgramName = "replug-coordinator";
    public const string StandaloneFlag = "--standalone";

    public static async Task<int> RunAsync(string[] args)
    {
        if (!TryBuild(args, out var app, out var errors))
        {
            foreach (var error in errors) Console.Error.WriteLine($"{ProgramName}: bad configuration: {error}");
            return ExitCodes.BadConfiguration;
        }
        return await AgentHost.RunUntilStopped(app, ProgramName, $"{ClusterNodeOptions.Section}:Port, {CoordinatorOptions.Section}:ApiUrls",
            app.Services.GetRequiredService<ClusterNodeOptions>());
    }

    /// <summary>
    /// Reads and checks the configuration (appsettings.json next to the program, then
    /// REPLUG__… environment variables, then the command line) and composes the host; every
    /// problem is named in <paramref name="errors"/>, and nothing is started.
    /// </summary>
    public static bool TryBuild(string[] args, [NotNullWhen(true)] out WebApplication? app, out IReadOnlyList<string> errors)
    {
        app = null;
        var standalone = args.Contains(StandaloneFlag);
        var settings = args.Where(a => a != StandaloneFlag).ToArray();
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = settings, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddCommandLine(settings, AgentHost.Switches);
        builder.WithReplugConsoleLogFormat();

        var problems = new List<string>(CheckArguments(settings, standalone));
        problems.AddRange(CheckConfiguration(builder.Configuration, standalone, out var cluster, out var coordinator, out var agent));
        errors = problems;
        if (problems.Count > 0) return false;

        var tokens = ApiTokens.Load(coordinator.Api, coordinator.Persistence.DataDirectory, out var tokenProblem);
        if (tokens is null)
        {
            errors = [tokenProblem!];
            return false;
        }
        builder.Services.AddSystemd();
        builder.Services.AddSystemdWatchdog();
        builder.Services.AddOpenApi(); // the document of the API, at GET /openapi/v1.json
        builder.Services.AddSingleton(cluster);
        builder.Services.AddCoordinatorObservability();
        builder.Services.AddSingleton(tokens);
        builder.Services.AddReplugRateLimit(coordinator.Api.RateLimit);
        builder.WebHost.ConfigureKestrel(ApiAccess.RaiseKestrelLimits);
        builder.WebHost.UseUrls([.. coordinator.ApiUrls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)]);
        IDeviceBus? bus = null;
        IKernelLease? kernelLease = null;
        var prepared = new PreparedSwitches();
        if (agent is not null)
        {
            kernelLease = AgentClusterHosting.InstallKernelFence(agent, out var fenceError);
            if (fenceError is not null)
            {
                errors = [fenceError];
                return false;
            }
            bus = new SysfsDeviceBus(agent.SysfsRoot);
            builder.Services.AddSingleton(agent);
            builder.Services.AddSingleton(bus);
            builder.Services.AddSingleton(prepared);
            // The agent's instruments and checks join the coordinator's /metrics and /health: no listener of its own.
            builder.Services.AddAgentObservability(clustered: true);
        }
        builder.Services.AddAkka(ClusterNodeOptions.SystemName, (akka, _) =>
        {
            akka.WithReplugLogging(builder.Configuration).WithActorSystemLivenessCheck().WithAkkaClusterReadinessCheck()
                .WithReplugCluster(cluster, agent is null ? [ClusterNodeOptions.CoordinatorRole] : [ClusterNodeOptions.AgentRole, ClusterNodeOptions.CoordinatorRole])
                .WithNodeSerializers(coordinator: true)
                .WithCoordinatorProxy()
                .WithCoordinatorNode(coordinator, cluster);
            if (agent is not null) akka.WithAgentNode(agent, cluster, bus!, kernelLease: kernelLease, prepared: prepared);
            akka.WithFoundingJoin(cluster);
        });
        // After Akka: it opens the kernel's uevent socket once the watcher runs, and closes it first on the way down.
        if (agent is not null) builder.Services.AddHostedService<UeventSourceService>();

        app = builder.Build();
        app.UseReplugApiErrors();
        app.UseReplugWebView(); // its files carry no data: served before the token check
        var apiLog = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Replug.Coordinator.Api");
        app.UseReplugApiAccess(tokens, apiLog);
        app.MapReplugApi();
        if (tokens.GeneratedFile is { } generated)
            app.Lifetime.ApplicationStarted.Register(() => apiLog.LogInformation(
                "API token (scope Write) in {TokenFile}: curl -H \"Authorization: Bearer $(cat {TokenFile})\" …", generated, generated));
        return true;
    }

    /// <summary>
    /// The coordinator's sections ("Replug:Cluster", "Replug:Coordinator", and with
    /// <see cref="StandaloneFlag"/> "Replug:Agent") read and checked as the executable does: every
    /// problem, each naming its key; none when the options are usable.
    /// </summary>
    public static IReadOnlyList<string> CheckConfiguration(IConfiguration configuration, bool standalone,
        out ClusterNodeOptions cluster, out CoordinatorOptions coordinator, out AgentOptions? agent)
    {
        var problems = new List<string>(ConfigurationSections.Unknown(configuration, ClusterNodeOptions.Section, CoordinatorOptions.Section, AgentOptions.Section));
        problems.AddRange(ConfigurationSections.LogLevels(configuration));
        ConfigurationSections.TryBind(configuration, ClusterNodeOptions.Section, o => o.Validate(), out cluster, out var clusterErrors);
        problems.AddRange(clusterErrors);
        ConfigurationSections.TryBind(configuration, CoordinatorOptions.Section, o =>
        {
            o.HttpsCertificate = configuration["Kestrel:Certificates:Default:Path"] is { Length: > 0 };
            return o.Validate();
        }, out coordinator, out var coordinatorErrors);
        problems.AddRange(coordinatorErrors);
        agent = null;
        if (standalone)
        {
            AgentHost.TryLoadOptions(configuration, out var agentOptions, out var agentErrors);
            problems.AddRange(agentErrors);
            agent = agentOptions;
        }
        return problems;
    }

    /// <summary>
    /// With no seed nodes this node founds the cluster: it joins itself (Akka would otherwise wait
    /// for a Join forever). Every other node lists it, or all coordinator nodes, as seeds.
    /// </summary>
    public static AkkaConfigurationBuilder WithFoundingJoin(this AkkaConfigurationBuilder builder, ClusterNodeOptions cluster)
    {
        if (cluster.SeedNodes.Count > 0) return builder;
        return builder.WithActors((system, _) =>
        {
            var self = Akka.Cluster.Cluster.Get(system);
            self.Join(self.SelfAddress);
        });
    }

    /// <summary>
    /// The command line is settings, <see cref="StandaloneFlag"/>, and, with it, the agent's short
    /// switches (<see cref="CommandLine"/>).
    /// </summary>
    public static IReadOnlyList<string> CheckArguments(IReadOnlyList<string> args, bool standalone) =>
        CommandLine.Check(args, [StandaloneFlag], AgentHost.Switches.Keys,
            key => standalone ? null : $"{key} configures the agent: it needs {StandaloneFlag}");
}
