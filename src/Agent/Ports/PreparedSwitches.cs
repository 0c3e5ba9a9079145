using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using Akka.Actor;
using Replug.Agent.Devices;
using Replug.Shared.Devices;
using Replug.Shared.Uevents;

namespace Replug.Agent.Ports;

/// <summary>
/// The switch a port has decided in advance for the loss of its active device: "if
/// <see cref="Active"/> goes, <see cref="Standby"/> takes the traffic". The port's actor
/// (<see cref="FailSafeGroup"/>) prepares it whenever it is idle and withdraws it before it
/// changes anything; the uevent source's thread carries it out the moment the kernel reports
/// the loss, without waiting for the actors (each hop between threads is a wake-up, and the
/// wake-ups were the tail of the switch). The actor still owns the decision: it made it, it
/// learns the outcome (<see cref="PreparedSwitchFired"/>) before it decides anything else, and
/// a failure is handled by its ordinary rules.
/// <para>
/// One of two threads wins, by one compare-and-swap on the state: the source claims it
/// (Armed → Fired) or the actor withdraws it (Armed → Withdrawn). A fired switch is absorbed
/// by the actor exactly once (Done → Absorbed), whichever comes first: the message, or the
/// actor's next withdrawal, which waits for a switch still running.
/// </para>
/// </summary>
public sealed class PreparedSwitch
{
    private const int Armed = 0, Fired = 1, Done = 2, Withdrawn = 3, Absorbed = 4;
    private int _state = Armed;
    private DataPathResult _result;
    // Monitor.Wait needs an object's monitor (System.Threading.Lock has none).
    private readonly object _doneSignal = new();

    public PreparedSwitch(PortId port, DeviceId active, DeviceId standby, IDataPath dataPath, IActorRef group, TimeSpan timeout)
    {
        if (!dataPath.SwitchesInline)
            throw new ArgumentException($"the {dataPath.Kind} data path does not switch on the calling thread: port {port} cannot prepare a switch", nameof(dataPath));
        Port = port;
        Active = active;
        Standby = standby;
        DataPath = dataPath;
        Group = group;
        Timeout = timeout;
    }

    public PortId Port { get; }
    public DeviceId Active { get; }
    public DeviceId Standby { get; }
    public IDataPath DataPath { get; }
    public IActorRef Group { get; }
    public TimeSpan Timeout { get; }

    /// <summary>The uevent that fired it (its text, for the port's log); set before the switch runs.</summary>
    public string Cause { get; private set; } = "";

    /// <summary>Stopwatch ticks: when the causing uevent was received, and when the data path was done.</summary>
    public long TriggerTimestamp { get; private set; }
    public long CompletedTimestamp { get; private set; }

    /// <summary>The data path's answer; meaningful once <see cref="WaitDone"/> returned true.</summary>
    public DataPathResult Result => _result;

    public bool IsArmed => Volatile.Read(ref _state) == Armed;

    /// <summary>The source's side: claims the switch and carries it out on this thread. False: withdrawn, or fired already.</summary>
    internal bool TryFire(string cause, long triggerTimestamp)
    {
        if (Interlocked.CompareExchange(ref _state, Fired, Armed) != Armed) return false;
        Cause = cause;
        TriggerTimestamp = triggerTimestamp;
        DataPathResult result;
        try
        {
            using var deadline = new CancellationTokenSource(Timeout);
            var call = DataPath.SwitchAsync(Port, Active, Standby, deadline.Token);
            // SwitchesInline promises a completed task; a wait bounded by the timeout covers a path that breaks it.
            result = call.Wait(Timeout) ? call.Result : DataPathResult.Fail("timed out");
        }
        catch (Exception e)
        {
            result = DataPathResult.Fail((e is AggregateException { InnerException: { } inner } ? inner : e).Message);
        }
        _result = result;
        CompletedTimestamp = Stopwatch.GetTimestamp();
        lock (_doneSignal)
        {
            Volatile.Write(ref _state, Done);
            Monitor.PulseAll(_doneSignal);
        }
        Group.Tell(new PreparedSwitchFired(this));
        return true;
    }

