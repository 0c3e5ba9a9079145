using Akka.Cluster.Hosting;
using Akka.Hosting;
using Replug.Coordinator.Locking;
using Replug.Coordinator.Singleton;
using Replug.Shared.Hosting;
using Replug.Shared.Protocol;
using Replug.Shared.Serialization;

namespace Replug.Coordinator.Hosting;

/// <summary>Marker for the coordinator singleton's manager in Akka.Hosting's registry.</summary>
public sealed class CoordinatorKey;

public static class CoordinatorNode
{
    /// <summary>
    /// How long the singleton manager waits after the old singleton's node is removed before it
    /// starts the next instance (<c>akka.cluster.down-removal-margin</c>: Akka.NET 1.5's singleton
    /// manager reads its margin from the downing provider and ignores
    /// <c>akka.cluster.singleton.removal-margin</c>; no sharding runs here). Akka's default is
    /// the split brain resolver's stable-after, a second wait of it, so that a downed node has stopped
    /// its singleton before another starts: exclusion by membership. Here exclusion does not rest on
    /// membership: the next instance starts only once its node holds the journal lock, which the old
    /// holder keeps until its process ends or its database session does, and the journal's sequence
    /// numbers refuse any write of an instance whose successor has written (README, "One coordinator
    /// acts"). So no margin: the next instance asks for the lock at once. (Akka reads 0 as "use the
    /// default", hence a millisecond.)
    /// </summary>
    public static readonly TimeSpan SingletonRemovalMargin = TimeSpan.FromMilliseconds(1);

    /// <summary>
    /// A coordinator node: the persistent coordinator as a cluster singleton on the
    /// "coordinator" role (any number of such nodes, one instance), under its
    /// <see cref="CoordinatorSupervisor"/> (recovery with backoff; after
    /// <see cref="CoordinatorOptions.RecoveryAttempts"/> failures, <paramref name="giveUp"/>: by default
    /// the process exits with code 3), started only while the node holds the journal lock
    /// (<see cref="JournalLease"/>). The node's proxy to it comes from <see cref="ClusterHosting.WithCoordinatorProxy"/>.
    /// </summary>
    public static AkkaConfigurationBuilder WithCoordinatorNode(this AkkaConfigurationBuilder builder, CoordinatorOptions options,
        ClusterNodeOptions cluster, Action<Akka.Actor.ActorSystem, CoordinatorGaveUp>? giveUp = null)
    {
        builder.WithReplugPersistence(options.Persistence, abortSilentTransactionsAfter: options.JournalLock.ServerTimeout);
        // The singleton starts only while its node holds the journal lock: two clusters (a first
        // seed that founded its own) must not both write the journal and grant leases.
        var lease = new JournalLeaseOption();
        lease.Apply(builder);
        var lockSettings = options.JournalLock;
        builder.WithActors((system, _) => JournalLocks.Get(system).Use(owner => options.Persistence.JournalLock(owner, lockSettings), lockSettings));
        builder.AddHocon($"akka.cluster.down-removal-margin = {(int)SingletonRemovalMargin.TotalMilliseconds}ms", HoconAddMode.Prepend);
        builder.WithActors((system, _) => Observability.CoordinatorMetrics.For(system).ObserveCluster(Akka.Cluster.Cluster.Get(system)));
        builder.WithSingleton<CoordinatorKey>(ActorNames.Coordinator,
            CoordinatorSupervisor.Props(options.Settings(cluster), options.Recovery, giveUp),
            new ClusterSingletonOptions
            {
                Role = ClusterNodeOptions.CoordinatorRole,
                LeaseImplementation = lease,
                LeaseRetryInterval = options.JournalLock.CheckInterval,
            }, createProxyToo: false);
        return builder;
    }

    /// <summary>The serializers a node needs: the shared protocols, plus the coordinator's events where it may host the singleton.</summary>
    public static AkkaConfigurationBuilder WithNodeSerializers(this AkkaConfigurationBuilder builder, bool coordinator) =>
        coordinator ? builder.WithReplugSerializers(CoordinatorEventSerializer.Binding) : builder.WithReplugSerializers();
}
