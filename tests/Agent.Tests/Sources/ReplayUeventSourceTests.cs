using System.Diagnostics;
using System.Text;
using Replug.Agent.Sources;
using Replug.Shared.Uevents;

namespace Replug.Agent.Tests.Sources;

public sealed class ReplayUeventSourceTests
{
    private static (IReadOnlyList<Uevent> Events, CollectingSink Sink, ReplayUeventSource Source) Replay(
        byte[] capture, ReplayOptions? options = null, Func<byte[], Stream>? wrap = null)
    {
        var source = new ReplayUeventSource(wrap?.Invoke(capture) ?? new MemoryStream(capture), "test", options);
        var sink = new CollectingSink();
        source.Start(sink);
        var events = sink.WaitForCompletion(out var error);
        Assert.Null(error);
        source.Dispose();
        return (events, sink, source);
    }

    private static (UeventAction, string, string, ulong)[] Keys(IEnumerable<Uevent> events) =>
        events.Select(e => (e.Action, e.DevPath, e.Subsystem, e.SeqNum)).ToArray();

    private static byte[] ReplaceOnce(byte[] bytes, string from, string to)
    {
        var text = Encoding.UTF8.GetString(bytes);
        var at = text.IndexOf(from, StringComparison.Ordinal);
        Assert.True(at >= 0, $"'{from}' not in the capture");
        return Encoding.UTF8.GetBytes(string.Concat(text.AsSpan(0, at), to, text.AsSpan(at + from.Length)));
    }

    [Fact]
    public void AWireHeaderWhoseDevpathHoldsAnEqualsSignStartsANewMessage()
    {
        var first = Uevent.Create(UeventAction.Add, "/devices/virtual/net/rp=eq", "net", 7,
            [new("INTERFACE", "rp=eq"), new("IFINDEX", "4")], UeventOrigin.Kernel);
        var second = Uevent.Create(UeventAction.Remove, "/devices/virtual/net/rp=eq", "net", 8,
            [new("INTERFACE", "rp=eq"), new("IFINDEX", "4")], UeventOrigin.Kernel);
        var (events, _, _) = Replay([.. first.ToWireFormat(), .. second.ToWireFormat()]);
        Assert.Equal([(UeventAction.Add, 7UL), (UeventAction.Remove, 8UL)], events.Select(e => (e.Action, e.SeqNum)));
        Assert.All(events, e => Assert.Equal("rp=eq", e.Interface));
    }

    [Fact]
    public void BothFixtureFormatsYieldTheSameEvents()
    {
        var (text, textSink, textSource) = Replay(Fixtures.Bytes(Fixtures.UdevadmVeth));
        var (wire, wireSink, wireSource) = Replay(Fixtures.Bytes(Fixtures.KernelVeth));

        Assert.Equal(CaptureFormat.UdevadmText, textSource.Format);
        Assert.Equal(CaptureFormat.KernelWire, wireSource.Format);
        Assert.Equal(Fixtures.VethEventCount, text.Count);
        Assert.Equal(Keys(wire), Keys(text));
        // Field for field too: udevadm prints the kernel's properties in the kernel's order.
        Assert.Equal(wire.Select(e => e.Properties.ToArray()), text.Select(e => e.Properties.ToArray()));
        Assert.All(text.Concat(wire), e => Assert.Equal(UeventOrigin.Replay, e.Origin));
        Assert.Equal(Enumerable.Range(840, Fixtures.VethEventCount).Select(n => (ulong)n), wire.Select(e => e.SeqNum));
        Assert.Empty(textSink.Rejections);
        Assert.Empty(wireSink.Rejections);
        Assert.Equal(1, textSink.Completions);
        Assert.Equal(1, wireSink.Completions);

        var move = Assert.Single(wire, e => e.Action == UeventAction.Move);
        Assert.Equal("/devices/virtual/net/vethx", move.DevPath);
        Assert.Equal("/devices/virtual/net/veth1", move.DevPathOld);
        Assert.Equal("vethx", move.Interface);
        var bridge = wire.First(e => e.Interface == "br0");
        Assert.Equal("bridge", bridge.DevType);
    }

