using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Akka.Actor;
using Akka.DependencyInjection;
using Microsoft.Extensions.DependencyInjection;
using Replug.Agent.Devices;
using Replug.Agent.Sources;
using Replug.Shared.Uevents;

namespace Replug.Agent.Observability;

/// <summary>
/// The agent's instruments (meter <see cref="MeterName"/>), recorded where the fact is known: the
/// uevent source's counters, the watcher's rescans and device states, the ports' switches and
/// fences. One per host (from its <see cref="IMeterFactory"/>, so in-process test clusters do not
/// mix their figures); actors reach it with <see cref="For"/>.
/// </summary>
public sealed class AgentMetrics
{
    /// <summary>The meter's name; instruments are named under it ("uevents.received" is exported as replug_agent_uevents_received).</summary>
    public const string MeterName = "replug.agent";

    private static readonly ConditionalWeakTable<ActorSystem, AgentMetrics> BySystem = new();

    private readonly Totals _resyncs = new();
    private readonly Totals _fences = new("scope");
    private readonly Totals _switches = new();
    private readonly Totals _preparedSwitches = new();
    private readonly Totals _httpRefused = new("reason");
    private readonly Histogram<double> _switchLatency;
    private volatile SourceCounters? _source;
    private volatile DeviceStateCensus? _devices;

    /// <param name="meters">The host's meter factory; null: an unscoped meter no exporter of a host listens to (actor tests).</param>
    public AgentMetrics(IMeterFactory? meters)
    {
        Meter = meters?.Create(MeterName) ?? new Meter(MeterName);
        Meter.CreateObservableCounter("uevents.received", () => _source?.Received ?? 0, "{message}",
            "Messages read by the uevent source (netlink datagrams, or a replay's messages)");
        Meter.CreateObservableCounter("uevents.rejected", ObserveRejected, "{message}",
            "Messages read but not accepted, by reason (a parser's reason, truncated, bad_credentials)");
        Meter.CreateObservableCounter("uevents.forged", () => _source?.ForeignSender ?? 0, "{message}",
            "Netlink messages from a sender other than the kernel (port id not 0): forged by a process");
        Meter.CreateObservableCounter("uevents.overflows", () => _source?.Overflows ?? 0, "{overflow}",
            "Times the kernel dropped uevents because the receive buffer was full (ENOBUFS)");
        Meter.CreateObservableCounter("uevents.resyncs", _resyncs.Observe, "{rescan}",
            "Rescans of sysfs that reconciled the devices (at start, after an overflow, or asked for)");
        Meter.CreateObservableGauge("devices", ObserveDevices, "{device}", "Devices the agent supervises, by lifecycle state");
        _switchLatency = Meter.CreateHistogram<double>("port.switch.latency", "s",
            "From the uevent that caused a port's switch to the data path having it");
        Meter.CreateObservableCounter("port.switches", _switches.Observe, "{switch}", "Ports' switches that the data path carried out");
        Meter.CreateObservableCounter("port.switches.prepared", _preparedSwitches.Observe, "{switch}",
            "Of those, switches a port prepared and the uevent source's thread carried out on the kernel's report");
        Meter.CreateObservableCounter("fences", _fences.Observe, "{fence}",
            "Fences: a port took its traffic down (scope=port), or the host fenced itself without a majority (scope=host)");
        Meter.CreateObservableCounter("http.requests.refused", _httpRefused.Observe, "{request}",
            "Requests the agent's listener refused before an endpoint saw them, by reason (bad_request, too_large, timeout, busy)");
    }

    /// <summary>The meter the instruments belong to.</summary>
    public Meter Meter { get; }

    /// <summary>The metrics of <paramref name="system"/>'s host (from its services), or of the system alone when it has none.</summary>
    public static AgentMetrics For(ActorSystem system) => BySystem.GetValue(system, s =>
        s.Settings.Setup.Get<DependencyResolverSetup>().HasValue
            ? DependencyResolver.For(s).Resolver.GetService<AgentMetrics>() ?? new AgentMetrics(null)
            : new AgentMetrics(null));

    /// <summary>The source whose counters "uevents.*" export from now on (the agent has one at a time).</summary>
    public void ObserveSource(SourceCounters counters) => _source = counters;

    /// <summary>The watcher's census of device states, which the "devices" gauge reads.</summary>
    public void ObserveDevices(DeviceStateCensus census) => _devices = census;

    public void Resynced() => _resyncs.Add();

    /// <summary>A switch done; <paramref name="reaction"/> is known only when a uevent caused it.</summary>
    public void Switched(TimeSpan? reaction, bool prepared = false)
    {
        _switches.Add();
        if (prepared) _preparedSwitches.Add();
        if (reaction is { } r) _switchLatency.Record(r.TotalSeconds);
    }

    public void PortFenced() => _fences.Add(1, "port");
    public void HostFenced() => _fences.Add(1, "host");

    internal void HttpRefused(HttpRefusal reason) => _httpRefused.Add(1, reason switch
    {
        HttpRefusal.BadRequest => "bad_request",
        HttpRefusal.TooLarge => "too_large",
        HttpRefusal.Timeout => "timeout",
        _ => "busy",
    });

    private IEnumerable<Measurement<long>> ObserveRejected()
    {
        if (_source?.Snapshot() is not { } counters) yield break;
        foreach (var (reason, count) in counters.RejectedByReason) yield return new(count, Reason(reason.ToString()));
        yield return new(counters.Truncated, Reason("truncated"));
        yield return new(counters.BadCredentials, Reason("bad_credentials"));

        static KeyValuePair<string, object?> Reason(string reason) => new("reason", reason);
    }

    private IEnumerable<Measurement<long>> ObserveDevices()
    {
        var counts = _devices?.CountByState();
        // Every state, zeros too: a state whose series vanished cannot be told from a scrape that failed.
        foreach (var state in Enum.GetValues<DeviceState>())
            yield return new(counts?.GetValueOrDefault(state) ?? 0, new KeyValuePair<string, object?>("state", state.ToString()));
    }
}

/// <summary>Each supervised device's lifecycle state, kept by the watcher (its one writer) and read by the metrics' collection.</summary>
public sealed class DeviceStateCensus
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Shared.Devices.DeviceId, DeviceState> _states = new();

    public void Set(Shared.Devices.DeviceId device, DeviceState state) => _states[device] = state;
    public void Remove(Shared.Devices.DeviceId device) => _states.TryRemove(device, out _);

    public IReadOnlyDictionary<DeviceState, long> CountByState() =>
        _states.Values.GroupBy(s => s).ToDictionary(g => g.Key, g => (long)g.Count());
}
