using System.Diagnostics;
using Replug.Coordinator.Tracking;
using Replug.Shared.Devices;
using Xunit.Abstractions;

namespace Replug.Coordinator.Tests.Tracking;

/// <summary>
/// How many remove + add pairs the tracker correlates per second on one thread. The coordinator targets
/// 10,000 NIC moves per second; the bound here is generous and only catches a hang or a quadratic blow-up.
/// </summary>
public sealed class NicTrackerThroughputTests(ITestOutputHelper output)
{
    [Fact]
    public void The_tracker_correlates_remove_and_add_pairs_far_faster_than_the_coordinator_needs()
    {
        const int nics = 100_000, rounds = 3, batch = 1_000;
        var hosts = Enumerable.Range(0, rounds + 1).Select(i => new HostId($"host-{i}")).ToArray();
        var identities = Enumerable.Range(0, nics).Select(i => new NicIdentity(NicIdentityKind.PermanentMac, $"02:00:00:{i >> 16 & 0xff:x2}:{i >> 8 & 0xff:x2}:{i & 0xff:x2}")).ToArray();
        var devices = Enumerable.Range(0, nics).Select(i => DeviceId.Net($"eth{i}")).ToArray();
        var tracker = new NicTracker(TimeSpan.FromSeconds(5));
        var now = new DateTimeOffset(2025, 1, 1, 12, 0, 0, TimeSpan.Zero);
        for (var i = 0; i < nics; i++) tracker.OnAdded(hosts[0], devices[i], identities[i], now);

        var migrated = 0;
        var clock = Stopwatch.StartNew();
        for (var round = 0; round < rounds; round++)
        {
            for (var start = 0; start < nics; start += batch)
            {
                // A batch of removals pending at once, then their adds on the next host, as a host drain would do.
                for (var i = start; i < start + batch; i++)
                    tracker.OnRemoved(hosts[round], devices[i], identities[i], now);
                now += TimeSpan.FromMilliseconds(1);
                for (var i = start; i < start + batch; i++)
                    if (tracker.OnAdded(hosts[round + 1], devices[i], identities[i], now) is NicVerdict.Migrated) migrated++;
                tracker.Expire(now);
            }
        }
        clock.Stop();

        var pairsPerSecond = nics * rounds / clock.Elapsed.TotalSeconds;
        output.WriteLine($"{nics * rounds:N0} remove + add pairs in {clock.Elapsed.TotalMilliseconds:N0} ms: {pairsPerSecond:N0} pairs/s on one thread");
        Assert.Equal(nics * rounds, migrated);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"correlating {nics * rounds} pairs took {clock.Elapsed}");
        Assert.Null(tracker.NextDeadline);
    }
}
