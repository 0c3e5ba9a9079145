using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Replug.Shared.Devices;
using Replug.Shared.Uevents;
using Xunit.Abstractions;

namespace Replug.Shared.Tests.Uevents;

/// <summary>
/// Mutation testing of the parser with a seeded <see cref="Random"/>: no exception escapes,
/// and every event it accepts satisfies the model's invariants. A failure prints the seed;
/// set REPLUG_FUZZ_SEED to replay it.
/// </summary>
public class RandomizedParserTests(ITestOutputHelper output)
{
    private const int KernelIterations = 100_000;
    private const int TextIterations = 50_000;
    private const int FixedSeed = 20_251_125;

    private static readonly string[] Actions =
        ["add", "remove", "change", "move", "online", "offline", "bind", "unbind", "ADD", "Add", "", "explode", "add ", "@", "a=b"];

    private static readonly byte[][] InvalidUtf8 =
    [
        [0xFF], [0xFE], [0x80], [0xC0, 0x80], [0xC0, 0xAF], [0xC3], [0xE2, 0x82], [0xED, 0xA0, 0x80],
        [0xED, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xE0, 0x80, 0xAF],
    ];

    private static readonly string[] Interesting =
    [
        "/..", "/.", "//", "/../..", "..", "\\", "\0", "=", "@", "\n", "\r\n", "\t", "\u007f", "\u0001", " (", ")", "/",
        "\u2028", "\u2029", "\u0085", "\u000c", "\u00e9", "\U0001F600", "\uFEFF", "KERNEL[", "UDEV  [", "libudev\0",
        "ACTION=", "DEVPATH=", "SUBSYSTEM=", "SEQNUM=", "IFINDEX=", "DEVPATH_OLD=", "18446744073709551616", "-1", "0",
    ];

    private static readonly string[] KnownKeys =
        ["ACTION", "DEVPATH", "SUBSYSTEM", "SEQNUM", "IFINDEX", "INTERFACE", "DEVPATH_OLD", "DRIVER", "DEVTYPE", "PCI_ID", "PCI_SLOT_NAME"];

    private static readonly Lazy<List<byte[]>> Corpus = new(BuildCorpus);

    private static List<byte[]> BuildCorpus()
    {
        var corpus = CapturedUevents.AllValidMessages().ToList();
        corpus.Add(Wire.Event(action: "change", devPath: "/devices/pci0000:00/0000:00:03.0/0000:03:00.0", subsystem: "pci",
            extra: ["DRIVER=ixgbe", "PCI_CLASS=20000", "PCI_ID=8086:10FB", "PCI_SUBSYS_ID=8086:000C", "PCI_SLOT_NAME=0000:03:00.0",
                "MODALIAS=pci:v00008086d000010FBsv00008086sd0000000Cbc02sc00i00", "ERROR_EVENT=BEGIN_RECOVERY", "DEVICE_ONLINE=0"]));
        corpus.Add(Wire.Event(action: "move", extra: ["DEVPATH_OLD=/devices/virtual/net/old", "INTERFACE=veth0", "IFINDEX=9"]));
        corpus.Add(Wire.Event(extra: Enumerable.Range(0, 60).Select(i => $"KEY{i}=value{i}").ToArray()));
        corpus.Add(Wire.Event(devPath: "/devices/platform/soc@0/30800000.bus/a=b c", subsystem: "platform", extra: ["DRIVER=fec"]));
        return corpus;
    }

    [Fact]
    public void Mutated_messages_with_a_fixed_seed_never_throw_and_accepted_events_are_valid() => Run(FixedSeed);

    [Fact]
    public void Mutated_messages_with_a_fresh_seed_never_throw_and_accepted_events_are_valid()
    {
        var env = Environment.GetEnvironmentVariable("REPLUG_FUZZ_SEED");
        Run(env is not null ? int.Parse(env, CultureInfo.InvariantCulture) : Random.Shared.Next());
    }

