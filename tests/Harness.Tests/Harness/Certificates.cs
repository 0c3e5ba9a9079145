using System.Diagnostics;

namespace Replug.Harness;

/// <summary>
/// A run's cluster CA and one certificate per node, made by the operators' own script
/// (deploy/tls/make-test-ca.sh), so the harness runs remoting the way production should: mutual TLS.
/// </summary>
public sealed class Certificates
{
    private readonly string _directory;

    private Certificates(string directory) => _directory = directory;

    public static async Task<Certificates> MakeAsync(string directory, IReadOnlyList<string> nodes)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Executables.RepositoryFile("deploy/tls/make-test-ca.sh"), directory }.Concat(nodes)) psi.ArgumentList.Add(a);
        using var script = Process.Start(psi) ?? throw new HarnessException("bash did not start");
        var stderr = script.StandardError.ReadToEndAsync();
        await script.StandardOutput.ReadToEndAsync();
        await script.WaitForExitAsync();
        if (script.ExitCode != 0) throw new HarnessException($"make-test-ca.sh failed ({script.ExitCode}): {await stderr}");
        return new Certificates(directory);
    }

    /// <summary>The settings that give <paramref name="node"/> its certificate and the cluster's CA.</summary>
    public IEnumerable<string> Arguments(string node) =>
    [
        $"--Replug:Cluster:Tls:Certificate={Path.Combine(_directory, node + ".crt")}",
        $"--Replug:Cluster:Tls:Key={Path.Combine(_directory, node + ".key")}",
        $"--Replug:Cluster:Tls:Authority={Path.Combine(_directory, "ca.crt")}",
    ];
}
