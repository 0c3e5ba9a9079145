using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Replug.Shared.Tests.Remoting;

public sealed class ClusterTlsSetupTests
{
    private static readonly TestAuthority Cluster = TestAuthority.Create("cluster");

    [Fact]
    public void The_certificate_check_is_healthy_until_two_weeks_before_expiry_then_degraded_then_unhealthy_once_expired()
    {
        var tls = Cluster.Node("a");
        var notAfter = new DateTimeOffset(tls.Certificate.NotAfter.ToUniversalTime());
        var notBefore = new DateTimeOffset(tls.Certificate.NotBefore.ToUniversalTime());

        var now = tls.Health(DateTimeOffset.UtcNow);
        var soon = tls.Health(notAfter - TimeSpan.FromDays(10));
        var expired = tls.Health(notAfter + TimeSpan.FromSeconds(1));
        var early = tls.Health(notBefore - TimeSpan.FromSeconds(1));

        Assert.Equal(HealthStatus.Healthy, now.Status);
        Assert.StartsWith($"valid until {notAfter:u} (this node's certificate", now.Description);
        Assert.Equal(HealthStatus.Degraded, soon.Status);
        Assert.Equal($"this node's certificate expires on {notAfter:u}, in 10 days: renew it and restart this node", soon.Description);
        Assert.Equal(HealthStatus.Unhealthy, expired.Status);
        Assert.StartsWith($"this node's certificate expired on {notAfter:u}", expired.Description);
        Assert.Equal(HealthStatus.Unhealthy, early.Status);
        Assert.StartsWith($"not valid before {notBefore:u}", early.Description);
    }
}
