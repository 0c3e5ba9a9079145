using Replug.Harness.Tests.Support;
using Xunit.Abstractions;

namespace Replug.Harness.Tests;

public sealed class SmokeTests(ITestOutputHelper output) : HarnessTest(output)
{
    [HarnessFact]
    public Task Every_port_forwards_on_its_home_host_once_the_cluster_is_up() => RunAsync(async cluster =>
    {
        var settled = await cluster.WaitSettledAsync(TimeSpan.FromSeconds(10), "start");
        foreach (var port in cluster.Ports) Assert.Equal(port.Home, settled.Forwarding[port.Name]);
    });
}