    [Fact]
    public void UdevadmPreambleIsSkippedSilently()
    {
        var capture = """
            monitor will print the received events for:
            UDEV - the event which udev sends out after rule processing
            KERNEL - the kernel uevent

            KERNEL[10.000001] add      /devices/virtual/net/dummy0 (net)
            ACTION=add
            DEVPATH=/devices/virtual/net/dummy0
            SUBSYSTEM=net
            INTERFACE=dummy0
            IFINDEX=7
            SEQNUM=12

            """;
        var (events, sink, source) = Replay(Encoding.UTF8.GetBytes(capture));

        var only = Assert.Single(events);
        Assert.Equal(("dummy0", 7, 12ul), (only.Interface, only.IfIndex!.Value, only.SeqNum));
        Assert.Empty(sink.Rejections);
        Assert.Equal(1, source.Counters.Received);
        Assert.Equal(0, source.Counters.Rejected);
    }

    [Fact]
    public void CommentLinesAreSkippedAndSpoilNoBlock()
    {
        // An operator's notes in a capture: before a block, inside one, between two.
        var capture = """
            # veth pair created on host-a at 10:00
            KERNEL[10.000001] add      /devices/virtual/net/va0 (net)
            ACTION=add
            # the kernel's own fields follow
            DEVPATH=/devices/virtual/net/va0
            SUBSYSTEM=net
            INTERFACE=va0
            IFINDEX=7
            SEQNUM=12
              # indented too

            # then removed
            KERNEL[11.000001] remove   /devices/virtual/net/va0 (net)
            ACTION=remove
            DEVPATH=/devices/virtual/net/va0
            SUBSYSTEM=net
            INTERFACE=va0
            IFINDEX=7
            SEQNUM=13

            """;
        var (events, sink, source) = Replay(Encoding.UTF8.GetBytes(capture));

        Assert.Equal([(UeventAction.Add, 12ul), (UeventAction.Remove, 13ul)], events.Select(e => (e.Action, e.SeqNum)));
        Assert.Empty(sink.Rejections);
        Assert.Equal(2, source.Counters.Received);
    }

    [Fact]
    public void FixturePreambleIsNotCountedAsARejection()
    {
        var (_, sink, source) = Replay(Fixtures.Bytes(Fixtures.UdevadmVeth));

        var counters = source.Counters.Snapshot();
        Assert.Equal(Fixtures.VethEventCount, counters.Received);
        Assert.Equal(Fixtures.VethEventCount, counters.Accepted);
        Assert.Equal(0, counters.Rejected);
        Assert.Empty(sink.Rejections);
    }

    [Fact]
    public void CorruptedUdevadmBlockIsRejectedAndTheRestArrive()
    {
        var capture = ReplaceOnce(Fixtures.Bytes(Fixtures.UdevadmVeth), "SEQNUM=845\n", "SEQNUM=84x5\n");

        var (events, sink, source) = Replay(capture);

        var rejection = Assert.Single(sink.Rejections);
        Assert.Equal(UeventRejection.InvalidSeqNum, rejection.Reason);
        Assert.Contains("84x5", rejection.Detail);
        Assert.Equal(Fixtures.VethEventCount - 1, events.Count);
        Assert.DoesNotContain(events, e => e.SeqNum == 845);
        Assert.Contains(events, e => e.SeqNum == 846);
        Assert.Equal(1, source.Counters.RejectedFor(UeventRejection.InvalidSeqNum));
        Assert.Equal(1, sink.Completions);
    }

    [Fact]
    public void CorruptedWireMessageIsRejectedAndTheRestArrive()
    {
        // veth0's add (SEQNUM 845) is the first message with IFINDEX=3.
        var capture = ReplaceOnce(Fixtures.Bytes(Fixtures.KernelVeth), "IFINDEX=3\0", "IFINDEX=0\0");

        var (events, sink, source) = Replay(capture);

        Assert.Equal(UeventRejection.InvalidIfIndex, Assert.Single(sink.Rejections).Reason);
        Assert.Equal(Fixtures.VethEventCount - 1, events.Count);
        Assert.DoesNotContain(events, e => e.SeqNum == 845);
        Assert.Equal(1, source.Counters.RejectedFor(UeventRejection.InvalidIfIndex));
        Assert.Equal(Fixtures.VethEventCount, source.Counters.Received);
    }

    [Fact]
    public void WireFieldsBeforeAnyHeaderAreRejectedAsMissingHeader()
    {
        var capture = Encoding.UTF8.GetBytes("ACTION=add\0DEVPATH=/devices/x\0")
            .Concat(UeventForgerMessage("dummy1", 3)).ToArray();

        var (events, sink, _) = Replay(capture);

        Assert.Equal(UeventRejection.MissingHeader, Assert.Single(sink.Rejections).Reason);
        Assert.Equal("dummy1", Assert.Single(events).Interface);
    }

