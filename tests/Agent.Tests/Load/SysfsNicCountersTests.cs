using Replug.Agent.Load;
using Replug.Agent.Tests.Support;

namespace Replug.Agent.Tests.Load;

public sealed class SysfsNicCountersTests : IDisposable
{
    private readonly FakeSysfs _sysfs = new();

    [Fact]
    public void A_NIC_is_read_as_its_byte_counters_and_its_speed_in_bits_per_second()
    {
        _sysfs.AddNet("eth1", 2).SetCounters("eth1", rxBytes: 1_000, txBytes: 2_000).SetSpeed("eth1", "25000");

        var reading = new SysfsNicCounters(_sysfs.Root).Read("eth1");

        Assert.Equal(new NicReading(1_000, 2_000, 25_000e6), reading);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("-1")]
    public void A_NIC_whose_kernel_gives_no_speed_is_read_without_one(string? speed)
    {
        _sysfs.AddNet("v1", 2).SetCounters("v1", 5, 6);
        if (speed is not null) _sysfs.SetSpeed("v1", speed);

        Assert.Equal(new NicReading(5, 6, null), new SysfsNicCounters(_sysfs.Root).Read("v1"));
    }

    [Theory]
    [InlineData("gone")]
    [InlineData("../../etc")]
    [InlineData("no-counters")]
    [InlineData("outside")]
    public void A_NIC_that_is_not_there_or_whose_name_or_path_is_unsafe_reads_as_nothing(string name)
    {
        _sysfs.AddNet("no-counters", 3);
        var elsewhere = Directory.CreateTempSubdirectory("outside-sysfs-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(elsewhere, "statistics"));
            File.WriteAllText(Path.Combine(elsewhere, "statistics/rx_bytes"), "1\n");
            File.WriteAllText(Path.Combine(elsewhere, "statistics/tx_bytes"), "1\n");
            _sysfs.Link("class/net/outside", elsewhere);

            Assert.Null(new SysfsNicCounters(_sysfs.Root).Read(name));
        }
        finally { Directory.Delete(elsewhere, recursive: true); }
    }

    public void Dispose() => _sysfs.Dispose();
}
