using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Replug.Agent.Hosting;
using Replug.Coordinator.Singleton;
using Replug.Shared.Hosting;

namespace Replug.Coordinator.Tests;

/// <summary>The service manager sees why a node stopped: the supervisor's give-up becomes the process's exit code.</summary>
public sealed class ExitCodeTests
{
    private static IHost Host()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddAkka("exit-code-test", (_, _) => { });
        return builder.Build();
    }

    [Fact]
    public async Task Giving_up_on_the_coordinators_recovery_ends_the_host_with_exit_code_3()
    {
        var host = Host();
        host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStarted.Register(() =>
            CoordinatorSupervisor.ExitProcess(host.Services.GetRequiredService<ActorSystem>(),
                new CoordinatorGaveUp(3, "the journal is unreadable: malformed")));

        var code = await AgentHost.RunUntilStopped(host, "test", "none").WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(ExitCodes.CoordinatorUnrecoverable, code);
    }

    [Fact]
    public async Task A_plain_stop_still_ends_the_host_with_exit_code_0()
    {
        var host = Host();
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        lifetime.ApplicationStarted.Register(lifetime.StopApplication);

        var code = await AgentHost.RunUntilStopped(host, "test", "none").WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(ExitCodes.Stopped, code);
    }

    /// <summary>The exit code of a host whose coordinated shutdown runs with <paramref name="reason"/> once it has started.</summary>
    private static async Task<int> ExitCodeAfter(CoordinatedShutdown.Reason reason)
    {
        var host = Host();
        host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStarted.Register(() =>
            CoordinatedShutdown.Get(host.Services.GetRequiredService<ActorSystem>()).Run(reason));
        return await AgentHost.RunUntilStopped(host, "test", "none").WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task A_node_the_cluster_downed_ends_with_exit_code_4_so_the_service_manager_restarts_it() =>
        Assert.Equal(ExitCodes.Downed, await ExitCodeAfter(CoordinatedShutdown.ClusterDowningReason.Instance));

    [Fact]
    public async Task A_node_that_could_not_join_through_its_seeds_ends_with_exit_code_4_so_a_fresh_process_tries_again() =>
        Assert.Equal(ExitCodes.Downed, await ExitCodeAfter(CoordinatedShutdown.ClusterJoinUnsuccessfulReason.Instance));
}
