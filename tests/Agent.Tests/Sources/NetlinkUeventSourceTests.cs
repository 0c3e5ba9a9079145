using System.Diagnostics;
using System.Text;
using Replug.Agent.Linux;
using Replug.Agent.Sources;
using Replug.Agent.Tests.Support;
using Replug.Shared.Uevents;
using Xunit.Abstractions;

namespace Replug.Agent.Tests.Sources;

/// <summary>
/// The real kernel, in a fresh network namespace per test: net device uevents are delivered
/// only to sockets of the device's namespace, so tests do not see each other's links.
/// Ordering makes them deterministic: `ip` returns only after the kernel has broadcast the
/// uevents of its request, so an event waited for after an action proves that everything the
/// action sent has been read (or dropped) before.
/// </summary>
public sealed class NetlinkUeventSourceTests(ITestOutputHelper output)
{
    private static bool IsNetAdd(Uevent e, string name) =>
        e.Action == UeventAction.Add && e.Subsystem == "net" && e.Interface == name;

    private static bool IsNetRemove(Uevent e, string name) =>
        e.Action == UeventAction.Remove && e.Subsystem == "net" && e.Interface == name;

    [KernelFact]
    public void SeesVethAddAndRemoveInItsNamespace()
    {
        using var ns = new TestNetworkNamespace("rpsrc");
        using var source = new NetlinkUeventSource(new NetlinkSourceOptions { NetworkNamespace = ns.Name });
        var sink = new CollectingSink();
        source.Start(sink);

        ns.Ip("link add va0 type veth peer name vb0");
        var added = sink.WaitForAll("add of the pair", e => IsNetAdd(e, "va0"), e => IsNetAdd(e, "vb0"))[0];

        Assert.Equal("/devices/virtual/net/va0", added.DevPath);
        Assert.Equal(int.Parse(ns.Ip("-o link show va0").Split(':')[0]), added.IfIndex);
        Assert.Equal(UeventOrigin.Kernel, added.Origin);
        Assert.True(added.SeqNum > 0);
        Assert.True(added.ReceivedTimestamp > 0);

        ns.Ip("link del va0"); // takes its peer with it
        var removed = sink.WaitForAll("remove of the pair", e => IsNetRemove(e, "va0"), e => IsNetRemove(e, "vb0"))[0];
        Assert.Equal(added.IfIndex, removed.IfIndex);

        Assert.True(removed.SeqNum > added.SeqNum);
        Assert.Empty(sink.Rejections);
        Assert.Equal(0, sink.Overflows);
        var counters = source.Counters.Snapshot();
        Assert.Equal(0, counters.ForeignSender + counters.BadCredentials + counters.Truncated + counters.ReceiveErrors);
    }

    [KernelFact]
    public void DoesNotSeeNetDevicesOfTheRootNamespace()
    {
        using var ns = new TestNetworkNamespace("rpiso");
        using var source = new NetlinkUeventSource(new NetlinkSourceOptions { NetworkNamespace = ns.Name });
        var sink = new CollectingSink();
        source.Start(sink);

        // Unique in the root namespace, where other processes live: at most 15 characters.
        var rootName = $"rpr{Environment.ProcessId % 100000}a";
        var rootPeer = $"rpr{Environment.ProcessId % 100000}b";
        try
        {
            Shell.Run("ip", $"link add {rootName} type veth peer name {rootPeer}");
            // Sent after the root namespace's events: once it is read, theirs would have been too.
            ns.Ip("link add marker0 type veth peer name marker1");
            sink.WaitFor(e => IsNetAdd(e, "marker0"), "add of marker0");
        }
        finally
        {
            Shell.TryRun("ip", $"link del {rootName}", out _);
        }

        Assert.DoesNotContain(sink.Taken, e => e.DevPath.Contains(rootName) || e.DevPath.Contains(rootPeer));
    }