    private void Run(int seed)
    {
        var rng = new Random(seed);
        var clock = Stopwatch.StartNew();
        var corpus = Corpus.Value;
        var reasons = new Dictionary<UeventRejection, int>();
        var accepted = 0;

        for (var i = 0; i < KernelIterations; i++)
        {
            var message = Mutate(rng, corpus[rng.Next(corpus.Count)]);
            UeventParseResult result;
            try { result = UeventParser.ParseKernelMessage(message); }
            catch (Exception ex) { Fail(seed, i, "ParseKernelMessage threw " + ex, message); throw; }

            if (result.Event is { } e)
            {
                accepted++;
                var problem = CheckKernelEvent(e, message);
                if (problem is not null) Fail(seed, i, problem, message);
            }
            else
            {
                if (result.Rejection == UeventRejection.None || string.IsNullOrEmpty(result.Detail))
                    Fail(seed, i, $"a rejection without a reason: {result}", message);
                reasons[result.Rejection] = reasons.GetValueOrDefault(result.Rejection) + 1;
            }
        }

        var textAccepted = 0;
        var texts = corpus.Select(m => Encoding.UTF8.GetBytes(UeventParser.ParseKernelMessage(m).Event!.ToUdevadmText())).ToList();
        for (var i = 0; i < TextIterations; i++)
        {
            var bytes = Mutate(rng, texts[rng.Next(texts.Count)], text: true);
            var text = Encoding.UTF8.GetString(bytes);
            UeventParseResult result;
            try { result = UeventParser.ParseUdevadmBlock(text); }
            catch (Exception ex) { Fail(seed, i, "ParseUdevadmBlock threw " + ex, bytes); throw; }

            if (result.Event is { } e)
            {
                textAccepted++;
                var problem = CheckEvent(e);
                if (problem is not null) Fail(seed, i, "udevadm text: " + problem, bytes);
            }
            else
            {
                reasons[result.Rejection] = reasons.GetValueOrDefault(result.Rejection) + 1;
            }
        }

        output.WriteLine($"seed {seed}: wire {accepted}/{KernelIterations} accepted, text {textAccepted}/{TextIterations} accepted, {clock.ElapsedMilliseconds} ms");
        foreach (var (reason, count) in reasons.OrderByDescending(r => r.Value)) output.WriteLine($"  {reason,-22} {count}");

        // The mutations must exercise both paths, not just produce garbage.
        Assert.True(accepted > KernelIterations / 20, $"seed {seed}: only {accepted} accepted");
        Assert.True(textAccepted > TextIterations / 20, $"seed {seed}: only {textAccepted} text blocks accepted");
        Assert.True(reasons.Count >= 12, $"seed {seed}: only {reasons.Count} rejection reasons seen");
    }

    private static void Fail(int seed, int iteration, string problem, byte[] input) =>
        Assert.Fail($"seed {seed} (REPLUG_FUZZ_SEED={seed}), iteration {iteration}: {problem}\ninput: {Printable(input)}");

    private static string Printable(byte[] input)
    {
        var sb = new StringBuilder();
        foreach (var b in input.Take(600))
            sb.Append(b is >= 0x20 and < 0x7f and not (byte)'\\' ? ((char)b).ToString() : $"\\x{b:x2}");
        return sb.ToString();
    }