    /// <summary>The actor's side: true when it was still armed and now never fires; false when it has fired (absorb it).</summary>
    internal bool TryWithdraw() => Interlocked.CompareExchange(ref _state, Withdrawn, Armed) == Armed;

    /// <summary>Waits for a fired switch to finish (it is a few syscalls); false only when it outlived its own timeout.</summary>
    internal bool WaitDone()
    {
        lock (_doneSignal)
        {
            var deadline = Stopwatch.GetTimestamp() + (long)(Timeout.TotalSeconds * Stopwatch.Frequency);
            while (Volatile.Read(ref _state) == Fired)
            {
                var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
                if (left <= TimeSpan.Zero) return false;
                Monitor.Wait(_doneSignal, left);
            }
            return true;
        }
    }

    /// <summary>True exactly once for a switch that fired and is done: the actor takes its outcome now.</summary>
    internal bool TryAbsorb() => Interlocked.CompareExchange(ref _state, Absorbed, Done) == Done;

    public override string ToString() => $"port {Port}: {Active} -> {Standby}";
}

/// <summary>Told to the port's actor by the source's thread once a prepared switch was carried out.</summary>
public sealed record PreparedSwitchFired(PreparedSwitch Switch);

/// <summary>
/// One agent's prepared switches, by the device whose loss fires them (a device belongs to one
/// port). Written by the ports' actors, read by the uevent source's thread.
/// </summary>
public sealed class PreparedSwitches
{
    private readonly ConcurrentDictionary<DeviceId, PreparedSwitch> _byActive = new();
    private long _fired;

    /// <summary>
    /// The source's side is compiled before it is needed: the first fault of a process (often the
    /// only one it meets) must not wait for the JIT. The rest of the path (the parser, the data
    /// path, rtnetlink) has run by then: every event and the port's first switch went through it.
    /// </summary>
    static PreparedSwitches()
    {
        RuntimeHelpers.PrepareMethod(typeof(PreparedSwitches).GetMethod(nameof(TryFire))!.MethodHandle);
        RuntimeHelpers.PrepareMethod(typeof(PreparedSwitch).GetMethod(nameof(PreparedSwitch.TryFire), BindingFlags.Instance | BindingFlags.NonPublic)!.MethodHandle);
    }

    /// <summary>Switches carried out on the source's thread since the start.</summary>
    public long Fired => Interlocked.Read(ref _fired);

    /// <summary>How many are armed now (for tests and status).</summary>
    public int Armed => _byActive.Count(e => e.Value.IsArmed);

    public void Add(PreparedSwitch prepared) => _byActive[prepared.Active] = prepared;

    /// <summary>Forgets <paramref name="prepared"/> (and only it: another port's entry for the same device stays).</summary>
    public void Remove(PreparedSwitch prepared) => _byActive.TryRemove(new KeyValuePair<DeviceId, PreparedSwitch>(prepared.Active, prepared));

    /// <summary>
    /// On the source's thread, for every accepted uevent: a kernel uevent that says an active
    /// device is gone or failing (what <see cref="DeviceLifecycle"/> remaps an active device for)
    /// fires its port's prepared switch. The actors get the uevent as usual afterwards.
    /// </summary>
    public bool TryFire(Uevent uevent)
    {
        if (_byActive.IsEmpty || uevent.Origin != UeventOrigin.Kernel) return false;
        if (DeviceSignals.From(uevent) is not (DeviceSignal.Removed or DeviceSignal.Failing)) return false;
        if (!_byActive.TryGetValue(uevent.Device, out var prepared)) return false;
        if (!prepared.TryFire($"uevent {uevent.Action.ToKernelString()} seq {uevent.SeqNum}", uevent.ReceivedTimestamp)) return false;
        Remove(prepared);
        Interlocked.Increment(ref _fired);
        return true;
    }
}
