using System.Diagnostics;
using System.Net.Sockets;
using Replug.Agent.Tests.Support;
using Replug.Coordinator.Tests.Support;

namespace Replug.Coordinator.Tests;

/// <summary>
/// The kernel fence with real processes, judged by traffic (<see cref="BridgedVm"/>): a coordinator
/// process and an agent process acting in a host namespace whose port p1 is bridge br-p1 over NIC n1.
/// </summary>
public sealed partial class CoordinatorHostTests
{
    /// <summary>Frames for port p1 every 5 ms from the fabric, each dated by its sender; the VM's end notes the newest that crossed the bridge.</summary>
    private sealed class ForwardingProbe : IDisposable
    {
        private readonly BridgedVm _net = new("br-p1", "n1", enslaveNic: false, prefix: "rpf");
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _sending;
        private readonly Task _receiving;
        private long _lastReceivedTicks = -1;

        public TestNetworkNamespace Host => _net.Host;

        public ForwardingProbe()
        {
            _sending = Task.Run(async () =>
            {
                var payload = new byte[8];
                while (!_stop.IsCancellationRequested)
                {
                    // Each frame carries when it was sent: a receiver slowed by a busy machine still dates the forwarding right.
                    BitConverter.TryWriteBytes(payload, _clock.Elapsed.Ticks);
                    _net.SendToVm(payload);
                    try { await Task.Delay(5, _stop.Token); } catch (OperationCanceledException) { }
                }
            });
            // A thread of its own: the loop blocks in Poll for the whole test, and on a thread-pool
            // thread it would starve the other tests' continuations on a two-core machine.
            _receiving = Task.Factory.StartNew(() =>
            {
                var buffer = new byte[64];
                while (!_stop.IsCancellationRequested)
                {
                    if (!_net.Receiver.Poll(TimeSpan.FromMilliseconds(50), SelectMode.SelectRead)) continue;
                    if (_net.Receiver.Receive(buffer) != 8) continue;
                    var sent = BitConverter.ToInt64(buffer, 0);
                    if (sent > Interlocked.Read(ref _lastReceivedTicks)) Interlocked.Exchange(ref _lastReceivedTicks, sent);
                }
            }, TaskCreationOptions.LongRunning);
        }

        /// <summary>When the last frame that crossed the bridge was sent, on this probe's clock (null: none yet).</summary>
        public TimeSpan? LastForwarded => Interlocked.Read(ref _lastReceivedTicks) is var t and >= 0 ? TimeSpan.FromTicks(t) : null;

        public TimeSpan Now => _clock.Elapsed;

        public bool ForwardingWithin(TimeSpan window) => LastForwarded is { } last && Now - last <= window;

        public void Dispose()
        {
            _stop.Cancel();
            try { Task.WaitAll([_sending, _receiving], TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
            _net.Dispose();
        }
    }

    private sealed class RootAndNftFactAttribute : FactAttribute
    {
        public RootAndNftFactAttribute()
        {
            if (KernelRequirements.MissingReason() is { } reason) Skip = reason;
            else if (!Shell.TryRun("nft", "--version", out _)) Skip = "needs nftables ('nft')";
        }
    }

    /// <param name="port">The agent's remoting port: a restarted agent comes back at its address, as a service does.</param>
    private RunningProgram StartFencedAgent(ForwardingProbe probe, string seed, int port = 0) =>
        StartAgent("--netns", probe.Host.Name, "--sysfs", probe.Host.SysfsRoot, "--host", "fenced-host",
            "--Replug:Agent:Subsystems:0=net", $"--Replug:Cluster:SeedNodes:0={seed}", $"--Replug:Cluster:Port={port}",
            "--Replug:Agent:Ports:0:Name=p1", "--Replug:Agent:Ports:0:Devices:0=net/n1", "--Replug:Agent:Ports:0:DataPath:Bridge=br-p1");

    [RootAndNftFact]
    public async Task A_killed_agents_port_stops_forwarding_within_the_lease_with_no_process_running()
    {
        using var probe = new ForwardingProbe();
        using var coordinator = Start(Isolated());
        var seed = await coordinator.Remoting.Task.WaitAsync(TimeSpan.FromSeconds(60));
        using var agent = StartFencedAgent(probe, seed);
        await Wait.Until(() => probe.ForwardingWithin(TimeSpan.FromMilliseconds(100)), "p1 forwarding through br-p1", TimeSpan.FromSeconds(90));

        var killedAt = probe.Now;
        agent.Process.Kill(); // SIGKILL: nothing of the agent runs from here on
        Assert.True(agent.Process.WaitForExit(10_000));

        // The kernel's own timeout ends the lease: the coordinator granted 1.5 s from a request.
        await Wait.Until(() => !probe.ForwardingWithin(TimeSpan.FromMilliseconds(100)), "p1 no longer forwarding", TimeSpan.FromSeconds(10));
        var forwardedFor = probe.LastForwarded!.Value - killedAt;
        output.WriteLine($"p1 forwarded {forwardedFor.TotalMilliseconds:0} ms after the agent was killed");
        Assert.True(forwardedFor < TimeSpan.FromSeconds(1.5), $"p1 forwarded {forwardedFor} after the kill: longer than the lease");
        // Still enslaved and up: nothing but the kernel's fence stops it.
        Assert.Contains("master br-p1", probe.Host.Ip("link show dev n1"));
    }

    [RootAndNftFact]
    public async Task A_restarted_agent_forwards_again_once_the_coordinator_confirms_its_port_and_stops_on_a_graceful_stop()
    {
        using var probe = new ForwardingProbe();
        using var coordinator = Start(Isolated());
        var seed = await coordinator.Remoting.Task.WaitAsync(TimeSpan.FromSeconds(60));
        var port = FreePort();
        using (var first = StartFencedAgent(probe, seed, port))
        {
            await Wait.Until(() => probe.ForwardingWithin(TimeSpan.FromMilliseconds(100)), "p1 forwarding", TimeSpan.FromSeconds(90));
            first.Process.Kill();
            Assert.True(first.Process.WaitForExit(10_000));
        }
        await Wait.Until(() => !probe.ForwardingWithin(TimeSpan.FromMilliseconds(100)), "p1 stopped with the agent", TimeSpan.FromSeconds(10));

        // A new incarnation at the same address: it registers, the coordinator names p1 as still its
        // own (nobody else could take it), and p1 is leased again.
        using var second = StartFencedAgent(probe, seed, port);
        await Wait.Until(() => probe.ForwardingWithin(TimeSpan.FromMilliseconds(100)), "p1 forwarding after the restart", TimeSpan.FromSeconds(90));
        Assert.Equal(0, await second.Terminate());
        Assert.Contains(second.Log, l => l.Contains("registered with the coordinator"));
        await Wait.Until(() => !probe.ForwardingWithin(TimeSpan.FromMilliseconds(100)), "p1 stopped with the agent's stop", TimeSpan.FromSeconds(5));
        Assert.Equal(0, await coordinator.Terminate());
    }
}
