using Replug.Harness;
using Xunit.Abstractions;

namespace Replug.Harness.Tests.Support;

/// <summary>
/// A scenario on a fresh cluster: started, run, checked for the invariant (no port on two hosts at
/// once, on every frame of the run), and removed. A failure prints the run's report (timeline,
/// violations, traffic, the API's view, each process's log tail) and keeps its logs.
/// </summary>
public abstract class HarnessTest(ITestOutputHelper output)
{
    protected ITestOutputHelper Output { get; } = output;

    protected HarnessOptions Options(HarnessOptions? options = null) => (options ?? new HarnessOptions()) with { Log = Write };

    private void Write(string line)
    {
        try { Output.WriteLine(line); }
        catch (InvalidOperationException) { } // a background line after the test ended
    }

    protected async Task RunAsync(Func<ReplugCluster, Task> scenario, HarnessOptions? options = null)
    {
        await using var cluster = await ReplugCluster.StartAsync(Options(options));
        try
        {
            await scenario(cluster);
            cluster.AssertNoViolations();
        }
        catch (Exception)
        {
            cluster.Failed = true;
            Write(cluster.Report());
            throw;
        }
    }
}
