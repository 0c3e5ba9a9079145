using System.Diagnostics;
using System.Text;
using Replug.Shared.Devices;

namespace Replug.Agent.Ports;

/// <summary>
/// A lease the kernel enforces in the data path: the managed devices forward through a bridge
/// only while they are in a set whose elements time out in the kernel. The agent renews the set
/// while the coordinator grants it a lease; an agent that is killed, crashes or hangs renews
/// nothing, and the kernel itself drops its ports' traffic when the last renewal runs out.
/// </summary>
public interface IKernelLease
{
    /// <summary>A short description for logs ("nftables table bridge replug").</summary>
    string Describe { get; }

    /// <summary>
    /// Installs the fence (idempotently) over <paramref name="managed"/>: from then on these devices
    /// forward only while leased. Leases already in the kernel (from a previous process) are kept:
    /// they were granted, and run out on their own.
    /// </summary>
    KernelLeaseResult Install(IReadOnlyCollection<string> managed);

    /// <summary>
    /// Makes <paramref name="devices"/> exactly the leased set, each for <paramref name="remaining"/>
    /// from when the kernel applies it, in one transaction (a device leased before and now is never
    /// unleased in between). Zero or less: nothing is leased.
    /// </summary>
    KernelLeaseResult Lease(IReadOnlyCollection<string> devices, TimeSpan remaining);
}

public readonly record struct KernelLeaseResult(bool Succeeded, string? Error)
{
    public static readonly KernelLeaseResult Ok = new(true, null);
    public static KernelLeaseResult Fail(string error) => new(false, error);
    public override string ToString() => Succeeded ? "ok" : $"failed: {Error}";
}

