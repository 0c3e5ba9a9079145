using Replug.Harness;
using Xunit.Abstractions;

namespace Replug.Harness.Tests.Support;

/// <summary>
/// A scenario on the pool's cluster (<see cref="ClusterPool"/>): settled first, run, then checked for
/// the invariant on every frame since the test began (no port on two hosts at once). A failure
/// prints the report of the test's part of the run (timeline, violations, traffic, the API's view,
/// each process's log tail) and keeps the run's logs.
/// </summary>
[Collection(HarnessCollection.Name)]
public abstract class HarnessTest(ClusterPool pool, ITestOutputHelper output)
{
    protected ITestOutputHelper Output { get; } = output;

    protected void Write(string line)
    {
        try { Output.WriteLine(line); }
        catch (InvalidOperationException) { } // a background line after the test ended
    }

    /// <param name="suitable">Why the pool's cluster, as earlier tests left it, does not suit this scenario (null: it does).</param>
    protected async Task RunAsync(Func<ReplugCluster, Task> scenario, Func<ReplugCluster, Task<string?>>? suitable = null)
    {
        var cluster = await pool.AcquireAsync(Write, suitable);
        var since = cluster.Now;
        var failed = true;
        try
        {
            await scenario(cluster);
            cluster.AssertNoViolations(since);
            failed = false;
        }
        catch (Exception e)
        {
            await cluster.RefreshApiViewAsync();
            Write(cluster.Report(since: since));
            // Again after the report: CI keeps only the tail of a long output, and the report's log tails would hide it.
            Write($"---- {GetType().Name} failed: {e.GetType().Name}: {e.Message}");
            throw;
        }
        finally
        {
            pool.Release(failed);
        }
    }
}
