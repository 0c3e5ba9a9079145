using Replug.Harness;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Replug.Harness.Tests.Support;

/// <summary>Why the harness cannot run here, or null when it can.</summary>
public static class HarnessRequirements
{
    public static string? MissingReason()
    {
        if (!OperatingSystem.IsLinux()) return "the harness needs Linux (network namespaces, veths, bridges, nftables, AF_PACKET)";
        if (Native.geteuid() != 0) return "the harness needs root (network namespaces, raw sockets, nftables)";
        foreach (var tool in new[] { "ip", "bridge", "nft" })
            if (!ToolExists(tool)) return $"the harness needs '{tool}' (iproute2, nftables)";
        return null;
    }

    private static bool ToolExists(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':')
            .Append("/usr/sbin").Append("/sbin")
            .Any(dir => File.Exists(Path.Combine(dir, tool)));
}

/// <summary>A fact that runs only as root on Linux with iproute2 and nftables, and says why when it skips.</summary>
public sealed class HarnessFactAttribute : FactAttribute
{
    public HarnessFactAttribute()
    {
        if (HarnessRequirements.MissingReason() is { } reason) Skip = reason;
    }
}

/// <summary>A theory under the same conditions as <see cref="HarnessFactAttribute"/>.</summary>
public sealed class HarnessTheoryAttribute : TheoryAttribute
{
    public HarnessTheoryAttribute()
    {
        if (HarnessRequirements.MissingReason() is { } reason) Skip = reason;
    }
}
