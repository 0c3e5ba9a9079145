using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Replug.Shared.Remoting;

namespace Replug.Shared.Tests.Remoting;

/// <summary>A certificate authority made in memory, as deploy/tls/make-test-ca.sh makes one on disk: EC P-256, node certificates for TLS client and server use.</summary>
internal sealed class TestAuthority
{
    private readonly X509Certificate2 _root;

    private TestAuthority(X509Certificate2 root) => _root = root;

    public static TestAuthority Create(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name} CA", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return new TestAuthority(request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(365)));
    }

    /// <summary>The CA certificate alone, as a node trusts it.</summary>
    public X509Certificate2 Certificate => X509CertificateLoader.LoadCertificate(_root.RawData);

    /// <summary>A node's certificate with its key, for 127.0.0.1, signed by this CA.</summary>
    public X509Certificate2 Issue(string node)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={node}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var issued = request.Create(_root, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(90), RandomNumberGenerator.GetBytes(8));
        using var withKey = issued.CopyWithPrivateKey(key);
        // As ClusterTlsOptions does: a PKCS#12 round trip gives SslStream on Linux a key it can hand to OpenSSL.
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>What a node of this CA's cluster runs with: its certificate, trusting <paramref name="trusting"/> (this CA unless told).</summary>
    public ClusterTlsSetup Node(string node, TestAuthority? trusting = null) => new(Issue(node), (trusting ?? this).Certificate);
}
