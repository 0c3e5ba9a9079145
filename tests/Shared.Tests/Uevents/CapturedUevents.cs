using System.Text;
using Replug.Shared.Uevents;

namespace Replug.Shared.Tests.Uevents;

/// <summary>
/// The real kernel messages in Uevents/Fixtures (captured on a Linux host with capture.py),
/// split back into single messages.
/// </summary>
public static class CapturedUevents
{
    public static string Directory => Path.Combine(AppContext.BaseDirectory, "Uevents", "Fixtures");

    /// <summary>Scenarios whose every message the parser must accept.</summary>
    public static readonly string[] ValidScenarios =
        ["veth-lifecycle", "rename-move", "bridge", "macvlan-vxlan-tap", "synthetic-actions", "odd-names"];

    /// <summary>Real kernel messages naming an interface that is not UTF-8: rejected as InvalidUtf8.</summary>
    public const string InvalidUtf8Scenario = "invalid-utf8";

    public static byte[] ReadScenario(string scenario) => File.ReadAllBytes(Path.Combine(Directory, scenario + ".bin"));

    public static IReadOnlyList<byte[]> Messages(string scenario) => Split(ReadScenario(scenario));

    public static IReadOnlyList<byte[]> AllValidMessages() => ValidScenarios.SelectMany(Messages).ToList();

    /// <summary>(scenario, index) pairs for theories: one case per real message.</summary>
    public static TheoryData<string, int> EveryValidMessage()
    {
        var data = new TheoryData<string, int>();
        foreach (var scenario in ValidScenarios)
            for (var i = 0; i < Messages(scenario).Count; i++)
                data.Add(scenario, i);
        return data;
    }

    /// <summary>
    /// Splits concatenated wire-format messages. A message starts at a NUL-separated token
    /// with an '@' before any '=': field keys never hold '@', while a DEVPATH may hold both
    /// (interfaces named "rp@at" and "rp=eq" are among the fixtures).
    /// </summary>
    public static IReadOnlyList<byte[]> Split(ReadOnlySpan<byte> data)
    {
        var messages = new List<byte[]>();
        var start = -1;
        var pos = 0;
        while (pos < data.Length)
        {
            var end = data[pos..].IndexOf((byte)0);
            var tokenEnd = end < 0 ? data.Length : pos + end;
            var token = data[pos..tokenEnd];
            var at = token.IndexOf((byte)'@');
            var eq = token.IndexOf((byte)'=');
            if (at > 0 && (eq < 0 || at < eq))
            {
                if (start >= 0) messages.Add(data[start..pos].ToArray());
                start = pos;
            }
            pos = tokenEnd + 1;
        }
        if (start >= 0) messages.Add(data[start..].ToArray());
        return messages;
    }

    /// <summary>The raw fields of a wire message, by plain byte splitting (no parser involved).</summary>
    public static (string Header, List<KeyValuePair<string, string>> Fields) RawFields(byte[] message)
    {
        var text = Encoding.UTF8.GetString(message);
        var tokens = text.Split('\0');
        var fields = new List<KeyValuePair<string, string>>();
        foreach (var token in tokens.Skip(1))
        {
            if (token.Length == 0) continue;
            var eq = token.IndexOf('=');
            fields.Add(new(token[..eq], token[(eq + 1)..]));
        }
        return (tokens[0], fields);
    }
}

/// <summary>Comparisons of events (Uevent has no value equality of its own).</summary>
public static class UeventAssert
{
    public static void Equal(Uevent expected, Uevent actual)
    {
        Assert.Equal(expected.Action, actual.Action);
        Assert.Equal(expected.DevPath, actual.DevPath);
        Assert.Equal(expected.Subsystem, actual.Subsystem);
        Assert.Equal(expected.SeqNum, actual.SeqNum);
        Assert.Equal(expected.IfIndex, actual.IfIndex);
        Assert.Equal(expected.FieldCount, actual.FieldCount);
        Assert.Equal(expected.Properties.ToList(), actual.Properties.ToList());
    }

    public static bool AreEqual(Uevent a, Uevent b) =>
        a.Action == b.Action && a.DevPath == b.DevPath && a.Subsystem == b.Subsystem && a.SeqNum == b.SeqNum
        && a.IfIndex == b.IfIndex && a.FieldCount == b.FieldCount && a.Properties.SequenceEqual(b.Properties);

    public static Uevent Accepted(UeventParseResult result)
    {
        Assert.True(result.IsAccepted, $"rejected: {result.Rejection} ({result.Detail})");
        Assert.Equal(UeventRejection.None, result.Rejection);
        return result.Event!;
    }

    public static void Rejected(UeventRejection expected, UeventParseResult result)
    {
        Assert.False(result.IsAccepted, $"accepted, expected {expected}: {result.Event}");
        Assert.Equal(expected, result.Rejection);
        Assert.False(string.IsNullOrEmpty(result.Detail));
    }
}

/// <summary>Builds wire-format messages for tests.</summary>
public static class Wire
{
    public static byte[] Message(string header, params string[] fields) =>
        Encoding.UTF8.GetBytes(header + "\0" + string.Concat(fields.Select(f => f + "\0")));

    public static byte[] Event(string action = "add", string devPath = "/devices/virtual/net/veth0",
        string subsystem = "net", string seqNum = "4711", params string[] extra) =>
        Message($"{action}@{devPath}",
            [$"ACTION={action}", $"DEVPATH={devPath}", $"SUBSYSTEM={subsystem}", .. extra, $"SEQNUM={seqNum}"]);
}