    /// <summary>The invariants of any accepted event; null when all hold.</summary>
    internal static string? CheckEvent(Uevent e)
    {
        if (!Enum.IsDefined(e.Action)) return $"unknown action {(int)e.Action}";
        if (!UeventParser.IsValidDevPath(e.DevPath)) return $"invalid devpath '{e.DevPath}'";
        if (e.DevPathOld is { } old && !UeventParser.IsValidDevPath(old)) return $"invalid DEVPATH_OLD '{old}'";
        if (string.IsNullOrEmpty(e.Subsystem)) return "empty subsystem";
        if (e.FieldCount > UeventParser.MaxFields) return $"{e.FieldCount} fields";
        var properties = e.Properties.ToList();
        if (properties.Count != e.FieldCount) return "Properties and FieldCount disagree";
        if (properties.Any(p => p.Key.Length == 0 || p.Key.Contains('=') || p.Key.Contains('\0') || p.Value.Contains('\0')))
            return "a key or value holds '=' or NUL";
        foreach (var key in KnownKeys)
            if (properties.Count(p => p.Key == key) > 1) return $"{key} twice";
        if (e["ACTION"] != e.Action.ToKernelString()) return $"ACTION={e["ACTION"]} but Action {e.Action}";
        if (e["DEVPATH"] != e.DevPath) return "DEVPATH differs from DevPath";
        if (e["SUBSYSTEM"] != e.Subsystem) return "SUBSYSTEM differs from Subsystem";
        if (e["SEQNUM"] is not { } seq || ulong.Parse(seq, NumberStyles.None, CultureInfo.InvariantCulture) != e.SeqNum)
            return "SEQNUM differs";
        if (e.IfIndex is { } idx && (idx <= 0 || int.Parse(e["IFINDEX"]!, NumberStyles.None, CultureInfo.InvariantCulture) != idx))
            return "IFINDEX differs";
        if (e.IfIndex is null && e["IFINDEX"] is not null) return "IFINDEX present but IfIndex null";
        if (e.KernelName != e.DevPath[(e.DevPath.LastIndexOf('/') + 1)..] || e.KernelName.Length == 0) return "KernelName";
        var name = e.Subsystem is Subsystems.Net or Subsystems.Pci ? e.KernelName : e.DevPath.TrimStart('/');
        if (e.Device.Subsystem != e.Subsystem || e.Device.Name != name) return "Device";

        var wire = e.ToWireFormat();
        if (UeventParser.ParseKernelMessage(wire).Event is not { } again || !UeventAssert.AreEqual(e, again))
            return "ToWireFormat does not re-parse to an equal event";
        if (IsTextRepresentable(e))
        {
            var text = UeventParser.ParseUdevadmBlock(e.ToUdevadmText());
            if (text.Event is not { } fromText || !UeventAssert.AreEqual(e, fromText))
                return $"ToUdevadmText does not re-parse to an equal event ({text.Rejection}: {text.Detail})";
        }
        return null;
    }

    private static string? CheckKernelEvent(Uevent e, byte[] message)
    {
        var problem = CheckEvent(e);
        if (problem is not null) return problem;
        var nul = Array.IndexOf(message, (byte)0);
        var header = Encoding.UTF8.GetString(message, 0, nul < 0 ? message.Length : nul);
        if (header != $"{e.Action.ToKernelString()}@{e.DevPath}") return $"header '{header}' disagrees with the event";
        if (!UeventAssert.AreEqual(e, UeventParser.ParseKernelMessage(message).Event!)) return "parsing is not deterministic";
        return null;
    }

    /// <summary>
    /// Whether udevadm's line format can carry the event: no newline in a field, no value
    /// ending in CR (a CRLF capture), no " (" in the subsystem (the header's last " (" starts it),
    /// and within the size limit.
    /// </summary>
    private static bool IsTextRepresentable(Uevent e) =>
        !e.Properties.Any(p => p.Key.Contains('\n') || p.Value.Contains('\n') || p.Value.EndsWith('\r'))
        && !e.Subsystem.Contains(" (")
        && e.ToUdevadmText().Length <= UeventParser.MaxMessageBytes;

