using System.Diagnostics;
using System.Runtime.CompilerServices;
using Akka.Actor;
using Akka.DependencyInjection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Replug.Agent.Observability;

/// <summary>
/// What the agent's readiness depends on, reported by the code that knows it (the uevent
/// source's service, the host agent) and read by the health checks from any thread. Times are
/// Stopwatch timestamps: a stepped wall clock must not make a lease look held.
/// </summary>
public sealed class AgentHealth
{
    private static readonly ConditionalWeakTable<ActorSystem, AgentHealth> BySystem = new();

    private readonly object _gate = new();
    private Func<(bool Open, string What)>? _source;
    private TimeSpan _lease;
    private bool _clustered, _kernelFence;
    private long _leaseEndsAt, _fenceRenewedAt;
    private string? _leaseLost, _fenceError;

    /// <summary>The health of <paramref name="system"/>'s host (from its services), or of the system alone when it has none.</summary>
    public static AgentHealth For(ActorSystem system) => BySystem.GetValue(system, s =>
        s.Settings.Setup.Get<DependencyResolverSetup>().HasValue
            ? DependencyResolver.For(s).Resolver.GetService<AgentHealth>() ?? new AgentHealth()
            : new AgentHealth());

    /// <summary>The uevent source: whether it listens now, and what it is ("netlink socket", "replay FILE").</summary>
    public void ObserveSource(Func<(bool Open, string What)> source) { lock (_gate) _source = source; }

    /// <summary>The host agent started in a cluster: a lease of <paramref name="lease"/> is expected, renewed in the kernel when <paramref name="kernelFence"/>.</summary>
    public void Clustered(TimeSpan lease, bool kernelFence)
    {
        lock (_gate) (_clustered, _lease, _kernelFence) = (true, lease, kernelFence);
    }

    /// <summary>The coordinator granted the lease until <paramref name="endsAt"/> (a Stopwatch timestamp).</summary>
    public void LeaseGranted(long endsAt)
    {
        lock (_gate) (_leaseEndsAt, _leaseLost) = (endsAt, null);
    }

    public void LeaseRevoked(string reason)
    {
        lock (_gate) (_leaseEndsAt, _leaseLost) = (0, reason);
    }

    public void FenceRenewed()
    {
        lock (_gate) (_fenceRenewedAt, _fenceError) = (Stopwatch.GetTimestamp(), null);
    }

    public void FenceFailed(string error)
    {
        lock (_gate) _fenceError = error;
    }

    /// <summary>Whether the uevent source listens: without it the agent hears no NIC come or go.</summary>
    public HealthCheckResult UeventSource()
    {
        Func<(bool Open, string What)>? source;
        lock (_gate) source = _source;
        if (source is null) return HealthCheckResult.Unhealthy("the uevent source has not started");
        var (open, what) = source();
        return open ? HealthCheckResult.Healthy($"{what}: listening") : HealthCheckResult.Unhealthy($"{what}: closed");
    }

    /// <summary>In a cluster: whether the coordinator's lease is held now (without it the host's ports are fenced).</summary>
    public HealthCheckResult Lease(long now)
    {
        lock (_gate)
        {
            if (!_clustered) return HealthCheckResult.Healthy("not in a cluster: no lease needed");
            if (_leaseEndsAt > now)
                return HealthCheckResult.Healthy($"held for {Stopwatch.GetElapsedTime(now, _leaseEndsAt).TotalSeconds:0.0} s more");
            return HealthCheckResult.Unhealthy(_leaseLost is { } why ? $"revoked: {why}"
                : _leaseEndsAt == 0 ? "not granted yet: the coordinator has not confirmed this host"
                : $"ran out {Stopwatch.GetElapsedTime(_leaseEndsAt, now).TotalSeconds:0.0} s ago: no grant from the coordinator");
        }
    }

    /// <summary>In a cluster with the kernel fence: whether it was renewed within one lease (its entries lapse after that).</summary>
    public HealthCheckResult KernelFence(long now)
    {
        lock (_gate)
        {
            if (!_clustered || !_kernelFence) return HealthCheckResult.Healthy("no kernel fence on this host");
            if (_fenceError is { } error) return HealthCheckResult.Unhealthy($"the last renewal failed: {error}");
            if (_fenceRenewedAt == 0) return HealthCheckResult.Unhealthy("not renewed yet (no lease granted)");
            var since = Stopwatch.GetElapsedTime(_fenceRenewedAt, now);
            return since <= _lease
                ? HealthCheckResult.Healthy($"renewed {since.TotalMilliseconds:0} ms ago")
                : HealthCheckResult.Unhealthy($"last renewed {since.TotalSeconds:0.0} s ago, longer than the lease ({_lease.TotalSeconds:0.0} s)");
        }
    }
}

/// <summary>One of <see cref="AgentHealth"/>'s checks as an ASP.NET health check.</summary>
internal sealed class AgentHealthCheck(AgentHealth health, Func<AgentHealth, long, HealthCheckResult> check) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(check(health, Stopwatch.GetTimestamp()));
}
