using System.Globalization;
using System.Text;
using System.Text.Unicode;

namespace Replug.Shared.Uevents;

/// <summary>The parser's answer: an event, or the reason there is none.</summary>
public readonly record struct UeventParseResult(Uevent? Event, UeventRejection Rejection, string? Detail)
{
    public bool IsAccepted => Event is not null;

    internal static UeventParseResult Reject(UeventRejection reason, string detail) => new(null, reason, detail);
}

/// <summary>
/// Parses uevents from the kernel's netlink wire format ("ACTION@DEVPATH\0KEY=VALUE\0...")
/// and from the text <c>udevadm monitor --kernel --property</c> prints. Input is untrusted:
/// every check has a named <see cref="UeventRejection"/>, and no exception escapes.
/// </summary>
public static class UeventParser
{
    /// <summary>
    /// The largest message accepted. The kernel's environment buffer is 2048 bytes
    /// (UEVENT_BUFFER_SIZE) plus the header; 8 KiB leaves room for kernels that grow it.
    /// </summary>
    public const int MaxMessageBytes = 8192;

    /// <summary>The kernel keeps at most 64 environment variables (UEVENT_NUM_ENVP).</summary>
    public const int MaxFields = 64;

    private static ReadOnlySpan<byte> LibudevMagic => "libudev\0"u8;

    public static UeventParseResult ParseKernelMessage(ReadOnlySpan<byte> message,
        UeventOrigin origin = UeventOrigin.Kernel, long receivedTimestamp = 0)
    {
        if (message.IsEmpty) return UeventParseResult.Reject(UeventRejection.Empty, "empty message");
        if (message.Length > MaxMessageBytes)
            return UeventParseResult.Reject(UeventRejection.TooLarge, $"{message.Length} bytes > {MaxMessageBytes}");
        if (message.StartsWith(LibudevMagic))
            return UeventParseResult.Reject(UeventRejection.NotKernelFormat, "libudev message");
        if (!Utf8.IsValid(message))
            return UeventParseResult.Reject(UeventRejection.InvalidUtf8, "message is not valid UTF-8");
        return ParseText(Encoding.UTF8.GetString(message), origin, receivedTimestamp);
    }

    /// <summary>
    /// Parses one block of <c>udevadm monitor --kernel --property</c> output: an optional
    /// "KERNEL[ts] action devpath (subsystem)" line, then KEY=VALUE lines.
    /// </summary>
    public static UeventParseResult ParseUdevadmBlock(ReadOnlySpan<char> block,
        UeventOrigin origin = UeventOrigin.Replay, long receivedTimestamp = 0)
    {
        if (block.Length > MaxMessageBytes)
            return UeventParseResult.Reject(UeventRejection.TooLarge, $"{block.Length} characters > {MaxMessageBytes}");
        if (block.Contains('\0'))
            return UeventParseResult.Reject(UeventRejection.EmbeddedNul, "NUL in a text capture");

        var sb = new StringBuilder(block.Length + 16);
        ReadOnlySpan<char> headerAction = default, headerDevPath = default;
        var sawHeader = false;
        var fieldsStart = -1;
        // Lines end at '\n' only (udevadm writes "\n"; a CRLF copy leaves a '\r'): a value may
        // hold any other character, U+2028 or U+0085 included, which EnumerateLines would split at.
        var remaining = block;
        while (!remaining.IsEmpty)
        {
            var newline = remaining.IndexOf('\n');
            var line = (newline < 0 ? remaining : remaining[..newline]).TrimEnd('\r');
            remaining = newline < 0 ? default : remaining[(newline + 1)..];
            if (line.IsWhiteSpace()) continue;
            if (!sawHeader && fieldsStart < 0 && IsUdevadmPreamble(line)) continue;
            // The header may hold '=' (in a DEVPATH, e.g. an interface named "a=b"): its
            // "KERNEL[" or "UDEV  [" start tells it from a field.
            if (!sawHeader && fieldsStart < 0 && (!line.Contains('=') || IsUdevadmEventLine(line)))
            {
                if (line.StartsWith("UDEV"))
                    return UeventParseResult.Reject(UeventRejection.NotKernelEvent, "udev event, not the kernel's");
                if (!TryParseUdevadmHeader(line, out headerAction, out headerDevPath))
                    return UeventParseResult.Reject(UeventRejection.MissingHeader, $"not a udevadm header: '{Clip(line)}'");
                sawHeader = true;
                continue;
            }
            if (fieldsStart < 0) fieldsStart = sb.Length;
            sb.Append(line).Append('\0');
        }
        if (fieldsStart < 0) return UeventParseResult.Reject(UeventRejection.Empty, "no fields");

        // Without a header line (a bare property dump), the header is rebuilt from the fields,
        // so the same checks apply to both formats.
        var fields = sb.ToString();
        if (!sawHeader)
        {
            if (!TryFindValue(fields, "ACTION", out headerAction))
                return UeventParseResult.Reject(UeventRejection.MissingAction, "no ACTION=");
            if (headerAction.IsEmpty) return UeventParseResult.Reject(UeventRejection.UnknownAction, "unknown action ''");
            TryFindValue(fields, "DEVPATH", out headerDevPath);
        }
        var text = string.Concat(string.Concat(headerAction, "@", headerDevPath), "\0", fields);
        return ParseText(text, origin, receivedTimestamp);
    }

