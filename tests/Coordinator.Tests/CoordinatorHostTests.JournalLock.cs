using System.Net;
using System.Text.RegularExpressions;
using Replug.Coordinator.Tests.Support;

namespace Replug.Coordinator.Tests;

public sealed partial class CoordinatorHostTests
{
    /// <summary>
    /// The randomized harness run found it: a restarted first seed that could not reach the other
    /// coordinator founded a cluster of its own; both clusters ran the singleton on one journal,
    /// wrote it in turn and granted leases from different states. Two coordinator processes here
    /// each found a cluster (no seeds) on one journal: only the first acts; the second names the
    /// holder, never starts its coordinator, and stops with exit code 4 (to rejoin through the
    /// seeds when restarted). Once the holder is killed (-9), the next process takes the lock at
    /// once: the kernel frees it with the process.
    /// </summary>
    [Fact]
    public async Task Of_two_coordinator_clusters_on_one_journal_only_the_lock_holder_acts_and_the_other_stops_with_exit_code_4()
    {
        if (!OperatingSystem.IsLinux()) return; // kill(1)
        string[] lockTimeout = ["--Replug:Coordinator:LockTimeout=00:00:03"];
        using var first = Start([.. Isolated(), .. lockTimeout]);
        var firstApi = await first.Listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
        await Ready(firstApi);
        var firstAddress = await first.Remoting.Task;

        using var second = Start([.. Isolated(), .. lockTimeout]);
        Assert.True(second.Process.WaitForExit(90_000), "the second cluster's coordinator did not stop");

        Assert.Equal(4, second.Process.ExitCode);
        var holder = Regex.Match(firstAddress, @"@(.+)$").Groups[1].Value;
        Assert.Contains(second.Output, l => l.Contains($"journal lock is held by {holder}#"));
        Assert.Contains(second.Output, l => l.Contains("not a member of this node's cluster"));
        Assert.DoesNotContain(second.Output, l => l.Contains("Took the coordinator's journal lock"));
        Assert.False(first.Process.HasExited);
        await Ready(firstApi);

        first.Process.Kill();
        await first.Process.WaitForExitAsync();
        using var third = Start([.. Isolated(), .. lockTimeout]);
        await Ready(await third.Listening.Task.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains(third.Output, l => l.Contains("Took the coordinator's journal lock"));
        Assert.Equal(0, await third.Terminate());
    }

    private static async Task Ready(Uri api)
    {
        using var http = new HttpClient { BaseAddress = api, Timeout = TimeSpan.FromSeconds(10) };
        await Wait.Until(async () =>
        {
            try
            {
                using var response = await http.GetAsync("/health/ready");
                return response.StatusCode == HttpStatusCode.OK;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                return false;
            }
        }, $"{api} ready", TimeSpan.FromSeconds(60));
    }
}
