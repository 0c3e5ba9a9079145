using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Replug.Shared.Remoting;

namespace Replug.Shared.Hosting;

/// <summary>
/// Mutual TLS between the cluster's nodes (section "Replug:Cluster:Tls"): this node's certificate
/// and key (PEM) and the cluster's certificate authority. With them every connection, in and out, is
/// TLS, both ends show a certificate, and a peer is accepted only when its certificate chains to
/// <see cref="Authority"/> (no other root, not the system's store) and is valid now. A node without a
/// certificate, or with one from another CA, fails the handshake: it can neither join nor send.
/// All three settings or none; none is plain TCP (a lab, loopback).
/// </summary>
public sealed class ClusterTlsOptions
{
    public const string Section = ClusterNodeOptions.Section + ":Tls";

    /// <summary>This node's certificate (PEM), signed by <see cref="Authority"/>; it must allow TLS client and server use.</summary>
    public string? Certificate { get; set; }
    /// <summary>Its private key (PEM, unencrypted; keep the file readable by the service's user only).</summary>
    public string? Key { get; set; }
    /// <summary>The cluster's CA certificate (PEM): the only root a peer's certificate may chain to.</summary>
    public string? Authority { get; set; }

    public bool Enabled => Certificate is not null || Key is not null || Authority is not null;

    /// <summary>Every problem, each naming its key: files that cannot be read, a key that is not the certificate's, a certificate the CA did not sign or that is not valid now.</summary>
    public IReadOnlyList<string> Validate()
    {
        if (!Enabled) return [];
        var errors = new List<string>();
        void Add(string key, string problem) => errors.Add($"{Section}:{key}: {problem}");
        if (Certificate is null) Add(nameof(Certificate), "required with Key and Authority (this node's certificate, PEM)");
        if (Key is null) Add(nameof(Key), "required with Certificate and Authority (this node's private key, PEM)");
        if (Authority is null) Add(nameof(Authority), "required with Certificate and Key (the cluster's CA certificate, PEM)");
        if (errors.Count > 0) return errors;

        X509Certificate2? authority = null;
        try
        {
            authority = X509CertificateLoader.LoadCertificateFromFile(Authority!);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            Add(nameof(Authority), $"'{Authority}' is not a readable certificate: {e.Message}");
        }
        X509Certificate2? own = null;
        try
        {
            own = X509Certificate2.CreateFromPemFile(Certificate!, Key!);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            Add(nameof(Certificate), $"'{Certificate}' with the key '{Key}' is not a usable certificate and key: {e.Message}");
        }
        if (own is not null && authority is not null && Verify(own, authority) is { } problem)
            Add(nameof(Certificate), $"'{Certificate}': {problem}");
        own?.Dispose();
        authority?.Dispose();
        return errors;
    }

    /// <summary>Why <paramref name="peer"/> is not a certificate of the cluster whose CA is <paramref name="authority"/> (null: it is).</summary>
    public static string? Verify(X509Certificate2 peer, X509Certificate2 authority)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(authority);
        // A private CA publishes no revocation lists; a node is revoked by re-keying the cluster.
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain.Build(peer)) return null;
        var status = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
        return $"not issued by the cluster's CA ({authority.Subject}) or not valid now{(status.Length > 0 ? $": {status}" : "")}";
    }

    /// <summary>What the TLS transport (<see cref="TlsTcpTransport"/>) uses: this node's certificate with its key, and the CA.</summary>
    public ClusterTlsSetup ToSetup()
    {
        using var pem = X509Certificate2.CreateFromPemFile(Certificate!, Key!);
        // SslStream on Linux wants the key in a form it can export to OpenSSL: a PKCS#12 round trip gives it one.
        var certificate = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        return new ClusterTlsSetup(certificate, X509CertificateLoader.LoadCertificateFromFile(Authority!));
    }
}
