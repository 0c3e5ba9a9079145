using Akka.Actor;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;

namespace Replug.Shared.Hosting;

/// <summary>
/// Keeps systemd's watchdog (<c>WatchdogSec=</c>) fed while the process is healthy.
/// Microsoft.Extensions.Hosting.Systemd's lifetime sends READY=1 and STOPPING=1 but never
/// <c>WATCHDOG=1</c>; this sends it every <see cref="WatchdogSchedule.PingInterval"/>, each time
/// only after <see cref="IProcessHealthProbe"/> has found the process healthy. A wedged process
/// goes quiet, and systemd kills it (SIGABRT) and, with <c>Restart=always</c>, starts it again.
/// Until the host has started (<paramref name="started"/>, when READY=1 goes out too) it pings
/// without probing: the ActorSystem may not exist yet, and a start that hangs is systemd's
/// <c>TimeoutStartSec=</c> to end. Without a watchdog in the environment it does nothing.
/// </summary>
public sealed class SystemdWatchdog(ISystemdNotifier notifier, IProcessHealthProbe probe, WatchdogSchedule? schedule,
    string whyOff, CancellationToken started, ILogger<SystemdWatchdog> logger, TimeProvider time) : BackgroundService
{
    private static readonly ServiceState Ping = new("WATCHDOG=1");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (schedule is null || !notifier.IsEnabled)
        {
            logger.LogDebug("systemd watchdog off: {Why}", schedule is null ? whyOff : "NOTIFY_SOCKET is not set");
            return;
        }
        logger.LogInformation("systemd watchdog: WATCHDOG=1 every {Interval} while the actor system answers (timeout {Timeout})",
            schedule.PingInterval, schedule.Timeout);
        using var timer = new PeriodicTimer(schedule.PingInterval, time);
        string? withheld = null;
        try
        {
            do
            {
                if (!started.IsCancellationRequested)
                {
                    Send();
                    continue;
                }
                var problem = await probe.CheckAsync(schedule.ProbeDeadline, stoppingToken);
                if (problem is not null)
                {
                    // Once per stretch of trouble, not every interval: systemd ends the process soon after anyway.
                    if (withheld is null)
                        logger.LogError("systemd watchdog: withholding WATCHDOG=1: {Problem}; systemd restarts this process if it stays so for {Timeout}",
                            problem, schedule.Timeout);
                    withheld = problem;
                    continue;
                }
                if (withheld is not null) logger.LogWarning("systemd watchdog: healthy again, WATCHDOG=1 resumed (was: {Problem})", withheld);
                withheld = null;
                Send();
            } while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private void Send()
    {
        try
        {
            notifier.Notify(Ping);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            // systemd's socket gone (a daemon re-exec): the next ping tries again; if none gets through, systemd restarts us, as it should.
            logger.LogWarning("systemd watchdog: WATCHDOG=1 not delivered: {Error}", e.Message);
        }
    }
}

/// <summary>Registers the <see cref="SystemdWatchdog"/>.</summary>
public static class SystemdWatchdogHosting
{
    /// <summary>
    /// Feeds systemd's watchdog while the ActorSystem answers. Call it next to <c>AddSystemd()</c>:
    /// it uses the notifier that registers under systemd, or reads <c>NOTIFY_SOCKET</c> itself.
    /// </summary>
    public static IServiceCollection AddSystemdWatchdog(this IServiceCollection services)
    {
        var schedule = WatchdogSchedule.Read(Environment.GetEnvironmentVariable, Environment.ProcessId, out var whyOff);
        return services.AddHostedService(sp => new SystemdWatchdog(
            sp.GetService<ISystemdNotifier>() ?? new SystemdNotifier(),
            new ActorSystemHealthProbe(() => sp.GetRequiredService<ActorSystem>()),
            schedule, whyOff,
            sp.GetRequiredService<IHostApplicationLifetime>().ApplicationStarted,
            sp.GetRequiredService<ILogger<SystemdWatchdog>>(),
            TimeProvider.System));
    }
}
