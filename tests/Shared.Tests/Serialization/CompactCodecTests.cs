using System.Runtime.Serialization;
using Replug.Shared.Serialization;

namespace Replug.Shared.Tests.Serialization;

public class CompactCodecTests
{
    private sealed record Sample(string? Text, bool Flag, DayOfWeek Day, DateTimeOffset At);

    private static readonly CompactCodec Codec = CompactCodec.For<Sample>(
        (w, s) =>
        {
            w.NullableString(s.Text);
            w.Bool(s.Flag);
            w.Byte((byte)s.Day);
            w.DateTimeOffset(s.At);
        },
        (ref r) => new Sample(r.NullableString(), r.Bool(), r.Enum<DayOfWeek>(), r.DateTimeOffset()));

    private static byte[] Write(Sample sample)
    {
        var writer = new CompactWriter();
        Codec.Write(writer, sample);
        return writer.ToArray();
    }

    private static Sample Read(byte[] bytes)
    {
        var reader = new CompactReader(bytes);
        var sample = (Sample)Codec.Read(ref reader);
        reader.End();
        return sample;
    }

    [Theory]
    [InlineData("eth0", true)]
    [InlineData("", false)]
    [InlineData(null, true)]
    [InlineData("ümlaut-ñ-網卡", false)]
    public void A_value_reads_back_equal_with_its_offset(string? text, bool flag)
    {
        var sample = new Sample(text, flag, DayOfWeek.Saturday, new DateTimeOffset(2026, 12, 8, 3, 42, 55, TimeSpan.FromMinutes(-330)).AddTicks(5622431));

        var back = Read(Write(sample));

        Assert.Equal(sample, back);
        Assert.Equal(sample.At.Offset, back.At.Offset);
    }

    [Fact]
    public void A_string_longer_than_127_bytes_takes_a_two_byte_length()
    {
        var sample = new Sample(new string('x', 300), false, DayOfWeek.Monday, DateTimeOffset.UnixEpoch);

        var bytes = Write(sample);

        Assert.Equal(2 + 300 + 1 + 1 + 10, bytes.Length);
        Assert.Equal(sample, Read(bytes));
    }

    [Fact]
    public void A_truncated_payload_is_refused_saying_so()
    {
        var bytes = Write(new Sample("eth0", true, DayOfWeek.Friday, DateTimeOffset.UnixEpoch));

        var e = Assert.Throws<SerializationException>(() => Read(bytes[..^3]));

        Assert.Contains("ends early", e.Message);
    }

    [Fact]
    public void Bytes_after_the_last_field_are_refused()
    {
        var e = Assert.Throws<SerializationException>(() => Read([.. Write(new Sample("a", true, DayOfWeek.Friday, DateTimeOffset.UnixEpoch)), 0]));

        Assert.Contains("1 bytes after its last field", e.Message);
    }

    [Fact]
    public void An_enum_value_the_type_does_not_define_is_refused()
    {
        var bytes = Write(new Sample("a", true, DayOfWeek.Friday, DateTimeOffset.UnixEpoch));
        bytes[3] = 42; // the day: after the string's length (1), its byte and the flag

        var e = Assert.Throws<SerializationException>(() => Read(bytes));

        Assert.Contains("not a DayOfWeek", e.Message);
    }

    [Fact]
    public void A_boolean_other_than_0_or_1_is_refused()
    {
        var bytes = Write(new Sample("a", true, DayOfWeek.Friday, DateTimeOffset.UnixEpoch));
        bytes[2] = 7;

        Assert.Throws<SerializationException>(() => Read(bytes));
    }
}
