using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Replug.Agent.Linux;
using Replug.Agent.Ports;
using Replug.Agent.Tests.Support;

namespace Replug.Agent.Tests.Ports;

/// <summary>
/// The nftables lease against the kernel, judged by traffic: a host namespace with bridge br0
/// holding the port's NIC (v1) and the VM's end (vm); the NIC's peer in a "fabric" namespace
/// sends UDP datagrams that reach a socket in a "VM" namespace only if the bridge forwards them.
/// Nothing renews the lease in these tests, as with a killed agent: what stops the traffic is the
/// kernel's own timeout.
/// </summary>
public sealed class KernelLeaseTests : IDisposable
{
    private readonly BridgedVm? _net;
    private readonly NftablesLease? _lease;
    private int _token;

    public KernelLeaseTests()
    {
        if (MissingReason() is not null) return;
        _net = new BridgedVm("br0", "v1", enslaveNic: true, prefix: "rpl");
        _lease = new NftablesLease("replugtest", _net.Host.Name);
    }

    private static string? MissingReason() =>
        KernelRequirements.MissingReason() ?? (Shell.TryRun("nft", "--version", out _) ? null : "needs nftables ('nft')");

    [KernelLeaseFact]
    public void A_managed_device_forwards_only_while_leased()
    {
        Assert.True(Delivered(), "before the fence: the bridge forwards");
        Assert.True(_lease!.Install(["v1"]).Succeeded);
        Assert.False(Delivered(), "managed and not leased: dropped");

        Assert.True(_lease.Lease(["v1"], TimeSpan.FromSeconds(30)).Succeeded);
        Assert.True(Delivered(), "leased: forwarded");
    }

    [KernelLeaseFact]
    public void The_kernel_ends_the_lease_by_itself_when_nobody_renews_it()
    {
        Assert.True(_lease!.Install(["v1"]).Succeeded);
        var lease = TimeSpan.FromSeconds(1.5);
        var given = Stopwatch.StartNew();
        Assert.True(_lease.Lease(["v1"], lease).Succeeded);
        Assert.True(Delivered(), "leased: forwarded");

        // Nothing renews it, as when the agent is killed: the kernel must stop the traffic.
        var stoppedAfter = TimeSpan.Zero;
        while (given.Elapsed < lease + TimeSpan.FromSeconds(5))
        {
            if (!Delivered()) { stoppedAfter = given.Elapsed; break; }
        }
        Assert.NotEqual(TimeSpan.Zero, stoppedAfter);
        Assert.True(stoppedAfter >= lease - TimeSpan.FromMilliseconds(50), $"stopped after {stoppedAfter}, before the lease of {lease} ran out");
        Assert.False(Delivered(), "still dropped afterwards");
    }

    [KernelLeaseFact]
    public void A_renewal_that_leaves_a_device_out_stops_it_at_once_and_keeps_the_others()
    {
        Assert.True(_lease!.Install(["v1", "vm"]).Succeeded);
        Assert.True(_lease.Lease(["v1", "vm"], TimeSpan.FromSeconds(30)).Succeeded);
        Assert.True(Delivered());

        Assert.True(_lease.Lease(["vm"], TimeSpan.FromSeconds(30)).Succeeded);
        Assert.False(Delivered(), "v1 is no longer leased: frames entering through it are dropped");
        Assert.Contains("\"vm\"", Shell.Run("ip", $"netns exec {_net!.Host.Name} nft list set bridge replugtest leased"));
    }

    [KernelLeaseFact]
    public void Installing_again_keeps_the_leases_a_previous_process_left()
    {
        Assert.True(_lease!.Install(["v1"]).Succeeded);
        Assert.True(_lease.Lease(["v1"], TimeSpan.FromSeconds(30)).Succeeded);
        // A restarted agent installs its fence again: what was granted runs out on its own, not at once.
        using var again = new NftablesLease("replugtest", _net!.Host.Name);
        Assert.True(again.Install(["v1"]).Succeeded);
        Assert.True(Delivered());
    }

