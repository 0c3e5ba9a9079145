namespace Replug.Coordinator.Tests.Simulation;

/// <summary>One line of a run's trace: the step, the simulated time, what happened.</summary>
public readonly record struct TraceLine(long Step, long AtMs, string Text)
{
    public override string ToString() => $"#{Step,-6} {AtMs / 1000.0,9:0.000}s  {Text}";
}

/// <summary>An invariant that did not hold: where, when, which ports and hosts it concerns.</summary>
public sealed record Violation(string Invariant, long Step, long AtMs, string Detail, IReadOnlyList<string> Involved)
{
    public override string ToString() => $"[{Invariant}] step {Step} at {AtMs / 1000.0:0.000}s: {Detail}";
}

/// <summary>
/// Everything that happened in a run, in order. Lines name hosts (h1..), coordinator nodes
/// (c1..) and ports (p01..) so a violation's short trace is the lines that mention what it
/// involves.
/// </summary>
public sealed class SimTrace(bool record)
{
    private readonly List<TraceLine> _lines = [];
    // Without a full record, the last lines still make a violation's short trace.
    private readonly Queue<TraceLine> _recent = new();
    private const int RecentKept = 4000;

    public long Step { get; set; }
    public IReadOnlyList<TraceLine> Lines => record ? _lines : [.. _recent];
    public bool Recording => record;

    public void Add(long atMs, string text)
    {
        var line = new TraceLine(Step, atMs, text);
        if (record)
        {
            _lines.Add(line);
            return;
        }
        _recent.Enqueue(line);
        if (_recent.Count > RecentKept) _recent.Dequeue();
    }

    /// <summary>The last <paramref name="max"/> lines up to the violation that mention any of <paramref name="involved"/>.</summary>
    public IReadOnlyList<TraceLine> ShortTrace(Violation violation, int max = 40)
    {
        var picked = new List<TraceLine>();
        var lines = Lines;
        for (var i = lines.Count - 1; i >= 0 && picked.Count < max; i--)
        {
            var line = lines[i];
            if (line.Step > violation.Step) continue;
            if (violation.Involved.Count == 0 || violation.Involved.Any(t => Mentions(line.Text, t))) picked.Add(line);
        }
        picked.Reverse();
        return picked;
    }

    /// <summary>"h1" in "h1:" or "->h1" but not in "h10" or "ph1x": a name bounded by non-alphanumerics.</summary>
    public static bool Mentions(string text, string token)
    {
        var at = 0;
        while ((at = text.IndexOf(token, at, StringComparison.Ordinal)) >= 0)
        {
            var before = at == 0 || !char.IsLetterOrDigit(text[at - 1]);
            var end = at + token.Length;
            var after = end >= text.Length || !char.IsLetterOrDigit(text[end]);
            if (before && after) return true;
            at = end;
        }
        return false;
    }
}
