using Replug.Agent.Sources;
using Replug.Shared.Uevents;

namespace Replug.Agent.Tests.Sources;

public sealed class UeventCaptureWriterTests
{
    private static byte[] CaptureThroughTee(string fixture)
    {
        var output = new MemoryStream();
        using (var writer = new UeventCaptureWriter(output, leaveOpen: true))
        using (var source = new ReplayUeventSource(new MemoryStream(Fixtures.Bytes(fixture)), fixture))
        {
            var sink = new CollectingSink();
            source.Start(writer.Tee(sink));
            Assert.Equal(Fixtures.VethEventCount, sink.WaitForCompletion(out var error).Count);
            Assert.Null(error);
            Assert.Equal(Fixtures.VethEventCount, writer.EventsWritten);
        }
        return output.ToArray();
    }

    [Fact]
    public void ACaptureOfTheKernelCaptureIsByteForByteTheSame() =>
        Assert.Equal(Fixtures.Bytes(Fixtures.KernelVeth), CaptureThroughTee(Fixtures.KernelVeth));

    [Fact]
    public void TheUdevadmCaptureWrittenAsWireFormatIsTheKernelsBytes() =>
        // udevadm prints the kernel's fields in the kernel's order, so nothing is lost either way.
        Assert.Equal(Fixtures.Bytes(Fixtures.KernelVeth), CaptureThroughTee(Fixtures.UdevadmVeth));

    [Fact]
    public void AFileCaptureAppendsAndReplays()
    {
        var path = Path.Combine(Path.GetTempPath(), $"replug-capture-{Guid.NewGuid():N}.bin");
        try
        {
            var first = Uevent.Create(UeventAction.Add, "/devices/virtual/net/cap0", "net", 100,
                [new("INTERFACE", "cap0"), new("IFINDEX", "9")]);
            var second = Uevent.Create(UeventAction.Remove, "/devices/virtual/net/cap0", "net", 101,
                [new("INTERFACE", "cap0"), new("IFINDEX", "9")]);
            using (var writer = new UeventCaptureWriter(path)) writer.Write(first);
            using (var writer = new UeventCaptureWriter(path, flushEachEvent: false)) writer.Write(second);

            using var source = new ReplayUeventSource(path);
            var sink = new CollectingSink();
            source.Start(sink);
            var events = sink.WaitForCompletion(out var error);

            Assert.Null(error);
            Assert.Equal([(UeventAction.Add, 100ul), (UeventAction.Remove, 101ul)], events.Select(e => (e.Action, e.SeqNum)));
            Assert.All(events, e => Assert.Equal(9, e.IfIndex));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void WritingAfterDisposeThrows()
    {
        var writer = new UeventCaptureWriter(new MemoryStream());
        writer.Dispose();
        Assert.Throws<ObjectDisposedException>(() => writer.Write(Uevent.Create(UeventAction.Add, "/devices/x", "net", 1)));
    }
}
