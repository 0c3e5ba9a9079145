using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using Akka.Coordination;
using Akka.Event;
using Akka.Hosting;
using Akka.Hosting.Coordination;
using Replug.Shared.Hosting;

namespace Replug.Coordinator.Locking;

/// <summary>
/// This actor system's hold on the journal lock, for the coordinator to consult before it
/// promises anything (a lease to an agent). Unguarded (always held) until a lock is configured:
/// a test node with a journal of its own needs none.
/// </summary>
public sealed class JournalLocks : IExtension
{
    private long _heldUntil;

    public Func<string, IJournalLock>? Factory { get; private set; }
    public JournalLockSettings Settings { get; private set; } = JournalLockSettings.Default;

    public static JournalLocks Get(ActorSystem system) => system.WithExtension<JournalLocks, JournalLocksProvider>();

    /// <summary>From now on the coordinator acts only while it holds a lock made by <paramref name="factory"/> (for an owner name).</summary>
    public void Use(Func<string, IJournalLock> factory, JournalLockSettings settings)
    {
        Factory = factory;
        Settings = settings;
    }

    /// <summary>Whether this process may act as the coordinator now: it holds the lock, confirmed recently enough.</summary>
    public bool HeldNow => Factory is null || Stopwatch.GetTimestamp() < Volatile.Read(ref _heldUntil);

    internal void HeldUntil(long timestamp) => Volatile.Write(ref _heldUntil, timestamp);
}

public sealed class JournalLocksProvider : ExtensionIdProvider<JournalLocks>
{
    public override JournalLocks CreateExtension(ExtendedActorSystem system) => new();
}

/// <summary>
/// The coordinator singleton's lease (Akka's <c>use-lease</c>): the singleton manager starts the
/// coordinator only once this lease holds the journal lock, and stops it when the lock is lost.
/// While the lock is another node's, each attempt says who holds it; when that holder is not a
/// member of this node's cluster for <see cref="JournalLockSettings.SplitAfter"/>, this node is in
/// a second cluster (a restarted first seed that founded its own): it stops with
/// <see cref="ExitCodes.Downed"/>, so that the service manager restarts it and it joins the
/// cluster that acts, through the seeds.
/// </summary>
public sealed class JournalLease : Lease
{
    public const string ConfigPath = "replug.journal-lease";

    private readonly ExtendedActorSystem _system;
    private readonly JournalLocks _locks;
    private readonly ILoggingAdapter _log;
    private readonly string _owner;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IJournalLock? _held;
    private CancellationTokenSource? _checks;
    private Task _checking = Task.CompletedTask;
    private string? _lastHolder;
    private string? _lastProblem;
    private long _holderOutsideSince;
    private bool _leavingSecondCluster;

    public JournalLease(LeaseSettings settings, ExtendedActorSystem system) : base(settings)
    {
        _system = system;
        _locks = JournalLocks.Get(system);
        _log = Logging.GetLogger(system, typeof(JournalLease));
        _owner = OwnerName(Cluster.Get(system).SelfUniqueAddress);
        // A test's node or a process stopped without leaving must not keep the lock in this process.
        system.RegisterOnTermination(() => Release().Wait(TimeSpan.FromSeconds(5)));
    }

    /// <summary>"host:port#uid": short enough for PostgreSQL's application name, and says which incarnation holds it.</summary>
    public static string OwnerName(UniqueAddress node) => $"{HostPort(node.Address)}#{node.Uid}";

    /// <summary>The "host:port" of an <see cref="OwnerName"/>.</summary>
    public static string AddressOf(string owner) => owner.Split('#')[0];

    private static string HostPort(Address address) => $"{address.Host}:{address.Port}";

    public override Task<bool> Acquire() => Acquire(_ => { });

    public override async Task<bool> Acquire(Action<Exception> leaseLostCallback)
    {
        var factory = _locks.Factory ?? throw new InvalidOperationException("no journal lock is configured (JournalLocks.Use)");
        await _gate.WaitAsync();
        try
        {
            if (_held is not null) return true;
            var candidate = factory(_owner);
            var sent = Stopwatch.GetTimestamp();
            JournalLockAttempt attempt;
            try
            {
                using var timeout = new CancellationTokenSource(_locks.Settings.ServerTimeout);
                attempt = await candidate.TryAcquireAsync(timeout.Token);
            }
            catch (Exception e)
            {
                await candidate.DisposeAsync();
                Problem($"Cannot reach the journal's database to take the coordinator's journal lock: {e.GetBaseException().Message}");
                return false;
            }
            if (!attempt.Acquired)
            {
                await candidate.DisposeAsync();
                Waiting(attempt.Holder);
                return false;
            }
            _held = candidate;
            _lastHolder = null;
            _lastProblem = null;
            _holderOutsideSince = 0;
            _locks.HeldUntil(sent + (long)(_locks.Settings.HeldFor.TotalSeconds * Stopwatch.Frequency));
            _log.Info("Took the coordinator's journal lock as {Owner}: this node's coordinator starts", _owner);
            if (candidate is PostgresJournalLock { ServerEndsSilentSessions: false })
                _log.Warning("The journal's PostgreSQL server has no idle_session_timeout (before 14): if this node falls silent, " +
                             "its lock is freed only when the server's TCP keepalive gives up on it, and no other coordinator can act until then");
            _checks = new CancellationTokenSource();
            var checks = _checks.Token;
            _checking = Task.Run(() => KeepConfirming(candidate, leaseLostCallback, checks));
            return true;
        }
        finally
        {
            _gate.Release();
        }
    }

