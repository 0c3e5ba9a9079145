using System.Diagnostics;
using System.Net;
using Replug.Agent.Tests.Support;
using Replug.Coordinator.Tests.Support;

namespace Replug.Coordinator.Tests;

/// <summary>Remoting with mutual TLS, between real processes: only a node whose certificate the cluster's CA signed joins.</summary>
public sealed partial class CoordinatorHostTests
{
    [Theory]
    [InlineData("a certificate from the cluster's CA", true)]
    [InlineData("a certificate from its own CA", false)]
    [InlineData("no TLS", false)]
    public async Task With_TLS_on_only_an_agent_whose_certificate_the_clusters_CA_signed_joins(string agentHas, bool joins)
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/usr/bin/openssl")) return; // the CA script needs bash and openssl
        var cluster = await MakeCertificates("cluster", "coordinator", "agent");
        var rogue = await MakeCertificates("rogue", "agent");
        using var sysfs = new FakeSysfs();
        sysfs.AddNet("v1", 7, mac: "52:54:00:aa:00:08");
        var nothing = Path.Combine(_data.Path, "no-events.txt");
        File.WriteAllText(nothing, "");

        using var coordinator = Start([.. Isolated(), .. Tls(cluster, "coordinator", cluster)]);
        var seed = await coordinator.Remoting.Task.WaitAsync(TimeSpan.FromSeconds(60));
        // A rogue node's settings are its own: its CA for itself, or plain TCP to the TLS port.
        string[] agentSettings = agentHas switch
        {
            "no TLS" => [$"--Replug:Cluster:SeedNodes:0={seed.Replace("akka.ssl.tcp://", "akka.tcp://")}"],
            "a certificate from its own CA" => [$"--Replug:Cluster:SeedNodes:0={seed}", .. Tls(rogue, "agent", rogue)],
            _ => [$"--Replug:Cluster:SeedNodes:0={seed}", .. Tls(cluster, "agent", cluster)],
        };
        using var agent = StartAgent(["--replay", nothing, "--sysfs", sysfs.Root, "--host", "tls-host", "--Replug:Agent:Subsystems:0=net",
            "--Replug:Cluster:Port=0", "--Replug:Cluster:JoinTimeout=00:00:05", .. agentSettings]);
        using var http = ApiClient(await coordinator.Listening.Task.WaitAsync(TimeSpan.FromSeconds(60)));

        if (joins)
        {
            await Wait.Until(async () => (await http.GetAsync("/hosts/tls-host")).StatusCode == HttpStatusCode.OK, "tls-host in /hosts", TimeSpan.FromSeconds(60));
            using var ready = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/health/ready"));
            var certificate = ready.RootElement.GetProperty("checks").GetProperty("tls-certificate");
            Assert.Equal("Healthy", certificate.GetProperty("status").GetString());
            Assert.StartsWith("valid until ", certificate.GetProperty("description").GetString());
            Assert.Equal(0, await agent.Terminate());
        }
        else
        {
            // Refused at the handshake, the agent never joins: a failed connection, tried again until its join timeout (exit 4).
            Assert.True(agent.Process.WaitForExit(90_000), $"the agent with {agentHas} did not give up joining");
            Assert.Equal(4, agent.Process.ExitCode);
            if (agentHas != "no TLS")
                Assert.Contains(agent.Output, l => l.Contains("Refused a TLS connection with 127.0.0.1:") && l.Contains("not issued by the cluster's CA"));
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/hosts/tls-host")).StatusCode);
        }
        Assert.Equal(0, await coordinator.Terminate());
    }

    [Fact]
    public async Task With_TLS_on_a_peer_showing_a_certificate_of_another_CA_or_none_is_refused_at_the_handshake()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/usr/bin/openssl")) return;
        var cluster = await MakeCertificates("cluster", "coordinator");
        var rogue = await MakeCertificates("rogue", "intruder");
        using var coordinator = Start([.. Isolated(), .. Tls(cluster, "coordinator", cluster)]);
        var port = new Uri((await coordinator.Remoting.Task.WaitAsync(TimeSpan.FromSeconds(60))).Replace("akka.ssl.tcp", "tcp")).Port;