    [Fact]
    public void NulInsideATextCaptureIsRejectedAsEmbeddedNul()
    {
        var capture = ReplaceOnce(Fixtures.Bytes(Fixtures.UdevadmVeth), "INTERFACE=br0\n", "INTERFACE=br\00\n");

        var (events, sink, source) = Replay(capture);

        Assert.Equal(CaptureFormat.UdevadmText, source.Format);
        Assert.Equal(UeventRejection.EmbeddedNul, Assert.Single(sink.Rejections).Reason);
        Assert.Equal(Fixtures.VethEventCount - 1, events.Count);
    }

    [Fact]
    public void OversizedMessagesAreRejectedAsTooLargeAndTheNextArrives()
    {
        var huge = new string('x', 100_000);
        var wire = Encoding.UTF8.GetBytes($"add@/devices/virtual/net/big0\0ACTION=add\0BLOB={huge}\0")
            .Concat(UeventForgerMessage("small0", 5)).ToArray();
        var text = Encoding.UTF8.GetBytes($"KERNEL[1.0] add /devices/virtual/net/big0 (net)\nBLOB={huge}\n\n" +
            "KERNEL[1.1] add /devices/virtual/net/small0 (net)\nACTION=add\nDEVPATH=/devices/virtual/net/small0\nSUBSYSTEM=net\nSEQNUM=6\n");

        foreach (var capture in new[] { wire, text })
        {
            var (events, sink, _) = Replay(capture);
            Assert.Equal(UeventRejection.TooLarge, Assert.Single(sink.Rejections).Reason);
            Assert.Equal("/devices/virtual/net/small0", Assert.Single(events).DevPath);
        }
    }

    [Fact]
    public void InvalidUtf8InATextBlockIsRejected()
    {
        var capture = Encoding.UTF8.GetBytes("KERNEL[1.0] add /devices/virtual/net/a0 (net)\nACTION=add\nDEVPATH=/devices/virtual/net/a0\nSUBSYSTEM=net\nNAME=")
            .Concat(new byte[] { 0xC3, 0x28, (byte)'\n', (byte)'\n' })
            .Concat(Encoding.UTF8.GetBytes("ACTION=add\nDEVPATH=/devices/virtual/net/b0\nSUBSYSTEM=net\nSEQNUM=2\n")).ToArray();

        var (events, sink, _) = Replay(capture);

        Assert.Equal(UeventRejection.InvalidUtf8, Assert.Single(sink.Rejections).Reason);
        Assert.Equal("/devices/virtual/net/b0", Assert.Single(events).DevPath); // a bare property dump needs no header line
    }

    [Theory]
    [InlineData(Fixtures.UdevadmVeth, 1)]
    [InlineData(Fixtures.UdevadmVeth, 7)]
    [InlineData(Fixtures.KernelVeth, 1)]
    [InlineData(Fixtures.KernelVeth, 13)]
    public void APipeThatDeliversFewBytesAtATimeGivesTheSameEvents(string fixture, int bytesPerRead)
    {
        var whole = Replay(Fixtures.Bytes(fixture)).Events;

        var (piped, sink, _) = Replay(Fixtures.Bytes(fixture), wrap: bytes => new TricklingStream(bytes, bytesPerRead));

        Assert.Equal(Keys(whole), Keys(piped));
        Assert.Empty(sink.Rejections);
        Assert.Equal(1, sink.Completions);
    }

    [Fact]
    public void AFileIsReplayedByPath()
    {
        using var source = new ReplayUeventSource(Fixtures.PathOf(Fixtures.KernelVeth));
        var sink = new CollectingSink();
        Assert.Equal($"replay {Fixtures.PathOf(Fixtures.KernelVeth)}", source.Description);

        source.Start(sink);

        Assert.Equal(Fixtures.VethEventCount, sink.WaitForCompletion(out var error).Count);
        Assert.Null(error);
    }

    [Fact]
    public void AMissingFileFailsAtConstruction() =>
        Assert.Throws<FileNotFoundException>(() => new ReplayUeventSource(Path.Combine(Path.GetTempPath(), $"no-such-capture-{Guid.NewGuid()}")));

    [Fact]
    public void AnIoErrorCompletesWithTheErrorAfterTheEventsBeforeIt()
    {
        var capture = Fixtures.Bytes(Fixtures.KernelVeth);
        using var source = new ReplayUeventSource(new FailingStream(capture, failAfter: capture.Length / 2), "failing");
        var sink = new CollectingSink();

        source.Start(sink);
        var events = sink.WaitForCompletion(out var error);

        Assert.IsType<IOException>(error);
        Assert.InRange(events.Count, 1, Fixtures.VethEventCount - 1);
        Assert.Equal(Enumerable.Range(840, events.Count).Select(n => (ulong)n), events.Select(e => e.SeqNum));
        source.Dispose();
        Assert.Equal(1, sink.Completions);
    }

