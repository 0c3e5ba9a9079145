using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;

namespace Replug.Agent.Load;

/// <summary>How an agent measures its NICs' traffic and how often it tells the coordinator.</summary>
/// <param name="Interval">How often every NIC's counters are read.</param>
/// <param name="HalfLife">How fast the smoothed rate follows a change: half of a step after one half-life.</param>
/// <param name="Threshold">A report goes when a NIC's utilization moved by more than this (0.05 = five points) since the last one…</param>
/// <param name="Heartbeat">…or this long after the last one.</param>
/// <param name="DefaultCapacityBps">The capacity of a NIC whose kernel gives no speed (veths, some virtual NICs).</param>
public sealed record NicLoadSettings(TimeSpan Interval, TimeSpan HalfLife, double Threshold, TimeSpan Heartbeat, double DefaultCapacityBps)
{
    public static readonly NicLoadSettings Default = new(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(10), 0.05, TimeSpan.FromSeconds(30), 10_000e6);

    public LoadReportGate Gate => new(Threshold, Heartbeat);
}

/// <summary>
/// Samples the host's NICs every <see cref="NicLoadSettings.Interval"/>, keeps each one's smoothed
/// load (<see cref="HostLoad"/>), and tells <c>reportTo</c> (the host agent) when a report is due.
/// The reads run off the actor's thread: <c>speed</c> takes the kernel's RTNL lock, which another
/// process may hold for a while.
/// </summary>
public sealed class NicLoadSampler : ReceiveActor, IWithTimers
{
    /// <summary>The NICs to measure, all of them each time (the host agent's NICs).</summary>
    public sealed record Track(IReadOnlyCollection<DeviceId> Nics);

    /// <summary>Reads every NIC now and answers <see cref="LoadSampled"/> once the figures are taken in (an operator's view, a test).</summary>
    public sealed record SampleNow;

    /// <summary>Every measured NIC's figures after a <see cref="SampleNow"/>, reported or not.</summary>
    public sealed record LoadSampled(IReadOnlyList<NicLoadSample> Nics);

    /// <summary>Report every NIC at the next sample, whatever it last said (the agent registered again).</summary>
    public sealed record ReportAgain;

    /// <summary>To <c>reportTo</c>: every measured NIC's figures, when any moved past the threshold or the heartbeat came.</summary>
    public sealed record LoadReportDue(IReadOnlyList<NicLoadSample> Nics);

    private sealed record Tick;
    private sealed record Sampled(IReadOnlyList<(DeviceId Nic, NicReading? Reading, TimeSpan At)> Readings);

    private readonly NicLoadSettings _settings;
    private readonly INicCounters _counters;
    private readonly IActorRef _reportTo;
    private readonly Func<TimeSpan> _clock;
    private readonly HostLoad _load;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private bool _sampling;
    // Who asked for a sample: answered after the next one that STARTS after their request.
    private readonly List<IActorRef> _waiting = [];
    private List<IActorRef> _answerNow = [];

    /// <param name="clock">A monotonic clock (default: a stopwatch started with the actor); tests give their own.</param>
    public NicLoadSampler(NicLoadSettings settings, INicCounters counters, IActorRef reportTo, Func<TimeSpan>? clock = null)
    {
        _settings = settings;
        _counters = counters;
        _reportTo = reportTo;
        var stopwatch = Stopwatch.StartNew();
        _clock = clock ?? (() => stopwatch.Elapsed);
        _load = new HostLoad(settings.HalfLife, settings.Gate);

        Receive<Track>(t => _load.Track(t.Nics));
        Receive<ReportAgain>(_ => _load.Forget());
        Receive<Tick>(_ => StartSample());
        Receive<SampleNow>(_ =>
        {
            _waiting.Add(Sender);
            StartSample();
        });
        Receive<Sampled>(OnSampled);
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(NicLoadSettings settings, INicCounters counters, IActorRef reportTo, Func<TimeSpan>? clock = null) =>
        Akka.Actor.Props.Create(() => new NicLoadSampler(settings, counters, reportTo, clock));

    protected override void PreStart() => Timers.StartPeriodicTimer("sample", new Tick(), _settings.Interval, _settings.Interval);

    private void StartSample()
    {
        if (_sampling) return; // the last read is still running: a tick is skipped, not queued; a request waits for the next
        if (_load.Tracked.Count == 0 && _waiting.Count == 0) return;
        _sampling = true;
        _answerNow = [.. _waiting];
        _waiting.Clear();
        var nics = _load.Tracked.ToList();
        var counters = _counters;
        var clock = _clock;
        // Each NIC's time is taken as its counters are read: a late thread must not stretch the rate.
        Task.Run(() => new Sampled([.. nics.Select(nic => (nic, counters.Read(nic.Name), clock()))]))
            .ContinueWith(t => t.IsCompletedSuccessfully ? t.Result : new Sampled([]), TaskScheduler.Default)
            .PipeTo(Self);
    }

    private void OnSampled(Sampled sampled)
    {
        _sampling = false;
        foreach (var (nic, reading, at) in sampled.Readings)
        {
            if (reading is not { } r) continue; // gone: the agent stops tracking it when it hears of the removal
            _load.Add(nic, new NicCounters(r.RxBytes, r.TxBytes, at), r.SpeedBps ?? _settings.DefaultCapacityBps);
        }
        if (_load.Due(_clock()) is { } due)
        {
            _log.Debug("NIC load report due: {0}", string.Join(", ", due.Select(n => $"{n.Device} {n.Utilization:P0}")));
            _reportTo.Tell(new LoadReportDue(due));
        }
        if (_answerNow.Count > 0)
        {
            var current = new LoadSampled(_load.Current);
            foreach (var asker in _answerNow) asker.Tell(current);
            _answerNow = [];
        }
        if (_waiting.Count > 0) StartSample();
    }
}