    private static byte[] Mutate(Random rng, byte[] original, bool text = false)
    {
        var m = new List<byte>(original);
        var count = rng.Next(1, 5);
        for (var n = 0; n < count; n++)
        {
            switch (rng.Next(18))
            {
                case 0 when m.Count > 0: // flip a bit
                    m[rng.Next(m.Count)] ^= (byte)(1 << rng.Next(8));
                    break;
                case 1 when m.Count > 0: // overwrite a byte
                    m[rng.Next(m.Count)] = (byte)rng.Next(256);
                    break;
                case 2: // insert random bytes
                    m.InsertRange(rng.Next(m.Count + 1), Enumerable.Range(0, rng.Next(1, 4)).Select(_ => (byte)rng.Next(256)));
                    break;
                case 3 when m.Count > 0: // delete a range
                {
                    var at = rng.Next(m.Count);
                    m.RemoveRange(at, Math.Min(m.Count - at, rng.Next(1, 16)));
                    break;
                }
                case 4 when m.Count > 0: // truncate
                {
                    var keep = rng.Next(m.Count);
                    m.RemoveRange(keep, m.Count - keep);
                    break;
                }
                case 5: // duplicate a field
                {
                    var fields = Tokens(m, text);
                    if (fields.Count < 2) break;
                    var (s, l) = fields[rng.Next(1, fields.Count)];
                    var copy = m.GetRange(s, l).Append(text ? (byte)'\n' : (byte)0).ToList();
                    var (ts, _) = fields[rng.Next(1, fields.Count)];
                    m.InsertRange(ts, copy);
                    break;
                }
                case 6: // swap NULs (or newlines) and '='
                {
                    var sep = text ? (byte)'\n' : (byte)0;
                    var positions = Positions(m, b => b == sep || b == '=');
                    if (positions.Count == 0) break;
                    var p = positions[rng.Next(positions.Count)];
                    m[p] = m[p] == '=' ? sep : (byte)'=';
                    break;
                }
                case 7: // insert a "..", "." or empty segment into the devpath, in header and field alike or in one
                {
                    var seg = Encoding.UTF8.GetBytes(new[] { "/..", "/.", "/", "/../../etc" }[rng.Next(4)]);
                    var positions = DevPathStarts(m);
                    if (positions.Count == 0) break;
                    if (rng.Next(2) == 0) { m.InsertRange(positions[rng.Next(positions.Count)], seg); break; }
                    for (var k = positions.Count - 1; k >= 0; k--) m.InsertRange(positions[k], seg);
                    break;
                }
                case 8: // invalid UTF-8
                    m.InsertRange(rng.Next(m.Count + 1), InvalidUtf8[rng.Next(InvalidUtf8.Length)]);
                    break;
                case 9: // huge: a long field, or many fields
                {
                    var at = FieldStart(rng, m, text);
                    var sep = text ? (byte)'\n' : (byte)0;
                    if (rng.Next(2) == 0)
                        m.InsertRange(at, Encoding.UTF8.GetBytes("BIG=" + new string('x', rng.Next(1000, 9000))).Append(sep));
                    else
                        m.InsertRange(at, Enumerable.Range(0, rng.Next(50, 70)).SelectMany(k => Encoding.UTF8.GetBytes($"K{k}=v").Append(sep)));
                    break;
                }
                case 10: // a random action, in the header, the field, or both
                {
                    var action = Actions[rng.Next(Actions.Length)];
                    var where = rng.Next(3);
                    if (where != 1) ReplaceHeaderAction(m, action, text);
                    if (where != 0) ReplaceValue(m, "ACTION", action, text);
                    break;
                }
                case 11: // remove a field
                {
                    var fields = Tokens(m, text);
                    if (fields.Count < 2) break;
                    var (s, l) = fields[rng.Next(1, fields.Count)];
                    m.RemoveRange(s, Math.Min(l + 1, m.Count - s));
                    break;
                }
                case 12: // an odd value for a known key
                {
                    var key = KnownKeys[rng.Next(KnownKeys.Length)];
                    var values = new[] { "", "0", "-1", "1", "99999999999", "18446744073709551615", "18446744073709551616", "x", " 1",
                        "/devices/virtual/net/y", "/devices/../x", "relative", "/a//b", "/a/", "/a\u0001b" };
                    var value = values[rng.Next(values.Length)];
                    if (!ReplaceValue(m, key, value, text))
                        m.InsertRange(FieldStart(rng, m, text), Encoding.UTF8.GetBytes($"{key}={value}").Append(text ? (byte)'\n' : (byte)0));
                    break;
                }
                case 13: // insert an interesting string
                    m.InsertRange(rng.Next(m.Count + 1), Encoding.UTF8.GetBytes(Interesting[rng.Next(Interesting.Length)]));
                    break;
                case 14: // swap two fields
                {
                    var fields = Tokens(m, text);
                    if (fields.Count < 3) break;
                    var a = fields[rng.Next(1, fields.Count)];
                    var b = fields[rng.Next(1, fields.Count)];
                    if (a.Start == b.Start) break;
                    if (a.Start > b.Start) (a, b) = (b, a);
                    var bytesA = m.GetRange(a.Start, a.Length);
                    var bytesB = m.GetRange(b.Start, b.Length);
                    m.RemoveRange(b.Start, b.Length); m.InsertRange(b.Start, bytesA);
                    m.RemoveRange(a.Start, a.Length); m.InsertRange(a.Start, bytesB);
                    break;
                }
                case 15 when text: // line-ending games
                {
                    var positions = Positions(m, b => b == '\n');
                    if (positions.Count == 0) break;
                    var p = positions[rng.Next(positions.Count)];
                    switch (rng.Next(3))
                    {
                        case 0: m.Insert(p, (byte)'\r'); break;
                        case 1: m.Insert(p, (byte)'\n'); break;
                        default: m.InsertRange(p, "  \t"u8.ToArray()); break;
                    }
                    break;
                }
                case 16: // the same change to the devpath in header and field (keeps them consistent)
                {
                    var insert = Encoding.UTF8.GetBytes(Interesting[rng.Next(Interesting.Length)]);
                    var positions = DevPathStarts(m);
                    var offset = rng.Next(1, 24);
                    for (var k = positions.Count - 1; k >= 0; k--) m.InsertRange(Math.Min(positions[k] + offset, m.Count), insert);
                    break;
                }
                default: // no change this round
                    break;
            }
        }
        return m.ToArray();
    }

