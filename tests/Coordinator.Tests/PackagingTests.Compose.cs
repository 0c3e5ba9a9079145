using System.Diagnostics;
using System.Text.RegularExpressions;
using Replug.Coordinator.Hosting;
using Replug.Coordinator.Tests.Support;
using Microsoft.Extensions.Configuration;
using YamlDotNet.Core;
using YamlDotNet.Serialization;

namespace Replug.Coordinator.Tests;

/// <summary>
/// docker/compose.yaml as Compose reads it (anchors and merge keys resolved): the cluster it
/// describes, and that nothing unauthenticated reaches past the Docker host. With the Compose
/// plugin installed, <c>docker compose config</c> checks it against Compose's own schema too.
/// </summary>
public sealed partial class PackagingTests
{
    private static string ComposeFile => Path.Combine(RepositoryRoot(), "docker", "compose.yaml");

    private static Dictionary<object, object> Compose()
    {
        using var reader = new StringReader(File.ReadAllText(ComposeFile));
        return (Dictionary<object, object>)new DeserializerBuilder().Build().Deserialize<object>(new MergingParser(new Parser(reader)))!;
    }

    private static Dictionary<object, object> Map(object? node, string what) =>
        node as Dictionary<object, object> ?? throw new Xunit.Sdk.XunitException($"{what} is not a mapping");

    private static Dictionary<string, Dictionary<object, object>> Services() =>
        Map(Compose()["services"], "services").ToDictionary(s => (string)s.Key, s => Map(s.Value, $"service {s.Key}"));

    private static string? Target(Dictionary<object, object> service) =>
        service.TryGetValue("build", out var build) && Map(build, "build").TryGetValue("target", out var target) ? (string)target : null;

    private static Dictionary<string, string> Environment(Dictionary<object, object> service) =>
        service.TryGetValue("environment", out var env) ? Map(env, "environment").ToDictionary(e => (string)e.Key, e => $"{e.Value}") : [];

    private static List<string> List(Dictionary<object, object> service, string key) =>
        service.TryGetValue(key, out var items) ? [.. ((List<object>)items).Select(i => i is string s ? s : Map(i, key)["source"].ToString()!)] : [];

    [Fact]
    public void The_compose_file_is_PostgreSQL_two_coordinators_and_three_agents()
    {
        var services = Services();

        Assert.Equal(["agent-1", "agent-2", "agent-3", "coordinator-1", "coordinator-2", "postgres"], services.Keys.Order());
        Assert.Equal(2, services.Values.Count(s => Target(s) == "coordinator"));
        Assert.Equal(3, services.Values.Count(s => Target(s) == "agent"));
        foreach (var (name, service) in services.Where(s => Target(s.Value) is not null))
            Assert.Equal("akka.ssl.tcp://replug@coordinator-1:4053", Environment(service)["Replug__Cluster__SeedNodes__0"]);
    }

    [Fact]
    public void Every_node_runs_remoting_over_mutual_TLS_with_its_own_certificate_from_a_secret()
    {
        var secrets = Map(Compose()["secrets"], "secrets");
        foreach (var (name, service) in Services().Where(s => Target(s.Value) is not null))
        {
            var env = Environment(service);
            Assert.Equal($"/run/secrets/{name}-cert", env["Replug__Cluster__Tls__Certificate"]);
            Assert.Equal($"/run/secrets/{name}-key", env["Replug__Cluster__Tls__Key"]);
            Assert.Equal("/run/secrets/replug-cluster-ca", env["Replug__Cluster__Tls__Authority"]);
            foreach (var secret in new[] { $"{name}-cert", $"{name}-key", "replug-cluster-ca" })
            {
                Assert.Contains(secret, List(service, "secrets"));
                Assert.True(Map(secrets[secret], secret).ContainsKey("file"), $"{name}: secret {secret} has no file");
            }
            Assert.All(env.Where(e => e.Key.StartsWith("Replug__Cluster__SeedNodes__", StringComparison.Ordinal)),
                seed => Assert.StartsWith("akka.ssl.tcp://", seed.Value));
        }
        // The CA's key is never a secret a container gets.
        Assert.DoesNotContain(secrets.Values, v => $"{Map(v, "secret")["file"]}".EndsWith("ca.key", StringComparison.Ordinal));
    }

