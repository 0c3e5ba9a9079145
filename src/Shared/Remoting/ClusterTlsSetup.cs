using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor.Setup;
using Akka.Event;
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
