using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace Replug.Agent.Observability;

/// <summary>
/// Running totals behind an observable counter, by label values. Not a <see cref="Counter{T}"/>:
/// prometheus-net's meter adapter forgets a series no measurement touched for a day (at most), and
/// a counter of rare events (fail-overs, fences) would restart from zero; an observable counter is
/// read whole at every scrape and keeps its total for the life of the process.
/// </summary>
public sealed class Totals
{
    private readonly string[] _labels;
    private readonly ConcurrentDictionary<string, StrongBox<long>> _counts = new(StringComparer.Ordinal);

    /// <param name="labels">The labels' names, in the order <see cref="Add"/> takes their values; none: one total.</param>
    public Totals(params string[] labels) => _labels = labels;

    /// <summary>Adds one (or <paramref name="by"/>) under the label values given, in the order of the labels' names.</summary>
    public void Add(long by = 1, params string[] values)
    {
        if (values.Length != _labels.Length) throw new ArgumentException($"{_labels.Length} label value(s) expected, got {values.Length}", nameof(values));
        var box = _counts.GetOrAdd(string.Join('\u001f', values), _ => new StrongBox<long>());
        Interlocked.Add(ref box.Value, by);
    }

    /// <summary>The total under these label values (0 when none was added).</summary>
    public long Of(params string[] values) =>
        _counts.TryGetValue(string.Join('\u001f', values), out var box) ? Interlocked.Read(ref box.Value) : 0;

    /// <summary>Every total with its labels; without labels the one total, zero included, so the series exists from the start.</summary>
    public IEnumerable<Measurement<long>> Observe()
    {
        if (_labels.Length == 0)
        {
            yield return new Measurement<long>(Of());
            yield break;
        }
        foreach (var (key, box) in _counts)
        {
            var values = key.Split('\u001f');
            var tags = new KeyValuePair<string, object?>[_labels.Length];
            for (var i = 0; i < tags.Length; i++) tags[i] = new(_labels[i], values[i]);
            yield return new Measurement<long>(Interlocked.Read(ref box.Value), tags);
        }
    }
}
