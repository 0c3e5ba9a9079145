using System.Diagnostics.Metrics;
using Prometheus;

namespace Replug.Agent.Observability;

/// <summary>
/// One host's metrics in Prometheus' text format: prometheus-net's meter adapter listens to the
/// meters this host's <see cref="IMeterFactory"/> made (named "replug.*") and keeps them in a
/// registry of its own, so several hosts in one process (the tests' clusters) export only their
/// own figures. prometheus-net rather than OpenTelemetry's exporter: it is a stable release here
/// (OpenTelemetry's Prometheus exporter is only a prerelease), one package, no SDK pipeline.
/// </summary>
public sealed class PrometheusExport : IDisposable
{
    /// <summary>Prometheus' text exposition format, version 0.0.4.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    // prometheus-net drops a series that no measurement touched for this long (a day at most):
    // counters are observable (Totals), read at every scrape; a histogram idle for a day starts
    // again from zero, a reset that rate() and histogram_quantile() over rates handle.
    private static readonly TimeSpan SeriesKept = TimeSpan.FromDays(1);

    /// <summary>
    /// .NET's own meter (GC heap by generation, collections, working set, thread pool): the process's,
    /// so every host of a process exports the same figures. An always-on daemon's memory is watched
    /// from outside, and the GC heap tells a leak from memory the runtime merely keeps.
    /// </summary>
    public const string RuntimeMeterName = "System.Runtime";

    private readonly IDisposable _adapter;

    public PrometheusExport(IMeterFactory meters)
    {
        Registry = Metrics.NewCustomRegistry();
        _adapter = MeterAdapter.StartListening(new MeterAdapterOptions
        {
            Registry = Registry,
            // Without it the adapter creates its series in prometheus-net's default registry, not this one.
            MetricFactory = Metrics.WithCustomRegistry(Registry),
            InstrumentFilterPredicate = instrument => (ReferenceEquals(instrument.Meter.Scope, meters)
                    && instrument.Meter.Name.StartsWith("replug.", StringComparison.Ordinal))
                || instrument.Meter.Name == RuntimeMeterName,
            MetricsExpireAfter = SeriesKept,
            ResolveHistogramBuckets = Buckets,
        });
    }

    /// <summary>The registry the host's instruments are exported from.</summary>
    public CollectorRegistry Registry { get; }

    /// <summary>Writes every series, observable instruments read now.</summary>
    public Task WriteAsync(Stream to, CancellationToken cancellation) => Registry.CollectAndExportAsTextAsync(to, cancellation);

    public void Dispose() => _adapter.Dispose();

    /// <summary>
    /// Seconds: a port's switch takes micro- to milliseconds, a journal write milliseconds, a
    /// fail-over seconds; each histogram gets buckets around what it measures.
    /// </summary>
    internal static double[] Buckets(Instrument instrument) => instrument.Name switch
    {
        "port.switch.latency" or "journal.write.latency" =>
            [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
        _ => [0.1, 0.25, 0.5, 1, 2, 3, 4, 5, 7.5, 10, 15, 20, 30, 60, 120, 300],
    };
}
