using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor.Setup;
using Akka.Event;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Replug.Shared.Hosting;

namespace Replug.Shared.Remoting;

/// <summary>
/// What <see cref="TlsTcpTransport"/> needs from <see cref="ClusterTlsOptions"/>: this node's certificate
/// with its key, and the cluster's CA, the only root a peer's certificate may chain to. Passed to the
/// transport through the actor system's setup, since Akka constructs transports from configuration alone.
/// </summary>
public sealed class ClusterTlsSetup : Setup
{
    public ClusterTlsSetup(X509Certificate2 certificate, X509Certificate2 authority)
    {
        Certificate = certificate;
        Authority = authority;
        // offline: the chain is this certificate and the CA, nothing to fetch.
        Context = SslStreamCertificateContext.Create(certificate, [authority], offline: true);
    }

    public X509Certificate2 Certificate { get; }
    public X509Certificate2 Authority { get; }
    public SslStreamCertificateContext Context { get; }

    /// <summary>How long before expiry the certificate health check turns Degraded.</summary>
    public static readonly TimeSpan RenewWithin = TimeSpan.FromDays(14);

    /// <summary>
    /// This node's certificate and the CA against the clock: Unhealthy once either has expired or is
    /// not yet valid (peers refuse this node then), Degraded within <see cref="RenewWithin"/> of expiry,
    /// else Healthy with the date. Certificates are read at start: a renewed one needs a restart.
    /// </summary>
    public HealthCheckResult Health(DateTimeOffset now)
    {
        var (which, notAfter) = Certificate.NotAfter <= Authority.NotAfter ? ("this node's certificate", Certificate.NotAfter) : ("the cluster's CA", Authority.NotAfter);
        var notBefore = Certificate.NotBefore >= Authority.NotBefore ? Certificate.NotBefore : Authority.NotBefore;
        var until = new DateTimeOffset(notAfter.ToUniversalTime());
        var from = new DateTimeOffset(notBefore.ToUniversalTime());
        var left = until - now;
        if (now < from) return HealthCheckResult.Unhealthy($"not valid before {from:u}: peers refuse this node until then");
        if (left <= TimeSpan.Zero) return HealthCheckResult.Unhealthy($"{which} expired on {until:u}: peers refuse this node; renew it and restart");
        if (left <= RenewWithin) return HealthCheckResult.Degraded($"{which} expires on {until:u}, in {left.TotalDays:0.#} days: renew it and restart this node");
        return HealthCheckResult.Healthy($"valid until {until:u} ({which}, {left.TotalDays:0} days)");
    }

    /// <summary>Why <paramref name="peer"/>'s certificate is refused (null: it is from the cluster's CA and valid now); a refusal is logged, naming <paramref name="remote"/>.</summary>
    public string? Refuse(X509Certificate? peer, string remote, ILoggingAdapter log)
    {
        string? problem;
        if (peer is null) problem = "it showed no certificate";
        else if (peer is X509Certificate2 full) problem = ClusterTlsOptions.Verify(full, Authority);
        else
        {
            using var copy = new X509Certificate2(peer);
            problem = ClusterTlsOptions.Verify(copy, Authority);
        }
        if (problem is not null)
            log.Warning("Refused a TLS connection with {0}: {1}{2}", remote, problem, peer is null ? "" : $" (subject {peer.Subject})");
        return problem;
    }
}
