using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.Singleton;
using Akka.Event;
using static Akka.Cluster.Tools.Singleton.ClusterSingletonProxy;

namespace Replug.Shared.Hosting;

/// <summary>
/// Warns when a singleton proxy has been without its singleton for <paramref name="period"/>:
/// what Akka's <c>log-singleton-identification-failure</c> means to do. Akka.Cluster.Tools 1.5.73's
/// proxy starts that warning's periodic timer with no initial delay, so "failed to find an
/// associated singleton … after 30 seconds" comes within milliseconds of every start and every
/// hand-over; Replug turns it off (<see cref="ClusterHosting.WithCoordinatorProxy"/>) and watches
/// here. The proxy looks for the singleton on the oldest Up member with the role, from its start
/// and again each time that member changes; it publishes
/// <see cref="IdentifySingletonResult"/>.Success when it finds it. This follows the same members.
/// </summary>
public sealed class SingletonSearchWatch : ReceiveActor, IWithTimers
{
    private sealed class Check
    {
        public static readonly Check Instance = new();
    }

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _singleton;
    private readonly string _role;
    private readonly TimeSpan _period;
    private ImmutableSortedSet<Member> _membersByAge = ImmutableSortedSet<Member>.Empty.WithComparer(Member.AgeOrdering);
    private DateTime? _searchingSince;
    private DateTime? _warned;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="singleton">The singleton's name, as the proxy publishes it.</param>
    /// <param name="role">The role of the members that may host it.</param>
    /// <param name="period">How long a search may take before it is worth a warning.</param>
    public SingletonSearchWatch(string singleton, string role, TimeSpan period)
    {
        _singleton = singleton;
        _role = role;
        _period = period;
        _searchingSince = DateTime.UtcNow;
        // The members as they were when this watch began: its first search is already running.
        Receive<ClusterEvent.CurrentClusterState>(state =>
            _membersByAge = [.. state.Members.Where(m => m.Status == MemberStatus.Up && m.HasRole(_role))]);
        Receive<ClusterEvent.MemberUp>(up => Track(() => _membersByAge = _membersByAge.Remove(up.Member).Add(up.Member)));
        Receive<ClusterEvent.MemberExited>(exited => Track(() => _membersByAge = _membersByAge.Remove(exited.Member)));
        Receive<ClusterEvent.MemberRemoved>(removed => Track(() => _membersByAge = _membersByAge.Remove(removed.Member)));
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<IdentifySingletonResult>(result =>
        {
            if (result.Result != IdentifyResult.Success || result.SingletonName != _singleton) return;
            if (_warned is not null) _log.Info("Found the {Singleton} singleton in role [{Role}] after {Seconds} seconds", _singleton, _role, Math.Round(Elapsed()));
            _searchingSince = null;
            _warned = null;
        });
        Receive<Check>(_ =>
        {
            if (_searchingSince is null || Elapsed() < _period.TotalSeconds) return;
            if (_warned is { } last && DateTime.UtcNow - last < _period) return;
            _warned = DateTime.UtcNow;
            _log.Warning("No {Singleton} singleton found in role [{Role}] for {Seconds} seconds; messages to it wait in its proxy's buffer",
                _singleton, _role, Math.Round(Elapsed()));
        });
    }

    private double Elapsed() => (DateTime.UtcNow - _searchingSince.GetValueOrDefault(DateTime.UtcNow)).TotalSeconds;

    protected override void PreStart()
    {
        Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot, typeof(ClusterEvent.IMemberEvent));
        // A tenth of the period: a warning comes at most that late.
        Timers.StartPeriodicTimer(Check.Instance, Check.Instance, TimeSpan.FromTicks(_period.Ticks / 10));
    }

    protected override void PostStop()
    {
        Context.System.EventStream.Unsubscribe(Self);
        Cluster.Get(Context.System).Unsubscribe(Self);
    }

    /// <summary>As the proxy: a new oldest member means a new search.</summary>
    private void Track(Action change)
    {
        var before = _membersByAge.FirstOrDefault();
        change();
        if (!Equals(before, _membersByAge.FirstOrDefault())) _searchingSince ??= DateTime.UtcNow;
    }
}

/// <summary>Starts <see cref="SingletonSearchWatch"/>.</summary>
public static class SingletonSearchWatching
{
    /// <summary>
    /// Starts the watch; call it before the proxy starts. It hears the proxy's results from then
    /// on: the subscription is made here, not when the actor runs, or a quick first find could
    /// come before it and a false warning after the period.
    /// </summary>
    public static IActorRef Start(ActorSystem system, string singleton, string role, TimeSpan period)
    {
        var watch = system.ActorOf(Akka.Actor.Props.Create(() => new SingletonSearchWatch(singleton, role, period)), $"{singleton}-search-watch");
        system.EventStream.Subscribe(watch, typeof(IdentifySingletonResult));
        return watch;
    }
}
