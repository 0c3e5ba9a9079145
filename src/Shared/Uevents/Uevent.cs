using System.Text;
using Replug.Shared.Devices;

namespace Replug.Shared.Uevents;

/// <summary>
/// One kernel uevent. The parser keeps the whole message as one string and the fields as
/// offsets into it, so parsing costs a fixed number of allocations whatever the field count;
/// typed accessors materialise a string on first use and keep it.
/// </summary>
public sealed class Uevent
{
    internal readonly struct Field(int keyStart, int keyLength, int valueStart, int valueLength)
    {
        public readonly int KeyStart = keyStart;
        public readonly int KeyLength = keyLength;
        public readonly int ValueStart = valueStart;
        public readonly int ValueLength = valueLength;
    }

    // Indices into _fields of the keys with typed access; -1 when absent.
    internal struct KnownFields
    {
        public sbyte DevPath, Subsystem, Driver, PciSlotName, PciId, Interface, IfIndex, DevPathOld, DevType;

        public static KnownFields None => new()
        {
            DevPath = -1, Subsystem = -1, Driver = -1, PciSlotName = -1, PciId = -1,
            Interface = -1, IfIndex = -1, DevPathOld = -1, DevType = -1,
        };
    }

    private readonly string _text;
    private readonly Field[] _fields;
    private readonly KnownFields _known;
    private string? _devPath, _subsystem, _kernelName, _deviceName;

    internal Uevent(string text, Field[] fields, KnownFields known, UeventAction action, ulong seqNum,
        int? ifIndex, UeventOrigin origin, long receivedTimestamp)
    {
        _text = text;
        _fields = fields;
        _known = known;
        Action = action;
        SeqNum = seqNum;
        IfIndex = ifIndex;
        Origin = origin;
        ReceivedTimestamp = receivedTimestamp;
    }

    public UeventAction Action { get; }

    /// <summary>The kernel's global event counter (0 for events synthesised by a resync).</summary>
    public ulong SeqNum { get; }

    public UeventOrigin Origin { get; }

    /// <summary><see cref="System.Diagnostics.Stopwatch.GetTimestamp"/> when the source received it (0 if unknown).</summary>
    public long ReceivedTimestamp { get; }

    public string DevPath => _devPath ??= Value(_known.DevPath)!;
    public string Subsystem => _subsystem ??= Value(_known.Subsystem)!;
    public ReadOnlySpan<char> SubsystemSpan => ValueSpan(_known.Subsystem);
    public ReadOnlySpan<char> DevPathSpan => ValueSpan(_known.DevPath);

    public string? Driver => Value(_known.Driver);
    public string? PciSlotName => Value(_known.PciSlotName);
    public string? PciId => Value(_known.PciId);
    public string? Interface => Value(_known.Interface);
    public int? IfIndex { get; }
    public string? DevPathOld => Value(_known.DevPathOld);
    public string? DevType => Value(_known.DevType);

    /// <summary>The device's kernel name: the last DEVPATH segment (for net, the interface name).</summary>
    public string KernelName => _kernelName ??= LastSegment(DevPathSpan).ToString();

    /// <summary>The device this event is about (<see cref="DevPaths.DeviceName"/>).</summary>
    public DeviceId Device => new(Subsystem, _deviceName ??= DevPaths.DeviceName(Subsystem, DevPathSpan));

    /// <summary>The number of KEY=VALUE fields (the header not counted).</summary>
    public int FieldCount => _fields.Length;

    public bool TryGetValue(ReadOnlySpan<char> key, out ReadOnlySpan<char> value)
    {
        foreach (var f in _fields)
        {
            if (_text.AsSpan(f.KeyStart, f.KeyLength).SequenceEqual(key))
            {
                value = _text.AsSpan(f.ValueStart, f.ValueLength);
                return true;
            }
        }
        value = default;
        return false;
    }

    /// <summary>Any property by key, typed ones included; null when absent.</summary>
    public string? this[string key] => TryGetValue(key, out var v) ? v.ToString() : null;