    [KernelFact]
    public void DropsAUeventForgedByAUserProcessAndCountsIt()
    {
        using var ns = new TestNetworkNamespace("rpfrg");
        using var source = new NetlinkUeventSource(new NetlinkSourceOptions { NetworkNamespace = ns.Name });
        var sink = new CollectingSink();
        source.Start(sink);
        using var forger = new UeventForger(ns.Name);

        forger.Multicast(UeventForger.FakeNetAdd("fake0", seqNum: 999_999));
        ns.Ip("link add real0 type veth peer name real1");
        sink.WaitFor(e => IsNetAdd(e, "real0"), "add of real0");

        // The counter proves the forgery reached the socket (it is well-formed, see
        // ForgedMessagesAreWellFormed: only the sender check stops it); the event that it was not delivered.
        Assert.NotEqual(0u, forger.PortId);
        Assert.DoesNotContain(sink.Taken, e => e.DevPath.Contains("fake0"));
        output.WriteLine($"{source.Description}: {source.Counters}");
        Assert.Equal(1, source.Counters.ForeignSender);
        Assert.Equal(0, source.Counters.BadCredentials);
        Assert.Empty(sink.Rejections);
    }

    /// <summary>
    /// The kernel reports ENOBUFS before the messages it still holds, and drops everything sent to
    /// the socket until they have been read: an overflow reported at the ENOBUFS would let a device
    /// created right after the report (or a rescan's walk) fall into that gap, with no second
    /// report. The source reports it once the queue is read empty, so what comes after is delivered.
    /// </summary>
    [KernelFact]
    public void ReportsOverflowAndKeepsDeliveringAfterIt()
    {
        using var ns = new TestNetworkNamespace("rpovf");
        // Opened before the storm, read after it: the kernel queues what fits in the tiny
        // buffer, drops the rest and marks the socket with ENOBUFS.
        using var source = new NetlinkUeventSource(new NetlinkSourceOptions { NetworkNamespace = ns.Name, ReceiveBufferBytes = 4096 });
        Assert.InRange(source.GrantedReceiveBufferBytes, 1, 64 * 1024);

        var batch = Path.Combine(Path.GetTempPath(), $"replug-storm-{ns.Name}.txt");
        try
        {
            File.WriteAllLines(batch, Enumerable.Range(0, 300).Select(i => $"link add s{i} type veth peer name t{i}"));
            ns.Ip($"-batch {batch}");
        }
        finally
        {
            File.Delete(batch);
        }

        // Created on the source's own thread, from the report, before it reads on: it is sent
        // while the source is not reading, the harshest moment after a report.
        var sink = new CollectingSink(onOverflow: () =>
            ns.Ip("link add after0 numtxqueues 1 numrxqueues 1 type veth peer name after1 numtxqueues 1 numrxqueues 1"));
        source.Start(sink);
        sink.WaitFor(e => IsNetAdd(e, "after0"), "add of after0 (after the overflow)");

        output.WriteLine($"{source.Description}: {source.Counters}; {sink.DeliveredBeforeOverflow} delivered before the report");
        Assert.True(sink.Overflows >= 1, "no overflow reported");
        Assert.Equal(sink.Overflows, source.Counters.Overflows);
        Assert.Equal(0, source.Counters.SinkErrors);
        // Everything the storm left in the queue came before the report.
        var storm = sink.Taken.Count(e => e.DevPath.Contains("/net/s") || e.DevPath.Contains("/net/t"));
        Assert.True(storm > 0, "nothing of the storm was queued");
        Assert.True(storm <= sink.DeliveredBeforeOverflow, $"{storm} storm events, {sink.DeliveredBeforeOverflow} before the report");
        // Most of the storm's ~4,000 events were dropped; what was delivered is a handful.
        Assert.True(source.Counters.Accepted < 1000, $"accepted {source.Counters.Accepted}: the buffer was not small");
        Assert.Equal(0, source.Counters.ReceiveErrors);
    }

    [KernelFact]
    public void GrantedReceiveBufferIsReadBack()
    {
        using var ns = new TestNetworkNamespace("rpbuf");
        using var forced = new NetlinkUeventSource(new NetlinkSourceOptions { NetworkNamespace = ns.Name });
        using var small = new NetlinkUeventSource(new NetlinkSourceOptions { NetworkNamespace = ns.Name, ReceiveBufferBytes = 4096 });

        // As root SO_RCVBUFFORCE works, past rmem_max; the kernel doubles what it was asked.
        output.WriteLine($"{forced.Description}; {small.Description}");
        Assert.True(forced.ReceiveBufferForced);
        Assert.True(forced.GrantedReceiveBufferBytes >= NetlinkSourceOptions.DefaultReceiveBufferBytes, $"granted {forced.GrantedReceiveBufferBytes}");
        Assert.Contains($"rcvbuf {forced.GrantedReceiveBufferBytes >> 20} MiB", forced.Description);
        Assert.Contains(ns.Name, forced.Description);
        Assert.True(small.GrantedReceiveBufferBytes > 0);
        Assert.True(small.GrantedReceiveBufferBytes < forced.GrantedReceiveBufferBytes);
        Assert.NotEqual(0u, forced.PortId);
        Assert.NotEqual(forced.PortId, small.PortId);
    }

