using Replug.Harness;

namespace Replug.Harness.Tests.Support;

/// <summary>
/// One cluster for the harness's tests, one after the other: starting five .NET processes costs
/// about 30 s of CPU (two cores here), more than most scenarios. Before each test the cluster is
/// healed (partitions, stopped or held processes, removed NICs) and must settle — every host Up,
/// every port forwarding on one host, the API agreeing; a cluster that does not, or whose last test
/// failed, is replaced by a fresh one, so a failure never leaks into the next test. Tests pick their
/// targets from where ports are now, not from where they started.
/// </summary>
public sealed class ClusterPool : IAsyncLifetime
{
    private ReplugCluster? _cluster;
    private bool _tainted;

    public HarnessOptions Options { get; } = new();

    /// <summary>
    /// A settled cluster for the next test, its lines going to <paramref name="log"/>; a fresh one when
    /// the current one does not settle, or is not <paramref name="suitable"/> for the test (say, no port
    /// left with a standby NIC after earlier tests).
    /// </summary>
    public async Task<ReplugCluster> AcquireAsync(Action<string> log, Func<ReplugCluster, Task<string?>>? suitable = null)
    {
        // Before every test, not only the first: another assembly's tests may have started meanwhile.
        await SiblingTestHosts.WaitUntilAloneAsync(log, TimeSpan.FromMinutes(30));
        if (_cluster is not null && !_tainted)
        {
            _cluster.Sink = log;
            try
            {
                await _cluster.HealAsync();
                foreach (var host in _cluster.Hosts) await _cluster.WaitHostStatusAsync(host.Name, "Up", TimeSpan.FromSeconds(60));
                await _cluster.WaitAgentsMembersUpAsync(TimeSpan.FromSeconds(20));
                await _cluster.WaitSettledAsync(TimeSpan.FromSeconds(60), "the previous test (reused cluster)", apiLagLimitMs: 30_000);
                if (suitable is null || await suitable(_cluster) is not { } unsuitable)
                {
                    _cluster.Timeline.Add("---- next test on this cluster");
                    return _cluster;
                }
                log($"the cluster does not suit the next test ({unsuitable}): starting a fresh one");
            }
            catch (HarnessException e)
            {
                log($"the cluster did not settle after the previous test ({e.Message}): starting a fresh one");
                _cluster.Failed = true;
                log(_cluster.Report());
            }
        }
        await DisposeClusterAsync();
        _tainted = false;
        _cluster = await ReplugCluster.StartAsync(Options with { Log = log });
        return _cluster;
    }

    /// <summary>The test is over; a failed test's cluster is not used again.</summary>
    public void Release(bool failed)
    {
        if (_cluster is null) return;
        _cluster.Sink = null;
        if (failed)
        {
            _tainted = true;
            _cluster.Failed = true;
        }
    }

    private async Task DisposeClusterAsync()
    {
        if (_cluster is null) return;
        await _cluster.DisposeAsync();
        _cluster = null;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => DisposeClusterAsync();
}

[CollectionDefinition(Name)]
public sealed class HarnessCollection : ICollectionFixture<ClusterPool>
{
    public const string Name = "harness cluster";
}