    /// <summary>Start and length of each separator-delimited token (the first is the header).</summary>
    private static List<(int Start, int Length)> Tokens(List<byte> m, bool text)
    {
        var sep = text ? (byte)'\n' : (byte)0;
        var span = CollectionsMarshal.AsSpan(m);
        var tokens = new List<(int, int)>();
        var start = 0;
        while (start <= span.Length)
        {
            var end = span[start..].IndexOf(sep);
            var length = end < 0 ? span.Length - start : end;
            if (length > 0) tokens.Add((start, length));
            start += length + 1;
        }
        return tokens;
    }

    private static List<int> Positions(List<byte> m, Func<byte, bool> match)
    {
        var span = CollectionsMarshal.AsSpan(m);
        var positions = new List<int>();
        for (var i = 0; i < span.Length; i++)
            if (match(span[i])) positions.Add(i);
        return positions;
    }

    /// <summary>Where "/de..." starts: the devpaths in header and field.</summary>
    private static List<int> DevPathStarts(List<byte> m)
    {
        var span = CollectionsMarshal.AsSpan(m);
        var positions = new List<int>();
        for (var i = span.IndexOf("/de"u8); i >= 0;)
        {
            positions.Add(i);
            var next = span[(i + 1)..].IndexOf("/de"u8);
            i = next < 0 ? -1 : i + 1 + next;
        }
        return positions;
    }

    private static int FieldStart(Random rng, List<byte> m, bool text)
    {
        var fields = Tokens(m, text);
        return fields.Count < 2 ? m.Count : fields[rng.Next(1, fields.Count)].Start;
    }

    private static void ReplaceHeaderAction(List<byte> m, string action, bool text)
    {
        var bytes = Encoding.UTF8.GetBytes(action);
        if (!text)
        {
            var at = m.IndexOf((byte)'@');
            if (at < 0) return;
            m.RemoveRange(0, at);
            m.InsertRange(0, bytes);
            return;
        }
        // "KERNEL[0.000000] add      /devices..."
        var close = m.IndexOf((byte)']');
        if (close < 0 || close + 2 >= m.Count) return;
        var end = m.IndexOf((byte)' ', close + 2);
        if (end < 0) return;
        m.RemoveRange(close + 2, end - close - 2);
        m.InsertRange(close + 2, bytes);
    }

    private static bool ReplaceValue(List<byte> m, string key, string value, bool text)
    {
        var sep = text ? (byte)'\n' : (byte)0;
        var keyBytes = Encoding.UTF8.GetBytes(key + "=");
        foreach (var (start, length) in Tokens(m, text))
        {
            if (length < keyBytes.Length || !CollectionsMarshal.AsSpan(m).Slice(start, keyBytes.Length).SequenceEqual(keyBytes)) continue;
            if (start > 0 && m[start - 1] != sep) continue;
            m.RemoveRange(start + keyBytes.Length, length - keyBytes.Length);
            m.InsertRange(start + keyBytes.Length, Encoding.UTF8.GetBytes(value));
            return true;
        }
        return false;
    }
}