    /// <summary>The core: <paramref name="text"/> is the decoded wire format.</summary>
    internal static UeventParseResult ParseText(string text, UeventOrigin origin, long receivedTimestamp)
    {
        var span = text.AsSpan();
        var headerEnd = span.IndexOf('\0');
        var header = headerEnd < 0 ? span : span[..headerEnd];
        var at = header.IndexOf('@');
        // '=' before the '@' means a field, not a header; a DEVPATH may hold '=' (a net device
        // may be named "a=b"), and '@' (/devices/platform/soc@0/...).
        if (at <= 0 || header[..at].Contains('='))
            return UeventParseResult.Reject(UeventRejection.MissingHeader, $"no ACTION@DEVPATH header: '{Clip(header)}'");
        if (headerEnd < 0) return UeventParseResult.Reject(UeventRejection.MissingAction, "header without fields");

        // Count first, so the field array is allocated once at its exact size.
        var body = span[(headerEnd + 1)..];
        if (!body.IsEmpty && body[^1] == '\0') body = body[..^1]; // the kernel ends every field with NUL
        var bodyStart = headerEnd + 1;
        var count = body.IsEmpty ? 0 : body.Count('\0') + 1;
        if (count > MaxFields) return UeventParseResult.Reject(UeventRejection.TooManyFields, $"{count} fields > {MaxFields}");

        var fields = new Uevent.Field[count];
        var known = Uevent.KnownFields.None;
        sbyte action = -1, seqNum = -1;
        var pos = 0;
        for (var i = 0; i < count; i++)
        {
            var rest = body[pos..];
            var end = rest.IndexOf('\0');
            var token = end < 0 ? rest : rest[..end];
            var eq = token.IndexOf('=');
            if (eq <= 0)
                return UeventParseResult.Reject(UeventRejection.MalformedField, $"field {i} is not KEY=VALUE: '{Clip(token)}'");
            var key = token[..eq];
            fields[i] = new Uevent.Field(bodyStart + pos, eq, bodyStart + pos + eq + 1, token.Length - eq - 1);
            var duplicate = key switch
            {
                "ACTION" => Claim(ref action, i),
                "DEVPATH" => Claim(ref known.DevPath, i),
                "SUBSYSTEM" => Claim(ref known.Subsystem, i),
                "SEQNUM" => Claim(ref seqNum, i),
                "DRIVER" => Claim(ref known.Driver, i),
                "PCI_SLOT_NAME" => Claim(ref known.PciSlotName, i),
                "PCI_ID" => Claim(ref known.PciId, i),
                "INTERFACE" => Claim(ref known.Interface, i),
                "IFINDEX" => Claim(ref known.IfIndex, i),
                "DEVPATH_OLD" => Claim(ref known.DevPathOld, i),
                "DEVTYPE" => Claim(ref known.DevType, i),
                _ => false,
            };
            if (duplicate) return UeventParseResult.Reject(UeventRejection.DuplicateKey, $"{key} appears twice");
            pos += token.Length + 1;
        }

        ReadOnlySpan<char> ValueOf(sbyte index) =>
            text.AsSpan(fields[index].ValueStart, fields[index].ValueLength);

        if (action < 0) return UeventParseResult.Reject(UeventRejection.MissingAction, "no ACTION=");
        var actionText = ValueOf(action);
        if (!UeventActions.TryParse(actionText, out var parsedAction))
            return UeventParseResult.Reject(UeventRejection.UnknownAction, $"unknown action '{Clip(actionText)}'");
        if (!header[..at].SequenceEqual(actionText))
            return UeventParseResult.Reject(UeventRejection.HeaderActionMismatch, $"header says '{Clip(header[..at])}', ACTION={actionText}");

        if (known.DevPath < 0) return UeventParseResult.Reject(UeventRejection.MissingDevPath, "no DEVPATH=");
        var devPath = ValueOf(known.DevPath);
        if (!IsValidDevPath(devPath))
            return UeventParseResult.Reject(UeventRejection.InvalidDevPath, $"invalid DEVPATH '{Clip(devPath)}'");
        if (!header[(at + 1)..].SequenceEqual(devPath))
            return UeventParseResult.Reject(UeventRejection.HeaderDevPathMismatch, $"header path '{Clip(header[(at + 1)..])}' is not DEVPATH");
        if (known.DevPathOld >= 0 && !IsValidDevPath(ValueOf(known.DevPathOld)))
            return UeventParseResult.Reject(UeventRejection.InvalidDevPath, $"invalid DEVPATH_OLD '{Clip(ValueOf(known.DevPathOld))}'");

        if (known.Subsystem < 0 || ValueOf(known.Subsystem).IsEmpty)
            return UeventParseResult.Reject(UeventRejection.MissingSubsystem, "no SUBSYSTEM=");

        if (seqNum < 0) return UeventParseResult.Reject(UeventRejection.MissingSeqNum, "no SEQNUM=");
        if (!ulong.TryParse(ValueOf(seqNum), NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
            return UeventParseResult.Reject(UeventRejection.InvalidSeqNum, $"SEQNUM '{Clip(ValueOf(seqNum))}' is not a number");

        int? ifIndex = null;
        if (known.IfIndex >= 0)
        {
            if (!int.TryParse(ValueOf(known.IfIndex), NumberStyles.None, CultureInfo.InvariantCulture, out var idx) || idx <= 0)
                return UeventParseResult.Reject(UeventRejection.InvalidIfIndex, $"IFINDEX '{Clip(ValueOf(known.IfIndex))}' is not a positive number");
            ifIndex = idx;
        }

        return new UeventParseResult(new Uevent(text, fields, known, parsedAction, seq, ifIndex, origin, receivedTimestamp),
            UeventRejection.None, null);
    }

    /// <summary>
    /// An absolute kernel object path: starts with '/', no empty, "." or ".." segments,
    /// no control characters (NUL included), no backslash.
    /// </summary>
    public static bool IsValidDevPath(ReadOnlySpan<char> path)
    {
        if (path.Length < 2 || path[0] != '/' || path.Length > 4096) return false;
        var rest = path[1..];
        while (true)
        {
            var slash = rest.IndexOf('/');
            var segment = slash < 0 ? rest : rest[..slash];
            if (segment.IsEmpty || segment is "." or "..") return false;
            foreach (var c in segment)
                if (c < 0x20 || c == 0x7f || c == '\\') return false;
            if (slash < 0) return true;
            rest = rest[(slash + 1)..];
        }
    }

    private static bool Claim(ref sbyte slot, int index)
    {
        if (slot >= 0) return true;
        slot = (sbyte)index;
        return false;
    }

    private static bool TryParseUdevadmHeader(ReadOnlySpan<char> line, out ReadOnlySpan<char> action, out ReadOnlySpan<char> devPath)
    {
        // KERNEL[12345.678901] add      /devices/virtual/net/veth0 (net)
        action = devPath = default;
        if (!line.StartsWith("KERNEL")) return false;
        var close = line.IndexOf(']');
        if (close < 0) return false;
        var rest = line[(close + 1)..].TrimStart(' ');
        var space = rest.IndexOf(' ');
        if (space <= 0) return false;
        action = rest[..space];
        rest = rest[space..].TrimStart(' ');
        var paren = rest.LastIndexOf(" (");
        devPath = paren < 0 ? rest.TrimEnd(' ') : rest[..paren];
        return !devPath.IsEmpty;
    }

    /// <summary>The first line of an event as <c>udevadm monitor</c> prints it: "KERNEL[" or "UDEV  [".</summary>
    private static bool IsUdevadmEventLine(ReadOnlySpan<char> line) =>
        line.StartsWith("KERNEL[") || (line.StartsWith("UDEV") && line[4..].TrimStart(' ').StartsWith('['));

    /// <summary>The lines <c>udevadm monitor</c> prints once, before the first event.</summary>
    private static bool IsUdevadmPreamble(ReadOnlySpan<char> line) =>
        line is "monitor will print the received events for:"
            or "UDEV - the event which udev sends out after rule processing"
            or "KERNEL - the kernel uevent";

    private static bool TryFindValue(string fields, string key, out ReadOnlySpan<char> value)
    {
        var span = fields.AsSpan();
        while (!span.IsEmpty)
        {
            var end = span.IndexOf('\0');
            var token = end < 0 ? span : span[..end];
            if (token.Length > key.Length && token[key.Length] == '=' && token.StartsWith(key))
            {
                value = token[(key.Length + 1)..];
                return true;
            }
            if (end < 0) break;
            span = span[(end + 1)..];
        }
        value = default;
        return false;
    }

    /// <summary>Keeps rejection details short and printable: they go to logs.</summary>
    private static string Clip(ReadOnlySpan<char> text)
    {
        const int max = 80;
        var clipped = text.Length > max ? text[..max] : text;
        var sb = new StringBuilder(clipped.Length + 3);
        // Besides control characters, line and paragraph separators (U+2028, U+2029) and format
        // characters (bidi overrides such as U+202E) would break or disguise a log line. A
        // surrogate half left by clipping comes out as U+FFFD.
        foreach (var rune in clipped.EnumerateRunes())
        {
            if (Rune.IsControl(rune) || Rune.GetUnicodeCategory(rune)
                    is UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator or UnicodeCategory.Format)
                sb.Append('?');
            else
                sb.Append(rune);
        }
        if (text.Length > max) sb.Append("...");
        return sb.ToString();
    }
}
