namespace Replug.Harness;

/// <summary>
/// The real executables, from their own projects' build output in the configuration this code was
/// built in (each next to its own appsettings.json: copied side by side, the two programs'
/// appsettings.json would collide). REPLUG_HARNESS_BIN=DIR overrides: DIR/agent and DIR/coordinator.
/// </summary>
public static class Executables
{
    private static readonly Lazy<(string Root, string Configuration, string Framework)> Build = new(Locate);

    public static string Agent => Find("Agent", "replug-agent.dll");
    public static string Coordinator => Find("Coordinator", "replug-coordinator.dll");
    public static string Replugctl => Find("Replugctl", "replugctl.dll");

    /// <summary>A file of the repository this code was built from (scripts the harness runs as operators do).</summary>
    public static string RepositoryFile(string relative) => Path.Combine(Build.Value.Root, relative);

    /// <summary>The dotnet host that runs them (the one running this process when the SDK says so).</summary>
    public static string Dotnet =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host
        : Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self
        : "dotnet";

    private static string Find(string project, string dll)
    {
        if (Environment.GetEnvironmentVariable("REPLUG_HARNESS_BIN") is { Length: > 0 } bin)
            return Path.Combine(bin, project.ToLowerInvariant(), dll);
        var (root, configuration, framework) = Build.Value;
        var path = Path.Combine(root, "src", project, "bin", configuration, framework, dll);
        if (!File.Exists(path)) throw new FileNotFoundException($"the {project} executable is not built: {path} (dotnet build Cluster.sln -c {configuration})");
        return path;
    }

    /// <summary>The repository (the folder with Cluster.sln above this assembly) and this build's configuration and framework (bin/CONFIG/TFM).</summary>
    private static (string, string, string) Locate()
    {
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var framework = output.Name;
        var configuration = output.Parent?.Name ?? "Debug";
        for (var dir = output; dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Cluster.sln"))) return (dir.FullName, configuration, framework);
        throw new DirectoryNotFoundException($"no Cluster.sln above {output.FullName}");
    }
}
