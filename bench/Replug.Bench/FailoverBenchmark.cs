using System.Diagnostics;
using System.Threading.Channels;
using Akka.Actor;
using Akka.Configuration;
using Replug.Agent.Devices;
using Replug.Agent.Hosting;
using Replug.Agent.Ports;
using Replug.Agent.Sources;
using Replug.Shared.Devices;

namespace Replug.Bench;

/// <summary>
/// Local fail-over latency on the real kernel: a port over two veths on a bridge in a fresh
/// network namespace; the preferred veth is deleted and re-created N times. The figure is the
/// agent's reaction: from the netlink receive of the causing uevent to the bridge switch
/// acknowledged by rtnetlink (<see cref="PortSwitched.Reaction"/>).
/// </summary>
public static class FailoverBenchmark
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(10);

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Contains("-h") || args.Contains("--help"))
        {
            Console.WriteLine("usage: failover [--iterations N (1000)] [--warmup N (20)]");
            return 0;
        }
        var iterations = BenchFormat.IntOption(args, "--iterations", 1000);
        var warmup = BenchFormat.IntOption(args, "--warmup", 20);
        if (iterations <= 0 || warmup < 0)
        {
            Console.Error.WriteLine("--iterations must be positive and --warmup not negative");
            return 2;
        }
        var cancellation = BenchCleanup.Token;

        BenchNamespace? ns = null;
        ActorSystem? system = null;
        NetlinkUeventSource? source = null;
        IpBatchProcess? ip = null;
        try
        {
            ns = new BenchNamespace("rbf");
            ns.Ip("link", "add", "br0", "type", "bridge");
            ns.Ip("link", "set", "br0", "up");
            ns.Ip("link", "add", "v1", "type", "veth", "peer", "name", "v1p");
            ns.Ip("link", "add", "v2", "type", "veth", "peer", "name", "v2p");
            // Peers up: a present NIC has carrier, so it is operationally up (the bridge data path keeps
            // the previous device until the next one is, which a NIC without carrier never becomes).
            ns.Ip("link", "set", "v1p", "up");
            ns.Ip("link", "set", "v2p", "up");
            var sysfs = ns.SysfsRoot;

            var options = new AgentOptions
            {
                Host = ns.Name,
                SysfsRoot = sysfs,
                NetworkNamespace = ns.Name,
                Subsystems = [Subsystems.Net],
                Ports =
                [
                    new AgentOptions.PortOptions
                    {
                        Name = "uplink", Devices = ["net/v1", "net/v2"], Revertive = true,
                        DataPath = new AgentOptions.DataPathOptions { Kind = "bridge", Bridge = "br0" },
                    },
                ],
            };
            if (options.Validate() is { Count: > 0 } errors) throw new InvalidOperationException(string.Join("; ", errors));

            system = ActorSystem.Create("replug-bench-failover",
                ConfigurationFactory.ParseString("akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING"));
            var channel = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
            var forwarder = system.ActorOf(ChannelForwarder.Props(channel.Writer), "bench-events");
            foreach (var type in new[] { typeof(PortSwitched), typeof(PortSwitchFailed), typeof(PortEscalated), typeof(DeviceStateChanged) })
                system.EventStream.Subscribe(forwarder, type);
            var events = new AgentEventReader(channel.Reader);

            // Socket first: the kernel queues for it while the agent starts.
            source = new NetlinkUeventSource(new NetlinkSourceOptions { NetworkNamespace = ns.Name });
            var agent = AgentActors.Start(system, options, new SysfsDeviceBus(sysfs));
            source.Start(agent.ActorUeventSinkFor());
            var port = agent.Ports[new PortId("uplink")];
            var v1 = DeviceId.Net("v1");
            var v2 = DeviceId.Net("v2");
            var v1p = DeviceId.Net("v1p");

            await events.WaitStateAsync(v1, DeviceState.Active, StepTimeout, cancellation);
            await events.WaitStateAsync(v2, DeviceState.Active, StepTimeout, cancellation);
            await WaitUntil(async () =>
            {
                var status = await port.Ask<PortStatus>(new PortProtocol.GetPortStatus(), TimeSpan.FromSeconds(3));
                return status.Active == v1 && status.Healthy.Count == 2 && ns.MasterOf("v1") == "br0";
            }, StepTimeout, "port uplink active on v1 with both members healthy", cancellation);
            events.Drain();

            ip = new IpBatchProcess(ns.Name);
            var failover = new List<double>(iterations);
            var revert = new List<double>(iterations);
            var delToUevent = new List<double>(iterations);
            var addToUevent = new List<double>(iterations);
            var cycles = new List<double>(iterations);
            int failoverMismatches = 0, revertMismatches = 0, missingTrigger = 0, preparedFailovers = 0;
            // What a real fault meets: the process's first switch, with nothing warmed up by an earlier one.
            TimeSpan? firstFailover = null;

            Console.WriteLine($"failover: namespace {ns.Name}, {source.Description}; {warmup} warm-up + {iterations} iterations ...");
            var total = Stopwatch.StartNew();
            for (var i = 0; i < warmup + iterations; i++)
            {
                cancellation.ThrowIfCancellationRequested();
                var counted = i >= warmup;
                var cycleStart = Stopwatch.GetTimestamp();

                // Fail-over: the active veth disappears.
                var sentDel = Stopwatch.GetTimestamp();
                ip.Send("link del v1");
                var down = await events.NextAsync<PortSwitched>(s => s.To == v2, StepTimeout, "fail-over to net/v2", cancellation);
                var failoverOk = ns.MasterOf("v2") == "br0";
                // Let the supervisor finish (remap acknowledged, detached) so the return is measured alone.
                await events.WaitStateAsync(v1, DeviceState.Detached, StepTimeout, cancellation);

                // Return: the veth comes back; revertive, so traffic goes back to it.
                var sentAdd = Stopwatch.GetTimestamp();
                ip.Send("link add v1 type veth peer name v1p");
                ip.Send("link set v1p up");
                var up = await events.NextAsync<PortSwitched>(s => s.From == v2 && s.To == v1, StepTimeout, "revert to net/v1", cancellation);
                var revertOk = ns.MasterOf("v1") == "br0" && ns.MasterOf("v2") is null;
                await events.WaitStateAsync(v1, DeviceState.Active, StepTimeout, cancellation);
                // The peer too (unmanaged, probed in the background): deleting v1 while v1p's probe
                // still runs makes that probe fail and retry, which is noise for the next iteration.
                await events.WaitStateAsync(v1p, DeviceState.Active, StepTimeout, cancellation);

                if (i == 0) firstFailover = down.Reaction;
                if (!counted) continue;
                if (!failoverOk) failoverMismatches++;
                if (!revertOk) revertMismatches++;
                if (down.Prepared) preparedFailovers++;
                if (down.Reaction is { } d) failover.Add(d.TotalMicroseconds); else missingTrigger++;
                if (up.Reaction is { } u) revert.Add(u.TotalMicroseconds); else missingTrigger++;
                if (down.TriggerTimestamp != 0) delToUevent.Add(Stopwatch.GetElapsedTime(sentDel, down.TriggerTimestamp).TotalMicroseconds);
                if (up.TriggerTimestamp != 0) addToUevent.Add(Stopwatch.GetElapsedTime(sentAdd, up.TriggerTimestamp).TotalMicroseconds);
                cycles.Add(Stopwatch.GetElapsedTime(cycleStart).TotalMilliseconds);
            }
            total.Stop();

            // The data path alone, for comparison: the same rtnetlink switch, called directly,
            // with nothing else holding RTNL (the agent's port is idle on v1 now).
            var direct = new List<double>(2 * iterations);
            using (var bridge = new BridgeDataPath(new Dictionary<PortId, string> { [new PortId("bench")] = "br0" }, ns.Name))
            {
                for (var i = 0; i < Math.Min(iterations, 1000); i++)
                {
                    foreach (var (from, to) in new[] { (v1, v2), (v2, v1) })
                    {
                        var t0 = Stopwatch.GetTimestamp();
                        var r = await bridge.SwitchAsync(new PortId("bench"), from, to, CancellationToken.None);
                        direct.Add(Stopwatch.GetElapsedTime(t0).TotalMicroseconds);
                        if (!r.Succeeded) throw new InvalidOperationException($"direct switch {from} -> {to} failed: {r.Error}");
                    }
                }
            }

            failover.Sort();
            revert.Sort();
            delToUevent.Sort();
            addToUevent.Sort();
            cycles.Sort();
            direct.Sort();
            var p99 = BenchFormat.Percentile(failover, 99);
            var goalMet = failover.Count > 0 && p99 < 1000;

            BenchFormat.Header("failover — local fail-over on the real kernel (bridge data path, revertive port over 2 veths)");
            BenchFormat.Row("iterations (after warm-up)", $"{iterations} (+{warmup} warm-up) in {total.Elapsed.TotalSeconds:0.0} s");
            BenchFormat.Row("netlink receive buffer", source.Description);
            BenchFormat.Row("fail-over reaction p50 / p90 / p99 / max", Micros(failover, 50, 90, 99, 100));
            BenchFormat.Row("revert (restore+revert) reaction p50 / p99 / max", Micros(revert, 50, 99, 100));
            BenchFormat.Row("first fail-over after start (cold, not in the figures above)", firstFailover is { } cold ? $"{cold.TotalMicroseconds:0} us" : "no trigger");
            BenchFormat.Row("fail-overs by the prepared switch (source thread)", $"{preparedFailovers} of {iterations}");
            BenchFormat.Row("fail-over mismatches (v2 master != br0)", $"{failoverMismatches}");
            BenchFormat.Row("revert mismatches (v1 not in br0 / v2 still in)", $"{revertMismatches}");
            BenchFormat.Row("switch failures / escalations / no trigger", $"{events.SwitchFailures} / {events.Escalations} / {missingTrigger}");
            BenchFormat.Row("goal: fail-over p99 < 1 ms", goalMet ? $"MET ({p99:0} us)" : $"NOT MET ({p99:0} us)");
            Console.WriteLine("  where the time goes (outside the measured reaction):");
            BenchFormat.Row("  bridge switch alone (rtnetlink, idle) p50 / p99", Micros(direct, 50, 99));
            BenchFormat.Row("  'link del' written -> uevent received p50 / p99", Micros(delToUevent, 50, 99));
            BenchFormat.Row("  'link add' written -> uevent received p50 / p99", Micros(addToUevent, 50, 99));
            BenchFormat.Row("  whole iteration (del, switch, add, revert) p50 / p99", $"{BenchFormat.Percentile(cycles, 50):0.0} / {BenchFormat.Percentile(cycles, 99):0.0} ms");
            if (ip.Errors.Count > 0) BenchFormat.Row("ip -batch errors", $"{ip.Errors.Count} (first: {ip.Errors.First()})");

            return failoverMismatches == 0 && revertMismatches == 0 && events.SwitchFailures == 0 && missingTrigger == 0 ? 0 : 1;
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            Console.Error.WriteLine("failover: interrupted");
            return 130;
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException or IOException)
        {
            Console.Error.WriteLine($"failover: {e.GetType().Name}: {e.Message}");
            return 1;
        }
        finally
        {
            ip?.Dispose();
            source?.Dispose();
            if (system is not null) await system.Terminate().WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { });
            ns?.Dispose();
        }
    }

    private static string Micros(List<double> sorted, params double[] percentiles) =>
        sorted.Count == 0 ? "n/a"
            : string.Join(" / ", percentiles.Select(p => $"{BenchFormat.Percentile(sorted, p):0}")) + " us";

    private static async Task WaitUntil(Func<Task<bool>> condition, TimeSpan timeout, string what, CancellationToken cancellation)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            cancellation.ThrowIfCancellationRequested();
            try
            {
                if (await condition()) return;
            }
            catch (AskTimeoutException) { }
            if (deadline.Elapsed > timeout) throw new TimeoutException($"not reached within {timeout.TotalSeconds:0} s: {what}");
            await Task.Delay(20, cancellation);
        }
    }
}