    /// <summary>Every KEY=VALUE in the kernel's order.</summary>
    public IEnumerable<KeyValuePair<string, string>> Properties
    {
        get
        {
            foreach (var f in _fields)
                yield return new(_text.Substring(f.KeyStart, f.KeyLength), _text.Substring(f.ValueStart, f.ValueLength));
        }
    }

    /// <summary>The message in the kernel's wire format: "ACTION@DEVPATH\0KEY=VALUE\0...".</summary>
    public byte[] ToWireFormat()
    {
        var sb = new StringBuilder();
        sb.Append(Action.ToKernelString()).Append('@').Append(DevPathSpan).Append('\0');
        foreach (var f in _fields)
            sb.Append(_text.AsSpan(f.KeyStart, f.KeyLength)).Append('=').Append(_text.AsSpan(f.ValueStart, f.ValueLength)).Append('\0');
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    /// <summary>The block <c>udevadm monitor --kernel --property</c> prints for this event.</summary>
    public string ToUdevadmText()
    {
        var sb = new StringBuilder();
        sb.Append("KERNEL[0.000000] ").Append(Action.ToKernelString()).Append(' ', Math.Max(1, 9 - Action.ToKernelString().Length))
          .Append(DevPathSpan).Append(" (").Append(SubsystemSpan).Append(")\n");
        foreach (var f in _fields)
            sb.Append(_text.AsSpan(f.KeyStart, f.KeyLength)).Append('=').Append(_text.AsSpan(f.ValueStart, f.ValueLength)).Append('\n');
        return sb.ToString();
    }

    /// <summary>
    /// Builds an event from parts (resync, tests). It goes through the parser, so it obeys the
    /// same rules as a kernel message; invalid parts throw <see cref="ArgumentException"/>.
    /// </summary>
    public static Uevent Create(UeventAction action, string devPath, string subsystem, ulong seqNum,
        IEnumerable<KeyValuePair<string, string>>? properties = null, UeventOrigin origin = UeventOrigin.Resync)
    {
        // A NUL in any part, or an '=' in a key, would move the field boundaries of the message
        // built below, and smuggle in fields nobody passed (devPath "/x\0K=v" parsed as "/x").
        if (devPath.Contains('\0')) throw new ArgumentException("NUL in the devpath", nameof(devPath));
        if (subsystem.Contains('\0')) throw new ArgumentException("NUL in the subsystem", nameof(subsystem));
        var sb = new StringBuilder();
        var a = action.ToKernelString();
        sb.Append(a).Append('@').Append(devPath).Append('\0')
          .Append("ACTION=").Append(a).Append('\0')
          .Append("DEVPATH=").Append(devPath).Append('\0')
          .Append("SUBSYSTEM=").Append(subsystem).Append('\0');
        foreach (var (k, v) in properties ?? [])
        {
            if (k is "ACTION" or "DEVPATH" or "SUBSYSTEM" or "SEQNUM") continue;
            if (k.Length == 0 || k.Contains('=') || k.Contains('\0'))
                throw new ArgumentException($"invalid property key '{k.Replace('\0', '?')}'", nameof(properties));
            if (v.Contains('\0')) throw new ArgumentException($"NUL in the value of {k}", nameof(properties));
            sb.Append(k).Append('=').Append(v).Append('\0');
        }
        sb.Append("SEQNUM=").Append(seqNum).Append('\0');
        var result = UeventParser.ParseText(sb.ToString(), origin, 0);
        return result.Event ?? throw new ArgumentException($"invalid uevent parts: {result.Rejection} ({result.Detail})");
    }

    public override string ToString() => $"{Action.ToKernelString()} {DevPath} ({Subsystem}) seq {SeqNum}";

    private string? Value(sbyte index) => index < 0 ? null : _text.Substring(_fields[index].ValueStart, _fields[index].ValueLength);

    private ReadOnlySpan<char> ValueSpan(sbyte index) =>
        index < 0 ? default : _text.AsSpan(_fields[index].ValueStart, _fields[index].ValueLength);

    internal static ReadOnlySpan<char> LastSegment(ReadOnlySpan<char> path)
    {
        var slash = path.LastIndexOf('/');
        return slash < 0 ? path : path[(slash + 1)..];
    }
}