    [KernelFact]
    public void StopEndsTheLoopWithoutCompletingAndDisposeIsIdempotent()
    {
        using var ns = new TestNetworkNamespace("rpstp");
        var source = new NetlinkUeventSource(new NetlinkSourceOptions { NetworkNamespace = ns.Name });
        var sink = new CollectingSink();
        source.Start(sink);
        Assert.Throws<InvalidOperationException>(() => source.Start(sink));

        var stopwatch = Stopwatch.StartNew();
        source.Stop();
        source.Stop();
        source.Dispose();
        source.Dispose();

        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(30), $"Stop took {stopwatch.Elapsed}");
        Assert.Equal(0, sink.Completions);
        Assert.Throws<ObjectDisposedException>(() => source.Start(sink));
    }

    [KernelFact]
    public void DisposeFromTheSinkDoesNotDeadlock()
    {
        using var ns = new TestNetworkNamespace("rpdsp");
        var source = new NetlinkUeventSource(new NetlinkSourceOptions { NetworkNamespace = ns.Name });
        var disposed = new ManualResetEventSlim();
        source.Start(new DisposingSink(source, disposed));

        ns.Ip("link add d0 type veth peer name d1");

        Assert.True(disposed.Wait(CollectingSink.Generous), "the sink never got an event");
        source.Dispose();
    }

    [KernelFact]
    public void AMissingNamespaceFailsAtConstruction() =>
        Assert.Throws<IOException>(() => new NetlinkUeventSource(new NetlinkSourceOptions { NetworkNamespace = $"rpnone{Environment.ProcessId}" }));

    [Fact]
    public void ChecksFollowSystemdsOrder()
    {
        var kernel = new Libc.SockaddrNl { Family = Libc.AF_NETLINK, PortId = 0 };
        var process = kernel with { PortId = 4242 };
        var size = (uint)System.Runtime.CompilerServices.Unsafe.SizeOf<Libc.SockaddrNl>();

        Assert.Equal(NetlinkUeventSource.Verdict.Parse, NetlinkUeventSource.Check(0, size, kernel, hasCredentials: true, uid: 0));
        Assert.Equal(NetlinkUeventSource.Verdict.Truncated, NetlinkUeventSource.Check(Libc.MSG_TRUNC, size, process, false, 1000));
        Assert.Equal(NetlinkUeventSource.Verdict.ForeignSender, NetlinkUeventSource.Check(0, size, process, true, 0));
        Assert.Equal(NetlinkUeventSource.Verdict.ForeignSender, NetlinkUeventSource.Check(0, 0, kernel, true, 0));
        Assert.Equal(NetlinkUeventSource.Verdict.BadCredentials, NetlinkUeventSource.Check(0, size, kernel, hasCredentials: false, uid: 0));
        Assert.Equal(NetlinkUeventSource.Verdict.BadCredentials, NetlinkUeventSource.Check(0, size, kernel, hasCredentials: true, uid: 1000));
    }

    [Fact]
    public void ForgedMessagesAreWellFormed()
    {
        var parsed = UeventParser.ParseKernelMessage(UeventForger.FakeNetAdd("fake9", 5));
        Assert.True(parsed.IsAccepted, parsed.Detail);
        Assert.Equal("fake9", parsed.Event!.Interface);
        Assert.Equal("add@/devices/virtual/net/fake9\0", Encoding.UTF8.GetString(UeventForger.FakeNetAdd("fake9", 5)).Split("ACTION")[0]);
    }

    private sealed class DisposingSink(NetlinkUeventSource source, ManualResetEventSlim disposed) : IUeventSink
    {
        public void OnEvent(Uevent uevent)
        {
            source.Dispose();
            disposed.Set();
        }

        public void OnRejected(UeventRejection reason, string detail) { }
        public void OnOverflow() { }
        public void OnCompleted(Exception? error) { }
    }
}