    [Fact]
    public void EmptyInputCompletesWithNoEvents()
    {
        var (events, sink, source) = Replay([]);

        Assert.Empty(events);
        Assert.Null(source.Format);
        Assert.Equal(1, sink.Completions);
    }

    [Fact]
    public void OnCompletedIsCalledOnceEvenAfterStopAndDispose()
    {
        var source = new ReplayUeventSource(new MemoryStream(Fixtures.Bytes(Fixtures.UdevadmVeth)), "once");
        var sink = new CollectingSink();
        source.Start(sink);
        sink.WaitForCompletion(out _);

        source.Stop();
        source.Dispose();
        source.Dispose();

        Assert.Equal(1, sink.Completions);
        Assert.Throws<ObjectDisposedException>(() => source.Start(new CollectingSink()));
    }

    [Fact]
    public void PacingSpacesTheEvents()
    {
        var capture = Fixtures.Bytes(Fixtures.KernelVeth);
        var stopwatch = Stopwatch.StartNew();

        var (events, _, _) = Replay(capture, new ReplayOptions { DelayBetweenEvents = TimeSpan.FromMilliseconds(10) });

        // A lower bound only: pacing may be slower on a loaded machine, never faster.
        Assert.Equal(Fixtures.VethEventCount, events.Count);
        Assert.True(stopwatch.Elapsed >= TimeSpan.FromMilliseconds(10 * (Fixtures.VethEventCount - 1)), $"took {stopwatch.Elapsed}");
    }

    [Fact]
    public void StopInterruptsPacingWithoutCompleting()
    {
        var source = new ReplayUeventSource(new MemoryStream(Fixtures.Bytes(Fixtures.KernelVeth)), "slow",
            new ReplayOptions { DelayBetweenEvents = TimeSpan.FromHours(1), StopTimeout = TimeSpan.FromMinutes(1) });
        var sink = new CollectingSink();
        source.Start(sink);
        sink.WaitFor(_ => true, "the first event");

        var stopwatch = Stopwatch.StartNew();
        source.Stop();

        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(30), $"Stop took {stopwatch.Elapsed}");
        Assert.Equal(0, sink.Completions);
        Assert.Equal(1, source.Counters.Accepted);
        source.Dispose();
    }

    [Fact]
    public void ASinkThatThrowsIsCountedAndTheReplayGoesOn()
    {
        var sink = new ThrowingSink();
        using var source = new ReplayUeventSource(new MemoryStream(Fixtures.Bytes(Fixtures.KernelVeth)), "throwing");

        source.Start(sink);

        Assert.True(sink.Completed.Wait(CollectingSink.Generous));
        Assert.Equal(Fixtures.VethEventCount, source.Counters.SinkErrors);
        Assert.Equal(Fixtures.VethEventCount, source.Counters.Accepted);
    }

    private static byte[] UeventForgerMessage(string name, ulong seqNum) => Support.UeventForger.FakeNetAdd(name, seqNum);

    /// <summary>Like a pipe: not seekable, and each read returns only a few bytes.</summary>
    private sealed class TricklingStream(byte[] content, int bytesPerRead) : Stream
    {
        private int _position;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = Math.Min(Math.Min(count, bytesPerRead), content.Length - _position);
            content.AsSpan(_position, n).CopyTo(buffer.AsSpan(offset));
            _position += n;
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>Gives <paramref name="failAfter"/> bytes, then fails like a disk or pipe error.</summary>
    private sealed class FailingStream(byte[] content, int failAfter) : Stream
    {
        private int _position;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_position >= failAfter) throw new IOException("simulated read error");
            var n = Math.Min(count, failAfter - _position);
            content.AsSpan(_position, n).CopyTo(buffer.AsSpan(offset));
            _position += n;
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private sealed class ThrowingSink : IUeventSink
    {
        private readonly ManualResetEventSlim _completed = new();
        public ManualResetEventSlim Completed => _completed;
        public void OnEvent(Uevent uevent) => throw new InvalidOperationException("consumer bug");
        public void OnRejected(UeventRejection reason, string detail) => throw new InvalidOperationException("consumer bug");
        public void OnOverflow() => throw new InvalidOperationException("consumer bug");
        public void OnCompleted(Exception? error) => _completed.Set();
    }
}
