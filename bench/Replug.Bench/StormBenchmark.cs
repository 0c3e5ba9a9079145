using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using Akka.Actor;
using Akka.Configuration;
using Replug.Agent.Devices;
using Replug.Agent.Hosting;
using Replug.Agent.Sources;
using Replug.Shared.Devices;
using Replug.Shared.Uevents;
using static Replug.Agent.Devices.DeviceProtocol;

namespace Replug.Bench;

/// <summary>
/// A uevent storm on the real kernel: N veth pairs created with one `ip -batch`, then deleted
/// with another, in a fresh namespace the agent watches. Shows what the netlink source and
/// the watcher receive, what the kernel dropped (ENOBUFS) and whether the resync healed it,
/// and the agent's memory at the peak. Run with the default 128 MiB receive buffer and with a
/// small one that overflows.
/// </summary>
public static class StormBenchmark
{
    private const int DefaultPairs = 2500;
    private const int SmallReceiveBuffer = 64 * 1024;
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan QuietFor = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan GiveUpQuietFor = TimeSpan.FromSeconds(5);

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Contains("-h") || args.Contains("--help"))
        {
            Console.WriteLine($"usage: storm [--pairs N ({DefaultPairs})] [--rcvbuf BYTES (default: run {NetlinkSourceOptions.DefaultReceiveBufferBytes} and {SmallReceiveBuffer})]");
            return 0;
        }
        var pairs = BenchFormat.IntOption(args, "--pairs", DefaultPairs);
        if (pairs <= 0 || pairs > 100_000)
        {
            Console.Error.WriteLine("--pairs must be in 1..100000");
            return 2;
        }
        int[] buffers = BenchFormat.HasOption(args, "--rcvbuf")
            ? [BenchFormat.IntOption(args, "--rcvbuf", NetlinkSourceOptions.DefaultReceiveBufferBytes)]
            : [NetlinkSourceOptions.DefaultReceiveBufferBytes, SmallReceiveBuffer];
        if (buffers.Any(b => b < 4096))
        {
            Console.Error.WriteLine("--rcvbuf must be at least 4096");
            return 2;
        }

        var results = new List<StormResult>();
        try
        {
            foreach (var buffer in buffers)
            {
                Console.WriteLine($"storm: {pairs} veth pairs ({2 * pairs} devices), receive buffer {buffer} bytes ...");
                results.Add(await RunOnceAsync(pairs, buffer, BenchCleanup.Token));
            }
        }
        catch (OperationCanceledException) when (BenchCleanup.Token.IsCancellationRequested)
        {
            Console.Error.WriteLine("storm: interrupted");
            return 130;
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException or IOException)
        {
            Console.Error.WriteLine($"storm: {e.GetType().Name}: {e.Message}");
            if (results.Count > 0) Print(pairs, results);
            return 1;
        }

        Print(pairs, results);
        return results.All(r => r.Healed) ? 0 : 1;
    }

    private static async Task<StormResult> RunOnceAsync(int pairs, int receiveBuffer, CancellationToken cancellation)
    {
        var result = new StormResult(receiveBuffer);
        BenchNamespace? ns = null;
        ActorSystem? system = null;
        NetlinkUeventSource? source = null;
        using var sampling = new CancellationTokenSource();
        Task? sampler = null;
        var batchDir = Directory.CreateTempSubdirectory("replug-storm-").FullName;
        try
        {
            ns = new BenchNamespace("rbs");
            var sysfs = ns.SysfsRoot;
            var options = new AgentOptions
            {
                Host = ns.Name,
                SysfsRoot = sysfs,
                NetworkNamespace = ns.Name,
                Subsystems = [Subsystems.Net],
                ReceiveBufferBytes = receiveBuffer,
            };
            if (options.Validate() is { Count: > 0 } errors) throw new InvalidOperationException(string.Join("; ", errors));

            system = ActorSystem.Create("replug-bench-storm",
                ConfigurationFactory.ParseString("akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING"));
            var counts = new StormCounts();
            source = new NetlinkUeventSource(new NetlinkSourceOptions { NetworkNamespace = ns.Name, ReceiveBufferBytes = receiveBuffer });
            result.SourceDescription = source.Description;
            var agent = AgentActors.Start(system, options, new SysfsDeviceBus(sysfs));
            var counter = system.ActorOf(Props.Create(() => new StormEventCounter(counts)), "bench-storm-counter");
            await agent.Watcher.Ask<SubscriptionAck>(new Subscribe(counter, DeviceEventFilter.ForSubsystem(Subsystems.Net)), TimeSpan.FromSeconds(5));
            source.Start(agent.ActorUeventSinkFor());

            // Baseline: the start-up rescan done, nothing moving.
            var startup = await SettleAsync(agent.Watcher, source, counts, s => s.Resyncs >= 1, Stopwatch.GetTimestamp(), cancellation);
            var baseline = startup.Stats;
            var baseSource = source.Counters.Snapshot();
            var baseCounts = counts.Copy();

            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            using var self = Process.GetCurrentProcess();
            self.Refresh();
            result.WorkingSetBefore = self.WorkingSet64;
            result.GcHeapBefore = GC.GetTotalMemory(false);
            result.PeakWorkingSet = result.WorkingSetBefore;
            result.PeakGcHeap = result.GcHeapBefore;
            sampler = Task.Run(async () =>
            {
                using var p = Process.GetCurrentProcess();
                while (!sampling.IsCancellationRequested)
                {
                    p.Refresh();
                    result.PeakWorkingSet = Math.Max(result.PeakWorkingSet, p.WorkingSet64);
                    result.PeakGcHeap = Math.Max(result.PeakGcHeap, GC.GetTotalMemory(false));
                    result.PeakGcCommitted = Math.Max(result.PeakGcCommitted, GC.GetGCMemoryInfo().TotalCommittedBytes);
                    try { await Task.Delay(100, sampling.Token); } catch (OperationCanceledException) { }
                }
            }, CancellationToken.None);

            var addFile = Path.Combine(batchDir, "add.batch");
            var delFile = Path.Combine(batchDir, "del.batch");
            await File.WriteAllLinesAsync(addFile, Enumerable.Range(0, pairs).Select(i => $"link add s{i} type veth peer name t{i}"), cancellation);
            await File.WriteAllLinesAsync(delFile, Enumerable.Range(0, pairs).Select(i => $"link del s{i}"), cancellation);

            // Adds.
            result.SeqBefore = ReadSeqNum();
            var addStart = Stopwatch.GetTimestamp();
            ns.IpBatch(addFile, cancellation);
            var addEnd = Stopwatch.GetTimestamp();
            result.SeqAfterAdds = ReadSeqNum();
            result.AddBatch = Stopwatch.GetElapsedTime(addStart, addEnd);
            var afterAdds = await SettleAsync(agent.Watcher, source, counts, s => s.Devices == baseline.Devices + 2 * pairs, addEnd, cancellation);
            result.AddDrainedAfter = afterAdds.LastChangeAfter;
            var (presentAfterAdds, supervisorsAfterAdds) = await StormDevicesAsync(agent.Watcher);
            result.PresentAfterAdds = presentAfterAdds;
            result.DevicesAfterAdds = afterAdds.Stats.Devices - baseline.Devices;
            result.AddsHealed = presentAfterAdds == 2 * pairs && supervisorsAfterAdds == 2 * pairs && result.DevicesAfterAdds == 2 * pairs;

            // Deletes (one side of a pair takes the other with it).
            var delStart = Stopwatch.GetTimestamp();
            ns.IpBatch(delFile, cancellation);
            var delEnd = Stopwatch.GetTimestamp();
            result.SeqAfterDeletes = ReadSeqNum();
            result.DeleteBatch = Stopwatch.GetElapsedTime(delStart, delEnd);
            var afterDeletes = await SettleAsync(agent.Watcher, source, counts, s => s.Devices == baseline.Devices, delEnd, cancellation);
            result.DeleteDrainedAfter = afterDeletes.LastChangeAfter;
            var (presentAfterDeletes, supervisorsAfterDeletes) = await StormDevicesAsync(agent.Watcher);
            result.PresentAfterDeletes = presentAfterDeletes;
            result.SupervisorsAfterDeletes = supervisorsAfterDeletes;
            result.DevicesAfterDeletes = afterDeletes.Stats.Devices - baseline.Devices;
            result.DeletesHealed = presentAfterDeletes == 0 && supervisorsAfterDeletes == 0 && result.DevicesAfterDeletes == 0;

            sampling.Cancel();
            await sampler;
            sampler = null;
            self.Refresh();
            result.ProcessPeakWorkingSet = self.PeakWorkingSet64;
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            result.GcHeapAfter = GC.GetTotalMemory(false);

            var src = source.Counters.Snapshot();
            result.SourceReceived = src.Received - baseSource.Received;
            result.SourceAccepted = src.Accepted - baseSource.Accepted;
            result.SourceRejected = src.Rejected - baseSource.Rejected;
            result.SourceOverflows = src.Overflows - baseSource.Overflows;
            result.SourceOtherDrops = (src.Truncated - baseSource.Truncated) + (src.ForeignSender - baseSource.ForeignSender)
                + (src.BadCredentials - baseSource.BadCredentials) + (src.ReceiveErrors - baseSource.ReceiveErrors);
            var end = afterDeletes.Stats;
            result.WatcherReceived = end.Received - baseline.Received;
            result.WatcherFiltered = end.Filtered - baseline.Filtered;
            result.WatcherDuplicates = end.Duplicates - baseline.Duplicates;
            result.WatcherSynthesised = end.Synthesised - baseline.Synthesised;
            result.WatcherNetKernel = result.WatcherReceived - result.WatcherFiltered - result.WatcherDuplicates - result.WatcherSynthesised;
            result.WatcherOverflows = end.Overflows - baseline.Overflows;
            result.Resyncs = end.Resyncs - baseline.Resyncs;
            var c = counts.Copy();
            result.KernelAdds = c.KernelAdd - baseCounts.KernelAdd;
            result.KernelRemoves = c.KernelRemove - baseCounts.KernelRemove;
            result.KernelOther = c.KernelOther - baseCounts.KernelOther;
            result.SynthAdds = c.SynthAdd - baseCounts.SynthAdd;
            result.SynthRemoves = c.SynthRemove - baseCounts.SynthRemove;
            result.Expected = 4L * pairs;
            return result;
        }
        finally
        {
            sampling.Cancel();
            if (sampler is not null) await sampler.ContinueWith(_ => { });
            source?.Dispose();
            if (system is not null) await system.Terminate().WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { });
            ns?.Dispose();
            try { Directory.Delete(batchDir, recursive: true); } catch (IOException) { }
        }
    }

    /// <param name="LastChangeAfter">When the agent last moved, from the batch's end; null when it had already caught up at the first poll.</param>
    private sealed record Settled(WatcherStats Stats, TimeSpan? LastChangeAfter, bool ConditionMet);

    /// <summary>
    /// Polls every 100 ms until the condition holds and nothing (source, watcher, counts) has
    /// changed for 1 s; gives up waiting for the condition after 5 s of quiet (or 3 minutes).
    /// </summary>
    private static async Task<Settled> SettleAsync(IActorRef watcher, NetlinkUeventSource source, StormCounts counts,
        Func<WatcherStats, bool> condition, long since, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        (long, WatcherStats, long)? last = null;
        var lastChange = Stopwatch.GetTimestamp();
        var changedSinceFirstPoll = false;
        while (true)
        {
            cancellation.ThrowIfCancellationRequested();
            var stats = await watcher.Ask<WatcherStats>(new GetWatcherStats(), TimeSpan.FromSeconds(30));
            var now = (source.Counters.Received, stats, counts.Total);
            if (last is null || now != last.Value)
            {
                changedSinceFirstPoll |= last is not null;
                lastChange = Stopwatch.GetTimestamp();
            }
            last = now;
            var quiet = Stopwatch.GetElapsedTime(lastChange);
            var met = condition(stats);
            if ((met && quiet >= QuietFor) || quiet >= GiveUpQuietFor || clock.Elapsed > SettleTimeout)
                return new Settled(stats, changedSinceFirstPoll ? Stopwatch.GetElapsedTime(since, lastChange) : null, met);
            await Task.Delay(100, cancellation);
        }
    }

    /// <summary>Storm devices (sN, tN) the watcher shows as present, and its supervisors of storm devices.</summary>
    private static async Task<(int Present, int Supervisors)> StormDevicesAsync(IActorRef watcher)
    {
        var list = await watcher.Ask<DeviceList>(new GetDevices(), TimeSpan.FromSeconds(60));
        var storm = list.Devices.Where(d => StormEventCounter.IsStormDevice(d.Device.Name)).ToList();
        return (storm.Count(d => d.Present), storm.Count);
    }

    private static ulong ReadSeqNum() =>
        ulong.Parse(File.ReadAllText("/sys/kernel/uevent_seqnum").Trim(), CultureInfo.InvariantCulture);

    private static void Print(int pairs, List<StormResult> results)
    {
        BenchFormat.Header($"storm — {pairs} veth pairs ({2 * pairs} net devices) created then deleted in one namespace");
        var rows = new List<(string Name, Func<StormResult, string> Value)>
        {
            ("netlink socket", r => r.SourceDescription),
            ("kernel SEQNUM range (global counter)", r => $"{r.SeqBefore}..{r.SeqAfterDeletes} ({r.SeqAfterDeletes - r.SeqBefore})"),
            ("  of which during the adds / the deletes", r => $"{r.SeqAfterAdds - r.SeqBefore} / {r.SeqAfterDeletes - r.SeqAfterAdds} ({(double)(r.SeqAfterAdds - r.SeqBefore) / pairs:0.#} / {(double)(r.SeqAfterDeletes - r.SeqAfterAdds) / pairs:0.#} per pair)"),
            ("create batch (ip -batch, wall)", r => $"{r.AddBatch.TotalMilliseconds:0} ms ({r.AddBatch.TotalMilliseconds * 1000 / pairs:0} us/pair)"),
            ("  agent quiet after the create batch", r => Drained(r.AddDrainedAfter)),
            ("delete batch (ip -batch, wall)", r => $"{r.DeleteBatch.TotalSeconds:0.0} s ({r.DeleteBatch.TotalMilliseconds / pairs:0.0} ms/pair)"),
            ("  agent quiet after the delete batch", r => Drained(r.DeleteDrainedAfter)),
            ("source: datagrams received / accepted", r => $"{r.SourceReceived} / {r.SourceAccepted}"),
            ("source: rejected / other drops", r => $"{r.SourceRejected} / {r.SourceOtherDrops}"),
            ("overflows (ENOBUFS) source / watcher", r => $"{r.SourceOverflows} / {r.WatcherOverflows}"),
            ("resyncs (after the start-up one)", r => $"{r.Resyncs}"),
            ("watcher: received (incl. synthesised)", r => $"{r.WatcherReceived}"),
            ("watcher: filtered (not net) / duplicates", r => $"{r.WatcherFiltered} / {r.WatcherDuplicates}"),
            ("watcher: net events from the kernel", r => $"{r.WatcherNetKernel}"),
            ("storm net add+remove expected (4 x pairs)", r => $"{r.Expected}"),
            ("storm net add / remove seen from kernel", r => $"{r.KernelAdds} / {r.KernelRemoves}" + (r.KernelOther > 0 ? $" (+{r.KernelOther} other)" : "")),
            ("storm net events seen vs expected", r => $"{r.KernelAdds + r.KernelRemoves} / {r.Expected} ({100.0 * (r.KernelAdds + r.KernelRemoves) / r.Expected:0.0}%)"),
            ("resync synthesised add / remove (storm)", r => $"{r.SynthAdds} / {r.SynthRemoves} (all: {r.WatcherSynthesised})"),
            ("after adds: present / supervisors (exp.)", r => $"{r.PresentAfterAdds} / {r.DevicesAfterAdds} ({2 * pairs}) {(r.AddsHealed ? "ok" : "MISSING")}"),
            ("after deletes: present / supervisors left", r => $"{r.PresentAfterDeletes} / {r.SupervisorsAfterDeletes} (stats {r.DevicesAfterDeletes:+0;-0;0}) {(r.DeletesHealed ? "ok" : "NOT HEALED")}"),
            ("final state healed", r => r.Healed ? "yes" : "NO"),
            ("working set before / peak (sampled)", r => $"{BenchFormat.Mib(r.WorkingSetBefore)} / {BenchFormat.Mib(r.PeakWorkingSet)}"),
            ("process PeakWorkingSet64 (lifetime)", r => BenchFormat.Mib(r.ProcessPeakWorkingSet)),
            ("GC heap before / peak / after (GC'd)", r => $"{BenchFormat.Mib(r.GcHeapBefore)} / {BenchFormat.Mib(r.PeakGcHeap)} / {BenchFormat.Mib(r.GcHeapAfter)}"),
            ("GC committed peak", r => BenchFormat.Mib(r.PeakGcCommitted)),
        };
        var columns = results.Select(r => rows.Select(row => row.Value(r)).ToList()).ToList();
        var widths = columns.Select(col => Math.Max(col.Max(v => v.Length), 12)).ToList();
        Console.Write($"  {"",-46}");
        for (var i = 0; i < results.Count; i++) Console.Write($" | {("rcvbuf " + results[i].RequestedLabel).PadRight(widths[i])}");
        Console.WriteLine();
        for (var r = 0; r < rows.Count; r++)
        {
            Console.Write($"  {rows[r].Name,-46}");
            for (var i = 0; i < results.Count; i++) Console.Write($" | {columns[i][r].PadRight(widths[i])}");
            Console.WriteLine();
        }
    }

    private static string Drained(TimeSpan? after) =>
        after is { } t ? $"+{t.TotalMilliseconds:0} ms" : "caught up by the batch's end";

    private sealed class StormResult(int receiveBuffer)
    {
        public int ReceiveBuffer { get; } = receiveBuffer;
        public string RequestedLabel => ReceiveBuffer % (1 << 20) == 0 ? $"{ReceiveBuffer >> 20} MiB" : ReceiveBuffer % 1024 == 0 ? $"{ReceiveBuffer >> 10} KiB" : $"{ReceiveBuffer} B";
        public string SourceDescription { get; set; } = "";
        public ulong SeqBefore, SeqAfterAdds, SeqAfterDeletes;
        public TimeSpan AddBatch, DeleteBatch;
        public TimeSpan? AddDrainedAfter, DeleteDrainedAfter;
        public long SourceReceived, SourceAccepted, SourceRejected, SourceOverflows, SourceOtherDrops;
        public long WatcherReceived, WatcherFiltered, WatcherDuplicates, WatcherSynthesised, WatcherNetKernel, WatcherOverflows, Resyncs;
        public long KernelAdds, KernelRemoves, KernelOther, SynthAdds, SynthRemoves, Expected;
        public int PresentAfterAdds, DevicesAfterAdds, PresentAfterDeletes, SupervisorsAfterDeletes, DevicesAfterDeletes;
        public bool AddsHealed, DeletesHealed;
        public bool Healed => AddsHealed && DeletesHealed;
        public long WorkingSetBefore, GcHeapBefore, GcHeapAfter, ProcessPeakWorkingSet;
        public long PeakWorkingSet, PeakGcHeap, PeakGcCommitted;
    }
}

