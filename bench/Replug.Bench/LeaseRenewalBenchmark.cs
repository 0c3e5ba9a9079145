using System.Diagnostics;
using Replug.Agent.Ports;

namespace Replug.Bench;

/// <summary>
/// The kernel lease's renewal, as the agent does it every quarter lease: the leased set replaced in
/// one nf_tables transaction. Over netlink (<see cref="NftablesSetWriter"/>, what the agent does) and,
/// for comparison, by running <c>nft -f -</c> in the namespace (what it did before): the time from
/// computing the lease's time left to the kernel having applied it is the time a renewal's lease
/// could run past its grant.
/// </summary>
public static class LeaseRenewalBenchmark
{
    public static Task<int> RunAsync(string[] args)
    {
        if (args.Contains("-h") || args.Contains("--help"))
        {
            Console.WriteLine("usage: lease-renewal [--renewals N (2000)] [--devices N (8)] [--nft-runs N (100)]");
            return Task.FromResult(0);
        }
        if (!OperatingSystem.IsLinux() || Replug.Harness.Native.geteuid() != 0)
        {
            Console.Error.WriteLine("lease-renewal: needs root on Linux (a network namespace, nftables)");
            return Task.FromResult(2);
        }
        var renewals = BenchFormat.IntOption(args, "--renewals", 2000);
        var deviceCount = BenchFormat.IntOption(args, "--devices", 8);
        var nftRuns = BenchFormat.IntOption(args, "--nft-runs", 100);
        var devices = Enumerable.Range(0, deviceCount).Select(i => $"nic{i}").ToList();

        using var host = new BenchNamespace("rplease");
        using var lease = new NftablesLease("replugbench", host.Name);
        var installed = lease.Install(devices);
        if (!installed.Succeeded)
        {
            Console.Error.WriteLine($"lease-renewal: cannot install the fence: {installed.Error}");
            return Task.FromResult(1);
        }

        for (var i = 0; i < 50; i++) lease.Lease(devices, TimeSpan.FromSeconds(1.5)); // warm-up (JIT, socket)
        var netlink = new List<double>(renewals);
        var failed = 0;
        for (var i = 0; i < renewals; i++)
        {
            var start = Stopwatch.GetTimestamp();
            if (!lease.Lease(devices, TimeSpan.FromSeconds(1.5)).Succeeded) failed++;
            netlink.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
        }

        var script = $"flush set bridge replugbench leased\nadd element bridge replugbench leased {{ {string.Join(", ", devices.Select(d => $"\"{d}\" timeout 1500ms"))} }}\n";
        var process = new List<double>(nftRuns);
        for (var i = 0; i < nftRuns; i++)
        {
            var start = Stopwatch.GetTimestamp();
            var psi = new ProcessStartInfo("nsenter") { RedirectStandardInput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { $"--net={host.NetnsPath}", "nft", "-f", "-" }) psi.ArgumentList.Add(a);
            using var nft = Process.Start(psi)!;
            nft.StandardInput.Write(script);
            nft.StandardInput.Close();
            nft.WaitForExit();
            if (nft.ExitCode != 0) failed++;
            process.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
        }
        netlink.Sort();
        process.Sort();

        BenchFormat.Header("lease-renewal — the leased set replaced in one nf_tables transaction (idle machine)");
        BenchFormat.Row("devices leased per renewal", $"{deviceCount}");
        BenchFormat.Row($"netlink batch (the agent), {renewals} renewals: p50 / p99 / max", Micros(netlink));
        BenchFormat.Row($"nft -f - through nsenter, {nftRuns} runs: p50 / p99 / max", Micros(process));
        BenchFormat.Row("failed renewals", $"{failed}");
        BenchFormat.Row("renewals per second on one thread (netlink)", $"{1_000_000 / netlink.Average():0}");
        return Task.FromResult(failed == 0 ? 0 : 1);
    }

    private static string Micros(IReadOnlyList<double> sorted) =>
        $"{BenchFormat.Percentile(sorted, 50):0} µs / {BenchFormat.Percentile(sorted, 99):0} µs / {sorted[^1]:0} µs";
}
