using System.Buffers.Binary;
using System.Runtime.Serialization;
using System.Text;

namespace Replug.Shared.Serialization;

/// <summary>Reads one <typeparamref name="T"/> from its compact form (the fields in the order its writer wrote them).</summary>
public delegate T CompactRead<out T>(ref CompactReader reader);

/// <summary>
/// The compact binary form of one registered type at its current version, for the few types written so
/// often that JSON's cost shows (the coordinator's NIC events: three per live migration, thousands per
/// second into the journal). A <see cref="VersionedJsonSerializer"/> given a codec writes the type's
/// current version with it; older versions stay JSON, read through the registry's upcasters, so a
/// type becomes compact by going up one version with an identity upcaster from the JSON one.
/// The field order is the format: changing the fields is a new version, and its codec must then keep
/// reading the previous binary version itself (JSON upcasters do not apply to binary payloads).
/// </summary>
public abstract class CompactCodec
{
    private protected CompactCodec() { }

    public abstract Type Type { get; }

    internal abstract void Write(CompactWriter writer, object value);

    internal abstract object Read(ref CompactReader reader);

    public static CompactCodec For<T>(Action<CompactWriter, T> write, CompactRead<T> read) where T : notnull =>
        new Typed<T>(write, read);

    private sealed class Typed<T>(Action<CompactWriter, T> write, CompactRead<T> read) : CompactCodec where T : notnull
    {
        public override Type Type => typeof(T);

        internal override void Write(CompactWriter writer, object value) => write(writer, (T)value);

        internal override object Read(ref CompactReader reader) => read(ref reader);
    }
}

/// <summary>
/// Appends fields to a compact payload: strings as UTF-8 after their byte count + 1 (a 7-bit varint;
/// 0 for null), booleans and small enums as one byte, a
/// <see cref="DateTimeOffset"/> as its clock ticks (8 bytes, little-endian) and offset in minutes (2 bytes).
/// One per thread, reused: <see cref="VersionedJsonSerializer"/> copies out the bytes of each payload.
/// </summary>
public sealed class CompactWriter
{
    private byte[] _buffer = new byte[256];
    private int _length;

    internal void Reset() => _length = 0;

    internal byte[] ToArray() => _buffer.AsSpan(0, _length).ToArray();

    public void Byte(byte value) => Reserve(1)[0] = value;

    public void Bool(bool value) => Byte(value ? (byte)1 : (byte)0);

    public void NullableString(string? value)
    {
        if (value is null)
        {
            VarUInt(0);
            return;
        }
        var bytes = Encoding.UTF8.GetByteCount(value);
        VarUInt(checked((uint)bytes + 1));
        Encoding.UTF8.GetBytes(value, Reserve(bytes));
    }

    public void DateTimeOffset(DateTimeOffset value)
    {
        var span = Reserve(10);
        BinaryPrimitives.WriteInt64LittleEndian(span, value.Ticks);
        BinaryPrimitives.WriteInt16LittleEndian(span[8..], checked((short)value.TotalOffsetMinutes));
    }

    private void VarUInt(uint value)
    {
        while (value >= 0x80)
        {
            Byte((byte)(value | 0x80));
            value >>= 7;
        }
        Byte((byte)value);
    }

    private Span<byte> Reserve(int count)
    {
        if (_length + count > _buffer.Length) Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + count));
        var span = _buffer.AsSpan(_length, count);
        _length += count;
        return span;
    }
}

/// <summary>Reads what a <see cref="CompactWriter"/> wrote, field by field; a payload too short, too long or out of range is a <see cref="SerializationException"/>.</summary>
public ref struct CompactReader(ReadOnlySpan<byte> payload)
{
    private ReadOnlySpan<byte> _rest = payload;

    public byte Byte() => Take(1)[0];

    public bool Bool() => Byte() switch
    {
        0 => false,
        1 => true,
        var other => throw new SerializationException($"A compact payload holds {other} where a boolean (0 or 1) belongs."),
    };

    /// <summary>One byte as <typeparamref name="TEnum"/>; a value the enum does not define is refused.</summary>
    public TEnum Enum<TEnum>() where TEnum : struct, Enum
    {
        var raw = Byte();
        var value = (TEnum)System.Enum.ToObject(typeof(TEnum), raw);
        return System.Enum.IsDefined(value)
            ? value
            : throw new SerializationException($"A compact payload holds {raw}, not a {typeof(TEnum).Name}.");
    }

    public string? NullableString()
    {
        var prefix = VarUInt();
        return prefix == 0 ? null : Encoding.UTF8.GetString(Take(Count(prefix - 1)));
    }

    public DateTimeOffset DateTimeOffset()
    {
        var span = Take(10);
        var ticks = BinaryPrimitives.ReadInt64LittleEndian(span);
        var offsetMinutes = BinaryPrimitives.ReadInt16LittleEndian(span[8..]);
        try
        {
            return new DateTimeOffset(ticks, TimeSpan.FromMinutes(offsetMinutes));
        }
        catch (ArgumentException e)
        {
            throw new SerializationException($"A compact payload holds a time out of range ({ticks} ticks, offset {offsetMinutes} min): {e.Message}", e);
        }
    }

    /// <summary>Every byte was read: a payload longer than its fields is refused rather than half read.</summary>
    public readonly void End()
    {
        if (!_rest.IsEmpty) throw new SerializationException($"A compact payload has {_rest.Length} bytes after its last field.");
    }

    private static int Count(uint count) =>
        count <= int.MaxValue ? (int)count : throw new SerializationException($"A compact payload announces a string of {count} bytes.");

    private uint VarUInt()
    {
        uint value = 0;
        for (var shift = 0; shift < 35; shift += 7)
        {
            var b = Byte();
            value |= (uint)(b & 0x7F) << shift;
            if (b < 0x80) return value;
        }
        throw new SerializationException("A compact payload holds a length of more than 5 bytes.");
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count > _rest.Length)
            throw new SerializationException($"A compact payload ends early: {count} bytes wanted, {_rest.Length} left.");
        var taken = _rest[..count];
        _rest = _rest[count..];
        return taken;
    }
}