    [KernelLeaseFact]
    public void A_bad_device_name_or_missing_nft_is_a_clear_error()
    {
        var bad = _lease!.Lease(["v1\" } ; flush ruleset ; add element bridge x y { \"z"], TimeSpan.FromSeconds(1));
        Assert.False(bad.Succeeded);
        Assert.Contains("invalid interface name", bad.Error);

        using var withoutNft = new NftablesLease("replugtest", _net!.Host.Name, nft: "/nonexistent/nft");
        var missing = withoutNft.Install(["v1"]);
        Assert.False(missing.Succeeded);
        Assert.Contains("nft", missing.Error);
    }

    [KernelLeaseFact]
    public void A_renewal_before_the_fence_is_installed_names_the_table_and_the_kernels_reason()
    {
        var refused = _lease!.Lease(["v1"], TimeSpan.FromSeconds(1));
        Assert.False(refused.Succeeded);
        Assert.Contains("replugtest/leased", refused.Error);
        Assert.Contains("No such file or directory", refused.Error);
    }

    [KernelLeaseFact]
    public void A_renewal_gives_each_device_the_time_left_and_replaces_the_set_in_one_transaction()
    {
        Assert.True(_lease!.Install(["v1", "vm"]).Succeeded);
        Assert.True(_lease.Lease(["v1"], TimeSpan.FromSeconds(40)).Succeeded);
        Assert.True(_lease.Lease(["vm", "v1"], TimeSpan.FromMinutes(10)).Succeeded);

        var listed = Shell.Run("ip", $"netns exec {_net!.Host.Name} nft list set bridge replugtest leased");
        // Both with the new timeout: the first element's old one (40 s) is gone with the flush.
        Assert.Contains("\"v1\" timeout 10m expires", listed);
        Assert.Contains("\"vm\" timeout 10m expires", listed);
        Assert.DoesNotContain("40s", listed);
        Assert.True(Delivered());
    }

    [KernelLeaseFact]
    public void The_writer_never_carries_a_lease_past_its_end()
    {
        Assert.True(_lease!.Install(["v1"]).Succeeded);
        var written = new BlockingCollection<(KernelLeaseResult Result, int Devices, TimeSpan Remaining)>();
        using var lease = new NftablesLease("replugtest", _net!.Host.Name);
        using var writer = new KernelLeaseWriter(lease, (r, d, t) => written.Add((r, d, t)));

        // A lease that ended before the writer got to it leases nothing.
        writer.Want(["v1"], Stopwatch.GetTimestamp() - Stopwatch.Frequency);
        Assert.True(written.TryTake(out var ended, TimeSpan.FromSeconds(10)));
        Assert.Equal(0, ended.Devices);
        Assert.False(Delivered());

        writer.Want(["v1"], Stopwatch.GetTimestamp() + 30 * Stopwatch.Frequency);
        Assert.True(written.TryTake(out var live, TimeSpan.FromSeconds(10)));
        Assert.True(live.Result.Succeeded, live.Result.Error);
        Assert.Equal(1, live.Devices);
        Assert.True(live.Remaining <= TimeSpan.FromSeconds(30));
        Assert.True(Delivered());

        Assert.True(writer.RevokeNow().Succeeded);
        Assert.False(Delivered(), "revoked: dropped at once");
    }

    /// <summary>Sends one datagram from the fabric and says whether it reached the VM.</summary>
    private bool Delivered()
    {
        var token = Encoding.ASCII.GetBytes($"probe-{++_token}");
        _net!.SendToVm(token);
        var buffer = new byte[64];
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromMilliseconds(300))
        {
            if (!_net.Receiver.Poll(TimeSpan.FromMilliseconds(50), SelectMode.SelectRead)) continue;
            var n = _net.Receiver.Receive(buffer);
            if (buffer.AsSpan(0, n).SequenceEqual(token)) return true; // older datagrams are skipped
        }
        return false;
    }

    public void Dispose()
    {
        _lease?.Dispose();
        _net?.Dispose();
    }

    private sealed class KernelLeaseFactAttribute : FactAttribute
    {
        public KernelLeaseFactAttribute()
        {
            if (MissingReason() is { } reason) Skip = reason;
        }
    }
}