/// <summary>Net device events for storm devices, by origin and action; written by the counter actor, read by the benchmark.</summary>
internal sealed class StormCounts
{
    public long KernelAdd, KernelRemove, KernelOther, SynthAdd, SynthRemove;

    public long Total => Interlocked.Read(ref KernelAdd) + Interlocked.Read(ref KernelRemove) + Interlocked.Read(ref KernelOther)
        + Interlocked.Read(ref SynthAdd) + Interlocked.Read(ref SynthRemove);

    public StormCounts Copy() => new()
    {
        KernelAdd = Interlocked.Read(ref KernelAdd),
        KernelRemove = Interlocked.Read(ref KernelRemove),
        KernelOther = Interlocked.Read(ref KernelOther),
        SynthAdd = Interlocked.Read(ref SynthAdd),
        SynthRemove = Interlocked.Read(ref SynthRemove),
    };
}

/// <summary>Subscribed to the watcher for net device events; counts those of storm devices (sN, tN).</summary>
internal sealed class StormEventCounter(StormCounts counts) : UntypedActor
{
    public static bool IsStormDevice(string name) =>
        name.Length > 1 && name[0] is ('s' or 't') && name.AsSpan(1).IndexOfAnyExceptInRange('0', '9') < 0;

    protected override void OnReceive(object message)
    {
        if (message is not DeviceEvent e || !IsStormDevice(e.Device.Name)) return;
        var resync = e.Uevent.Origin == UeventOrigin.Resync;
        switch (e.Uevent.Action)
        {
            case UeventAction.Add: Interlocked.Increment(ref resync ? ref counts.SynthAdd : ref counts.KernelAdd); break;
            case UeventAction.Remove: Interlocked.Increment(ref resync ? ref counts.SynthRemove : ref counts.KernelRemove); break;
            default: Interlocked.Increment(ref counts.KernelOther); break;
        }
    }
}