    [Fact]
    public void The_compose_file_publishes_ports_only_on_the_docker_hosts_loopback()
    {
        var published = 0;
        foreach (var (name, service) in Services())
        {
            Assert.False(service.ContainsKey("network_mode"), $"{name}: a network_mode puts it on the host's interfaces");
            if (!service.TryGetValue("ports", out var ports)) continue;
            foreach (var port in (List<object>)ports)
            {
                // Short syntax HOST_IP:HOST_PORT:CONTAINER_PORT, or the long one's host_ip; without a host IP Docker binds 0.0.0.0.
                var hostIp = port is string text ? LoopbackPort().Match(text) is { Success: true } m ? m.Groups["ip"].Value : text
                    : Map(port, $"{name} port").TryGetValue("host_ip", out var ip) ? $"{ip}" : "0.0.0.0";
                Assert.True(hostIp is "127.0.0.1" or "::1", $"{name} publishes {port} beyond the Docker host's loopback");
                published++;
            }
        }
        Assert.Equal(2, published); // each coordinator's API
    }

    [Fact]
    public void Every_coordinator_has_a_write_token_from_a_secret_and_no_password_in_the_file()
    {
        var compose = Compose();
        var secrets = Map(compose["secrets"], "secrets");
        foreach (var (name, service) in Services().Where(s => Target(s.Value) == "coordinator"))
        {
            var env = Environment(service);
            Assert.Equal("Write", env["Replug__Coordinator__Api__Tokens__0__Scope"]);
            var tokenFile = env["Replug__Coordinator__Api__Tokens__0__File"];
            Assert.StartsWith("/run/secrets/", tokenFile);
            var secret = tokenFile["/run/secrets/".Length..];
            Assert.Contains(secret, List(service, "secrets"));
            Assert.True(Map(secrets[secret], secret).ContainsKey("file"), $"{name}: secret {secret} has no file");
            Assert.False(env.Keys.Any(k => k.EndsWith("__Value", StringComparison.Ordinal)), $"{name}: a token's value in the compose file");
            Assert.DoesNotContain("Password=", env["Replug__Coordinator__Persistence__ConnectionString"], StringComparison.OrdinalIgnoreCase);
            Assert.Contains("Passfile=/run/secrets/replug-pgpass", env["Replug__Coordinator__Persistence__ConnectionString"]);
            Assert.Contains("replug-pgpass", List(service, "secrets"));
        }
        var postgres = Services()["postgres"];
        Assert.Equal("/run/secrets/postgres-password", Environment(postgres)["POSTGRES_PASSWORD_FILE"]);
        Assert.DoesNotContain("POSTGRES_PASSWORD", Environment(postgres).Keys);
    }

    [Fact]
    public void Agents_run_with_only_NET_ADMIN_and_coordinators_with_no_capability()
    {
        foreach (var (name, service) in Services().Where(s => Target(s.Value) is not null))
        {
            Assert.Equal(["ALL"], List(service, "cap_drop"));
            Assert.Equal(Target(service) == "agent" ? ["NET_ADMIN"] : [], List(service, "cap_add"));
        }
    }

    [Fact]
    public void The_coordinator_image_runs_as_replug_and_checks_its_health_without_a_token()
    {
        var dockerfile = File.ReadAllText(Path.Combine(RepositoryRoot(), "docker", "Dockerfile"));
        var coordinator = dockerfile[dockerfile.IndexOf("AS coordinator", StringComparison.Ordinal)..];

        Assert.Contains("\nUSER replug\n", coordinator);
        Assert.Matches(@"HEALTHCHECK [^\n]*\\\n\s+CMD \[""curl"", ""--fail"".*""http://127\.0\.0\.1:8080/health/ready""\]", coordinator);
        Assert.DoesNotContain("USER", dockerfile[..dockerfile.IndexOf("AS coordinator", StringComparison.Ordinal)]); // the agent stays root
    }