/// <summary>
/// <see cref="IKernelLease"/> with nftables: in the bridge family, a set <c>managed</c> of the
/// devices under the fence and a timeout set <c>leased</c>; the forward, input and output hooks drop
/// a frame that enters or leaves through a managed device that is not leased. Each change is one
/// <c>nft -f -</c> run (one netlink transaction: atomic), in <see cref="NetworkNamespace"/> when one
/// is given (through nsenter).
/// <para>
/// Renewal, every few hundred milliseconds, goes straight to the kernel over netlink
/// (<see cref="NftablesSetWriter"/>): no process per renewal, and the time left is exact when it is
/// sent. It replaces the set's contents (flush, then add with the new timeout) in one transaction:
/// kernels before 6.10 do not refresh the timeout of an element added again.
/// </para>
/// </summary>
public sealed class NftablesLease(string table = NftablesLease.DefaultTable, string? networkNamespace = null, string nft = "nft",
    TimeSpan? runTimeout = null) : IKernelLease, IDisposable
{
    public const string DefaultTable = "replug";
    private const string LeasedSet = "leased";
    private readonly Lock _renewal = new();
    private NftablesSetWriter? _writer;
    private readonly TimeSpan _runTimeout = runTimeout ?? TimeSpan.FromSeconds(5);

    public string Describe => $"nftables table bridge {table}{(networkNamespace is null ? "" : $" in network namespace {networkNamespace}")}";

    public KernelLeaseResult Install(IReadOnlyCollection<string> managed)
    {
        if (Check(managed) is { } bad) return bad;
        var script = new StringBuilder()
            .AppendLine($"add table bridge {table}")
            .AppendLine($"add set bridge {table} managed {{ type ifname; }}")
            .AppendLine($"add set bridge {table} {LeasedSet} {{ type ifname; flags timeout; }}");
        foreach (var (chain, hook) in new[] { ("forward", "forward"), ("input", "input"), ("output", "output") })
        {
            script.AppendLine($"add chain bridge {table} {chain} {{ type filter hook {hook} priority filter; policy accept; }}")
                .AppendLine($"flush chain bridge {table} {chain}");
            if (hook != "output") script.AppendLine($"add rule bridge {table} {chain} iifname @managed iifname != @{LeasedSet} counter drop");
            if (hook != "input") script.AppendLine($"add rule bridge {table} {chain} oifname @managed oifname != @{LeasedSet} counter drop");
        }
        script.AppendLine($"flush set bridge {table} managed");
        if (managed.Count > 0) script.AppendLine($"add element bridge {table} managed {{ {Elements(managed)} }}");
        return Run(script.ToString());
    }

    public KernelLeaseResult Lease(IReadOnlyCollection<string> devices, TimeSpan remaining)
    {
        if (Check(devices) is { } bad) return bad;
        // The kernel counts timeouts in milliseconds; rounding down keeps its lease within the grant.
        var ms = (long)Math.Floor(remaining.TotalMilliseconds);
        try
        {
            lock (_renewal)
            {
                _writer ??= NftablesSetWriter.Open(networkNamespace);
                var written = _writer.Replace(NftablesSetWriter.BridgeFamily, table, LeasedSet, devices, ms);
                return written.Succeeded ? KernelLeaseResult.Ok : KernelLeaseResult.Fail($"nf_tables refused the lease of {table}/{LeasedSet}: {written}");
            }
        }
        catch (IOException e)
        {
            return KernelLeaseResult.Fail(e.Message);
        }
    }

    public void Dispose()
    {
        lock (_renewal)
        {
            _writer?.Dispose();
            _writer = null;
        }
    }

    private static string Elements(IEnumerable<string> devices) =>
        string.Join(", ", devices.Order(StringComparer.Ordinal).Select(d => $"\"{d}\""));

    private KernelLeaseResult? Check(IEnumerable<string> devices)
    {
        if (!DeviceNames.IsSafe(table)) return KernelLeaseResult.Fail($"invalid nftables table name '{table}'");
        foreach (var d in devices)
            if (!Rtnetlink.IsInterfaceName(d) || d.Contains('"'))
                return KernelLeaseResult.Fail($"invalid interface name '{d}'");
        return null;
    }

    private KernelLeaseResult Run(string script)
    {
        var start = networkNamespace is null
            ? new ProcessStartInfo(nft)
            : new ProcessStartInfo("nsenter") { ArgumentList = { $"--net={Path.Combine(Linux.NetworkNamespace.RunDirectory, networkNamespace)}", nft } };
        start.ArgumentList.Add("-f");
        start.ArgumentList.Add("-");
        start.RedirectStandardInput = true;
        start.RedirectStandardError = true;
        start.RedirectStandardOutput = true;
        start.UseShellExecute = false;
        try
        {
            using var process = Process.Start(start) ?? throw new IOException($"cannot start {start.FileName}");
            var stderr = process.StandardError.ReadToEndAsync();
            _ = process.StandardOutput.ReadToEndAsync(); // drained, so nft never blocks on a full pipe
            try
            {
                process.StandardInput.Write(script);
                process.StandardInput.Close();
            }
            catch (IOException) { } // it exited before reading (nsenter could not run nft): its exit code and message say why
            if (!process.WaitForExit(_runTimeout))
            {
                try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                return KernelLeaseResult.Fail($"{start.FileName} did not finish within {_runTimeout}");
            }
            process.WaitForExit();
            return process.ExitCode == 0
                ? KernelLeaseResult.Ok
                : KernelLeaseResult.Fail($"{nft} exited with {process.ExitCode}: {FirstLine(stderr.Result)}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return KernelLeaseResult.Fail($"cannot run {start.FileName} ({e.Message}): install nftables, or set Replug:Agent:Fence:Kind=none");
        }
    }

    private static string FirstLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "(no message)";

}

/// <summary>
/// Writes the lease to the kernel off the caller's thread, latest wish first: a renewal that is
/// overtaken by the next is skipped. The time left is computed just before each write from the
/// lease's end on the monotonic clock, so a write delayed (a busy machine, a stopped process) never
/// carries a lease past its end.
/// </summary>
public sealed class KernelLeaseWriter : IDisposable
{
    private readonly IKernelLease _lease;
    private readonly Action<KernelLeaseResult, int, TimeSpan> _written;
    private readonly Lock _gate = new();
    private readonly Lock _write = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private (IReadOnlyCollection<string> Devices, long EndsAt)? _wanted;

    /// <param name="written">Called after each write with its result, the devices leased and the time the lease was given.</param>
    public KernelLeaseWriter(IKernelLease lease, Action<KernelLeaseResult, int, TimeSpan> written)
    {
        _lease = lease;
        _written = written;
        _loop = Task.Factory.StartNew(Loop, TaskCreationOptions.LongRunning);
    }

    /// <summary>Leases <paramref name="devices"/> until <paramref name="endsAt"/> (a <see cref="Stopwatch"/> timestamp).</summary>
    public void Want(IReadOnlyCollection<string> devices, long endsAt)
    {
        lock (_gate) _wanted = (devices, endsAt);
        _wake.Release();
    }

    /// <summary>
    /// Puts <paramref name="managed"/> (all of them, not only new ones) under the fence, on the
    /// caller's thread: a device that a port runs over must be fenced before it is reported so.
    /// </summary>
    public KernelLeaseResult Manage(IReadOnlyCollection<string> managed)
    {
        lock (_write) return _lease.Install(managed);
    }

    /// <summary>Nothing leased, now, on the caller's thread: a fence must not wait behind a renewal.</summary>
    public KernelLeaseResult RevokeNow()
    {
        lock (_write)
        {
            lock (_gate) _wanted = null;
            return _lease.Lease([], TimeSpan.Zero);
        }
    }

    private void Loop()
    {
        while (!_stop.IsCancellationRequested)
        {
            try { _wake.Wait(_stop.Token); }
            catch (OperationCanceledException) { return; }
            KernelLeaseResult result;
            TimeSpan remaining;
            int leased;
            // Taken and written under one lock: a revocation never lands between them and is overwritten.
            lock (_write)
            {
                (IReadOnlyCollection<string> Devices, long EndsAt)? wanted;
                lock (_gate)
                {
                    wanted = _wanted;
                    _wanted = null;
                }
                if (wanted is not { } w) continue;
                remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), w.EndsAt);
                leased = remaining > TimeSpan.Zero ? w.Devices.Count : 0;
                result = _lease.Lease(leased > 0 ? w.Devices : [], remaining);
            }
            _written(result, leased, remaining);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        try { _loop.Wait(TimeSpan.FromSeconds(10)); } catch (AggregateException) { }
        _stop.Dispose();
        _wake.Dispose();
    }
}
