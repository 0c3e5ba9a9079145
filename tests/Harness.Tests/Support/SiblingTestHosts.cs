namespace Replug.Harness.Tests.Support;

/// <summary>
/// <c>dotnet test Cluster.sln</c> runs the test assemblies side by side. The harness's five .NET
/// processes and their timing would compete with the other assemblies' timing-sensitive cluster
/// tests (and theirs with the harness's) on two cores, so the harness waits until the other test
/// hosts of the same <c>dotnet test</c> have finished: same total work, no flaky neighbours.
/// REPLUG_HARNESS_WAIT_ALONE=0 turns it off. Test hosts of other <c>dotnet test</c> runs on the
/// machine are not waited for (only descendants of this run's dotnet processes count).
/// </summary>
public static class SiblingTestHosts
{
    public static async Task WaitUntilAloneAsync(Action<string> log, TimeSpan limit)
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("REPLUG_HARNESS_WAIT_ALONE") == "0") return;
        var ours = Ancestors(Environment.ProcessId).Where(p => CommandLine(p).Contains("dotnet", StringComparison.Ordinal)).ToHashSet();
        var deadline = DateTime.UtcNow + limit;
        var said = false;
        while (true)
        {
            var siblings = Processes()
                .Where(p => p != Environment.ProcessId && CommandLine(p).Contains("testhost", StringComparison.Ordinal))
                .Where(p => Ancestors(p).Any(ours.Contains))
                .ToList();
            if (siblings.Count == 0) return;
            if (DateTime.UtcNow > deadline)
            {
                log($"other test hosts of this run still run after {limit.TotalMinutes:0} min ({string.Join(", ", siblings)}): starting the harness anyway");
                return;
            }
            if (!said)
            {
                log($"waiting for this run's other test assemblies to finish (test hosts {string.Join(", ", siblings)}) before starting five processes");
                said = true;
            }
            await Task.Delay(1000);
        }
    }

    private static IEnumerable<int> Processes() =>
        Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Where(n => n!.All(char.IsAsciiDigit)).Select(n => int.Parse(n!));

    private static IEnumerable<int> Ancestors(int pid)
    {
        for (var p = Parent(pid); p > 1; p = Parent(p)) yield return p;
    }

    private static int Parent(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1]);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException) { return 0; }
    }

    private static string CommandLine(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' '); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return ""; }
    }
}
