using System.Text.RegularExpressions;
using Replug.Coordinator.Tests.Support;

namespace Replug.Coordinator.Tests;

/// <summary>
/// The container image's build steps, run here as docker/Dockerfile runs them (this machine has no
/// Docker engine): both programs publish, each with its own appsettings.json, and the published
/// programs start far enough to check their configuration.
/// </summary>
public sealed partial class PackagingTests
{
    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Cluster.sln")) && Directory.Exists(Path.Combine(dir.FullName, "docker")))
                return dir.FullName;
        throw new InvalidOperationException($"no repository above {AppContext.BaseDirectory}");
    }

    private static Task<(int Exit, string Output)> Run(string workingDirectory, params string[] args) =>
        ExternalProgram.RunAsync("dotnet", args, workingDirectory, TimeSpan.FromMinutes(5));

    [Fact]
    public async Task The_Dockerfiles_publish_commands_build_both_programs_each_with_its_own_settings()
    {
        var root = RepositoryRoot();
        var commands = PublishCommand().Matches(File.ReadAllText(Path.Combine(root, "docker", "Dockerfile")));
        Assert.Equal(2, commands.Count);
        using var output = new TempDirectory();

        foreach (Match command in commands)
        {
            var (project, folder) = (command.Groups["project"].Value, output.Combine(Path.GetFileName(command.Groups["out"].Value)));
            var (exit, log) = await Run(root, "publish", project, "-c", "Release", "-o", folder);
            Assert.True(exit == 0, $"dotnet publish {project} failed:\n{log}");
        }

        // Each program's own settings, not the other's (the coordinator references the agent's project).
        Assert.Contains("\"Policies\"", File.ReadAllText(output.Combine("coordinator", "appsettings.json")));
        Assert.Contains("\"Load\"", File.ReadAllText(output.Combine("agent", "appsettings.json")));
        foreach (var program in new[] { "coordinator", "agent" })
        {
            var (exit, log) = await Run(output.Path, output.Combine(program, $"replug-{program}.dll"), "--Replug:Cluster:Port=70000");
            Assert.Equal(2, exit);
            Assert.Contains($"replug-{program}: bad configuration: Replug:Cluster:Port: 70000 is not a TCP port", log);
        }
    }

    [GeneratedRegex(@"dotnet publish (?<project>\S+\.csproj) -c Release -o (?<out>\S+)")]
    private static partial Regex PublishCommand();
}