        // openssl as the peer: a client that accepts the server and shows what it is given, so the coordinator's side is what is tested.
        await OpenSslClient(port, "-cert", Path.Combine(rogue, "intruder.crt"), "-key", Path.Combine(rogue, "intruder.key"));
        await Wait.Until(() => coordinator.Output.Any(l => l.Contains("Refused a TLS connection") && l.Contains("not issued by the cluster's CA")),
            "the coordinator to refuse the intruder's certificate", TimeSpan.FromSeconds(30));
        await OpenSslClient(port);
        await Wait.Until(() => coordinator.Output.Any(l => l.Contains("Refused a TLS connection") && l.Contains("it showed no certificate")),
            "the coordinator to refuse a peer without a certificate", TimeSpan.FromSeconds(30));

        Assert.Equal(0, await coordinator.Terminate());
    }

    private static Task OpenSslClient(int port, params string[] certificate) =>
        // -ign_eof: stay until the server ends the connection (with stdin closed, s_client would hang up mid-handshake).
        ExternalProgram.RunAsync("openssl", ["s_client", "-ign_eof", "-connect", $"127.0.0.1:{port}", .. certificate], timeout: TimeSpan.FromSeconds(30));

    [Theory]
    [InlineData("Key", "required with Certificate and Authority")]
    [InlineData("Authority", "is not a readable certificate")]
    [InlineData("Certificate", "not issued by the cluster's CA")]
    public async Task A_TLS_setting_that_is_missing_or_does_not_fit_the_cluster_is_named_before_anything_starts(string broken, string problem)
    {
        if (!File.Exists("/usr/bin/openssl")) return;
        var cluster = await MakeCertificates("cluster", "coordinator");
        var other = await MakeCertificates("other", "coordinator");
        var settings = Tls(cluster, "coordinator", cluster).ToList();
        switch (broken)
        {
            case "Key": settings.RemoveAll(s => s.StartsWith("--Replug:Cluster:Tls:Key=")); break;
            case "Authority": settings.Add($"--Replug:Cluster:Tls:Authority={Path.Combine(cluster, "coordinator.key")}"); break;
            case "Certificate": settings.AddRange(Tls(other, "coordinator", cluster)); break;
        }

        Assert.False(Replug.Coordinator.Hosting.CoordinatorHost.TryBuild([.. Isolated(), .. settings], out _, out var errors));
        Assert.Contains(errors, e => e.StartsWith($"Replug:Cluster:Tls:{broken}: ") && e.Contains(problem));
    }

    /// <summary>The settings of a node with <paramref name="node"/>'s certificate from <paramref name="from"/>, trusting the CA in <paramref name="trusting"/>.</summary>
    private static string[] Tls(string from, string node, string trusting) =>
    [
        $"--Replug:Cluster:Tls:Certificate={Path.Combine(from, node + ".crt")}",
        $"--Replug:Cluster:Tls:Key={Path.Combine(from, node + ".key")}",
        $"--Replug:Cluster:Tls:Authority={Path.Combine(trusting, "ca.crt")}",
    ];

    /// <summary>A CA and node certificates made by the operators' script (deploy/tls/make-test-ca.sh) in this test's folder.</summary>
    private async Task<string> MakeCertificates(string ca, params string[] nodes)
    {
        var dir = Path.Combine(_data.Path, "tls-" + ca);
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Cluster.sln"))) root = Path.GetDirectoryName(root.TrimEnd(Path.DirectorySeparatorChar))!;
        var (exit, output) = await ExternalProgram.RunAsync("bash", [Path.Combine(root, "deploy", "tls", "make-test-ca.sh"), dir, .. nodes]);
        Assert.True(exit == 0, $"make-test-ca.sh failed: {output}");
        return dir;
    }
}
