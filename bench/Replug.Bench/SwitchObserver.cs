using System.Globalization;
using System.Threading.Channels;

namespace Replug.Bench;

/// <summary>One line of the observer: a kernel uevent of a net device, or an rtnetlink link message.</summary>
/// <param name="At">CLOCK_MONOTONIC in ns when the observer's recv returned.</param>
/// <param name="Action">uevent: add, remove, …; link: new or del.</param>
internal sealed record ObservedEvent(int Namespace, long At, bool IsUevent, string Action, string Interface, int Index = 0, int Master = 0, bool Up = false)
{
    public bool IsRemoval(string device) => IsUevent && Action == "remove" && Interface == device;
    public bool IsAddition(string device) => IsUevent && Action == "add" && Interface == device;
    public bool IsEnslaved(string device, int bridge) => !IsUevent && Action == "new" && Interface == device && Master == bridge;
}

/// <summary>A link as the observer last saw it.</summary>
internal readonly record struct ObservedLink(int Index, int Master, bool Up, bool Present);

/// <summary>
/// The observer (bench/observer/observer.c): a SCHED_FIFO process outside every reactor, with a
/// uevent and an rtnetlink socket in each namespace under test, that stamps each event with
/// CLOCK_MONOTONIC as it receives it. A switch as a user sees it is the time from the kernel's
/// removal uevent of the active device to the link message showing the standby in the bridge.
/// </summary>
internal sealed class SwitchObserver : IDisposable
{
    private const int AfBridge = 7;
    private readonly BenchProcess _process;
    private readonly Channel<ObservedEvent>[] _events;
    private readonly Dictionary<string, ObservedLink>[] _links;
    private readonly Dictionary<string, long>[] _wentDown;
    private readonly TaskCompletionSource<string> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <param name="program">The built observer.</param>
    /// <param name="namespaces">The namespaces to watch, by name; events carry their index here.</param>
    public SwitchObserver(string program, IReadOnlyList<string> namespaces)
    {
        _events = [.. namespaces.Select(_ => Channel.CreateUnbounded<ObservedEvent>(new UnboundedChannelOptions { SingleReader = true }))];
        _links = [.. namespaces.Select(_ => new Dictionary<string, ObservedLink>(StringComparer.Ordinal))];
        _wentDown = [.. namespaces.Select(_ => new Dictionary<string, long>(StringComparer.Ordinal))];
        _process = new BenchProcess("observer", program,
            namespaces.Select(n => Path.Combine(Replug.Agent.Linux.NetworkNamespace.RunDirectory, n)), onLine: OnLine);
    }

    /// <summary>"SCHED_FIFO", or why the scheduler refused it.</summary>
    public string Scheduling { get; private set; } = "?";

    public async Task WaitReadyAsync(CancellationToken cancellation)
    {
        await _process.WaitLineAsync(0, l => l.StartsWith("ready", StringComparison.Ordinal), TimeSpan.FromSeconds(10), "the observer listening", cancellation);
        Scheduling = await _ready.Task;
    }

    private void OnLine(string line)
    {
        if (line.StartsWith("ready", StringComparison.Ordinal))
        {
            _ready.TrySetResult(line == "ready fifo" ? "SCHED_FIFO" : $"normal priority (SCHED_FIFO refused: {line["ready refused ".Length..]})");
            return;
        }
        var f = line.Split(' ');
        if (f.Length < 4 || !int.TryParse(f[0], CultureInfo.InvariantCulture, out var ns) || ns < 0 || ns >= _events.Length) return;
        var at = long.Parse(f[1], CultureInfo.InvariantCulture);
        ObservedEvent? e = f[2] switch
        {
            "uevent" when f.Length >= 5 => new ObservedEvent(ns, at, true, f[3], f[4]),
            // The bridge's own (AF_BRIDGE) copy of a port change is skipped: the link's own message says the same.
            "link" when f.Length >= 9 && f[8] != AfBridge.ToString(CultureInfo.InvariantCulture) => new ObservedEvent(ns, at, false, f[3], f[4],
                int.Parse(f[5], CultureInfo.InvariantCulture), int.Parse(f[6], CultureInfo.InvariantCulture), f[7] == "1"),
            _ => null,
        };
        if (e is not null) _events[ns].Writer.TryWrite(e);
    }

    /// <summary>The links of a namespace as the events read so far show them.</summary>
    public IReadOnlyDictionary<string, ObservedLink> Links(int ns) => _links[ns];

    /// <summary>
    /// When a link was last seen going from up to down or gone (its first rtnetlink message of a
    /// deletion: the kernel closes a device before it sends the removal uevent).
    /// </summary>
    public long? WentDownAt(int ns, string device) => _wentDown[ns].TryGetValue(device, out var at) ? at : null;

    private void Apply(ObservedEvent e)
    {
        if (e.IsUevent) return;
        if (_links[e.Namespace].TryGetValue(e.Interface, out var before) && before.Present && before.Up && (e.Action == "del" || !e.Up))
            _wentDown[e.Namespace][e.Interface] = e.At;
        _links[e.Namespace][e.Interface] = e.Action == "del"
            ? new ObservedLink(e.Index, 0, false, false)
            : new ObservedLink(e.Index, e.Master, e.Up, true);
    }

    /// <summary>
    /// Takes a link's state as the bench read it (from sysfs) for links that have not changed
    /// since the observer started, and so were never reported to it.
    /// </summary>
    public void Seed(int ns, string device, ObservedLink link)
    {
        Drain(ns);
        _links[ns].TryAdd(device, link);
    }

    /// <summary>Reads (and applies) what has arrived for a namespace, without waiting.</summary>
    public void Drain(int ns)
    {
        while (_events[ns].Reader.TryRead(out var e)) Apply(e);
    }

    /// <summary>The next event of a namespace that matches; null when none came within the timeout.</summary>
    public async Task<ObservedEvent?> NextAsync(int ns, Func<ObservedEvent, bool> match, TimeSpan timeout, CancellationToken cancellation)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        bounded.CancelAfter(timeout);
        try
        {
            while (true)
            {
                var e = await _events[ns].Reader.ReadAsync(bounded.Token);
                Apply(e);
                if (match(e)) return e;
            }
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>
    /// Both events, in whichever order they arrive (a reaction is never seen before its cause, but
    /// the observer's two sockets are read one after the other); null for one that did not come.
    /// </summary>
    public async Task<(ObservedEvent? First, ObservedEvent? Second)> BothAsync(int ns, Func<ObservedEvent, bool> first,
        Func<ObservedEvent, bool> second, TimeSpan timeout, CancellationToken cancellation)
    {
        ObservedEvent? a = null, b = null;
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        while (a is null || b is null)
        {
            var left = timeout - deadline.Elapsed;
            if (left <= TimeSpan.Zero) break;
            var e = await NextAsync(ns, x => (a is null && first(x)) || (b is null && second(x)), left, cancellation);
            if (e is null) break;
            if (a is null && first(e)) a = e;
            else b = e;
        }
        return (a, b);
    }

    /// <summary>The time of the event after which the namespace's links satisfy <paramref name="state"/>; null on timeout.</summary>
    public async Task<long?> UntilAsync(int ns, Func<IReadOnlyDictionary<string, ObservedLink>, bool> state, TimeSpan timeout, CancellationToken cancellation)
    {
        Drain(ns);
        if (state(_links[ns])) return 0;
        var e = await NextAsync(ns, _ => state(_links[ns]), timeout, cancellation);
        return e?.At;
    }

    public string Tail => _process.Tail();

    public void Dispose() => _process.Dispose();
}