    public override async Task<bool> Release()
    {
        await _gate.WaitAsync();
        try
        {
            _locks.HeldUntil(0);
            _checks?.Cancel();
            await _checking;
            _checks?.Dispose();
            _checks = null;
            var held = Interlocked.Exchange(ref _held, null);
            if (held is null) return true;
            await held.ReleaseAsync();
            _log.Info("Released the coordinator's journal lock as {Owner}", _owner);
            return true;
        }
        finally
        {
            _gate.Release();
        }
    }

    public override bool CheckLease() => _held is not null && _locks.HeldNow;

    private async Task KeepConfirming(IJournalLock held, Action<Exception> lost, CancellationToken stop)
    {
        var settings = _locks.Settings;
        var lastConfirmed = Stopwatch.GetTimestamp();
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(settings.CheckInterval, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            var sent = Stopwatch.GetTimestamp();
            bool confirmed;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
                timeout.CancelAfter(settings.HeldFor);
                confirmed = await held.ConfirmAsync(timeout.Token);
            }
            catch (Exception)
            {
                confirmed = false;
            }
            if (stop.IsCancellationRequested) return;
            if (confirmed)
            {
                _locks.HeldUntil(sent + (long)(settings.HeldFor.TotalSeconds * Stopwatch.Frequency));
                lastConfirmed = sent;
                continue;
            }
            _locks.HeldUntil(0);
            // The next Acquire (the singleton manager retries) must take the lock anew.
            if (Interlocked.CompareExchange(ref _held, null, held) == held) await held.DisposeAsync();
            _log.Error("Lost the coordinator's journal lock as {Owner} (its database session ended or did not answer; last confirmed {Confirmed} s ago): " +
                       "this node's coordinator stops acting", _owner, Stopwatch.GetElapsedTime(lastConfirmed).TotalSeconds.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture));
            lost(new LeaseException("the coordinator's journal lock was lost"));
            return;
        }
    }

    private void Waiting(string? holder)
    {
        _lastProblem = null;
        if (holder != _lastHolder)
        {
            _log.Warning("The coordinator's journal lock is held by {Holder}: this node's coordinator waits until it is free", holder ?? "another process");
            _lastHolder = holder;
        }
        var cluster = Cluster.Get(_system);
        var outside = holder is not null
            && AddressOf(holder) != AddressOf(_owner)
            && !cluster.State.Members.Any(m => HostPort(m.Address) == AddressOf(holder));
        if (!outside)
        {
            _holderOutsideSince = 0;
            return;
        }
        var now = Stopwatch.GetTimestamp();
        if (_holderOutsideSince == 0) _holderOutsideSince = now;
        if (_leavingSecondCluster || Stopwatch.GetElapsedTime(_holderOutsideSince, now) < _locks.Settings.SplitAfter) return;
        _leavingSecondCluster = true;
        var why = $"the coordinator's journal lock has been held for {_locks.Settings.SplitAfter.TotalSeconds:0} s by {holder}, " +
                  "which is not a member of this node's cluster: this node is in a second cluster; it stops so that it rejoins through the seeds";
        _log.Error(why);
        CoordinatedShutdown.Get(_system).Run(new ExitCodeReason(ExitCodes.Downed, why));
    }

    private void Problem(string problem)
    {
        _lastHolder = null;
        if (problem == _lastProblem) return;
        _log.Warning(problem);
        _lastProblem = problem;
    }
}

/// <summary>The singleton's lease option for Akka.Hosting: the HOCON that names <see cref="JournalLease"/>.</summary>
public sealed class JournalLeaseOption : LeaseOptionBase
{
    public override string ConfigPath => JournalLease.ConfigPath;
    public override Type Class => typeof(JournalLease);

    public override void Apply(AkkaConfigurationBuilder builder, Akka.Actor.Setup.Setup? setup = null) =>
        builder.AddHocon(ConfigurationFactory.ParseString($"{ConfigPath} {{ lease-class = \"{Class.AssemblyQualifiedName}\" }}"), HoconAddMode.Prepend);
}