    [Fact]
    public async Task Each_program_accepts_its_services_environment_from_the_compose_file()
    {
        if (!File.Exists("/usr/bin/openssl")) return; // the CA script needs openssl
        // The secrets as make-secrets.sh makes them, where the services' /run/secrets would be.
        using var secrets = new TempDirectory();
        File.WriteAllText(secrets.Combine("replug-api-token"), new string('a', 64) + "\n");
        File.WriteAllText(secrets.Combine("replug-pgpass"), "postgres:5432:replug:replug:secret\n");
        string[] nodes = ["coordinator-1", "coordinator-2", "agent-1", "agent-2", "agent-3"];
        var (made, output) = await ExternalProgram.RunAsync("bash", [Path.Combine(RepositoryRoot(), "deploy", "tls", "make-test-ca.sh"), secrets.Combine("tls"), .. nodes]);
        Assert.True(made == 0, $"make-test-ca.sh: {output}");
        File.Copy(secrets.Combine("tls/ca.crt"), secrets.Combine("replug-cluster-ca"));
        foreach (var node in nodes)
        {
            File.Copy(secrets.Combine($"tls/{node}.crt"), secrets.Combine($"{node}-cert"));
            File.Copy(secrets.Combine($"tls/{node}.key"), secrets.Combine($"{node}-key"));
        }
        foreach (var (name, service) in Services().Where(s => Target(s.Value) is not null))
        {
            // As .NET's environment provider reads REPLUG__A__B: the key Replug:A:B.
            var settings = Environment(service).ToDictionary(e => e.Key.Replace("__", ":"),
                e => (string?)e.Value.Replace("/run/secrets/", secrets.Path + "/"));
            if (Target(service) == "coordinator") settings["Replug:Coordinator:Persistence:DataDirectory"] = secrets.Path; // the image's ENV
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();

            var problems = Target(service) == "coordinator"
                ? CoordinatorHost.CheckConfiguration(configuration, standalone: false, out _, out _, out _)
                : Replug.Agent.Hosting.AgentHost.CheckConfiguration(configuration, out _, out _);

            Assert.True(problems.Count == 0, $"{name}: {string.Join("; ", problems)}");
        }
    }

    [DockerComposeFact]
    public async Task Docker_compose_accepts_the_compose_file()
    {
        // A copy beside stand-in secrets (the real ones are made by make-secrets.sh and never committed).
        using var root = new TempDirectory();
        Directory.CreateDirectory(root.Combine("docker", "secrets"));
        File.Copy(ComposeFile, root.Combine("docker", "compose.yaml"));
        File.Copy(Path.Combine(RepositoryRoot(), "docker", "Dockerfile"), root.Combine("docker", "Dockerfile"));
        foreach (var secret in new[] { "api-token", "postgres-password", "pgpass" }) File.WriteAllText(root.Combine("docker", "secrets", secret), "stand-in\n");
        Directory.CreateDirectory(root.Combine("docker", "secrets", "tls"));
        foreach (var file in new[] { "ca.crt" }.Concat(new[] { "coordinator-1", "coordinator-2", "agent-1", "agent-2", "agent-3" }.SelectMany(n => new[] { $"{n}.crt", $"{n}.key" })))
            File.WriteAllText(root.Combine("docker", "secrets", "tls", file), "stand-in\n");

        var (exit, output) = await RunProgram("docker", "compose", "-f", root.Combine("docker", "compose.yaml"), "config", "--quiet");

        Assert.True(exit == 0, $"docker compose config (exit {exit}):\n{output}");
    }

    [GeneratedRegex(@"^(?<ip>127\.0\.0\.1|\[::1\]|::1):\d+:\d+(/tcp)?$")]
    private static partial Regex LoopbackPort();
}

/// <summary>A fact that needs the Docker client with its Compose plugin (no engine), and says so when it skips.</summary>
public sealed class DockerComposeFactAttribute : FactAttribute
{
    public DockerComposeFactAttribute()
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo("docker", ["compose", "version"]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            process.StandardOutput.ReadToEnd();
            process.StandardError.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0) Skip = "the Docker client has no Compose plugin (docker compose): docker/compose.yaml was checked by the other PackagingTests only";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Skip = "the Docker client is not installed: docker/compose.yaml was checked by the other PackagingTests only";
        }
    }
}
