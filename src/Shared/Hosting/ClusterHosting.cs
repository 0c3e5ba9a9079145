using Akka.Cluster.Hosting;
using Akka.Cluster.Hosting.SBR;
using Akka.Hosting;
using Akka.Remote.Hosting;
using Replug.Shared.Remoting;

namespace Replug.Shared.Hosting;

/// <summary>Cluster membership settings (section "Replug:Cluster"), shared by agents and coordinators.</summary>
public sealed class ClusterNodeOptions
{
    /// <summary>An IP address, or a DNS name: dot-separated labels of letters, digits and inner hyphens (RFC 1123), 253 characters at most.</summary>
    public static bool IsHostAddress(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return false;
        if (System.Net.IPAddress.TryParse(text, out _)) return true;
        if (text.Length > 253) return false;
        return text.TrimEnd('.').Split('.').All(label => label.Length is >= 1 and <= 63 && label[0] != '-' && label[^1] != '-'
            && label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'));
    }

    public const string Section = "Replug:Cluster";
    public const string SystemName = "replug";
    public const string AgentRole = "agent";
    public const string CoordinatorRole = "coordinator";

    /// <summary>Where this node listens; loopback by default.</summary>
    public string Hostname { get; set; } = "127.0.0.1";
    /// <summary>0 picks a free port (tests); a real node needs a fixed one for the others' seed lists.</summary>
    public int Port { get; set; } = 4053;
    /// <summary>The address the other nodes use, when it differs from Hostname (NAT, containers).</summary>
    public string? PublicHostname { get; set; }
    /// <summary>"akka.tcp://replug@host:port" (with TLS "akka.ssl.tcp://…") of the first nodes; empty: this node founds the cluster.</summary>
    public List<string> SeedNodes { get; set; } = [];

    /// <summary>How long an agent without a majority keeps its ports before it fences itself.</summary>
    public TimeSpan Lease { get; set; } = TimeSpan.FromSeconds(1.5);
    /// <summary>What the coordinator adds to the lease before moving an unreachable host's ports (detection skew, scheduling).</summary>
    public TimeSpan LeaseMargin { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Failure detector: a node missing heartbeats for this long is unreachable (Akka's default is 3 s).</summary>
    public TimeSpan AcceptableHeartbeatPause { get; set; } = TimeSpan.FromSeconds(1.5);
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromMilliseconds(500);
    /// <summary>
    /// The split brain resolver acts once membership has been stable this long (Akka's default is 20 s).
    /// No port waits for it (the kernel lease and the coordinator's lease-based move decide), and the
    /// coordinator singleton's hand-over waits for it once: a lost coordinator node is downed after it,
    /// removed, and only then does the singleton manager start the next instance (with no second wait:
    /// the journal lock excludes). 4 s brings a hand-over under 10 s. It must stay above
    /// <see cref="Lease"/> (checked): an agent cut off must have fenced itself before the resolver can
    /// down it; 4 s also covers the lease plus the one detection pause by which an agent can see the
    /// cut later than the cluster. Shorter downs a host in a transient cut sooner (its process restarts
    /// and registers again; its ports move after the lease whatever this is), and below the membership's
    /// gossip time the resolver would act on views not yet spread: Akka recommends 7 s for 5 nodes with
    /// its 3 s detection pause, 10 s for 10, 20 s for 100; raise it with the cluster's size.
    /// </summary>
    public TimeSpan StableAfter { get; set; } = TimeSpan.FromSeconds(4);
    /// <summary>How often the cluster turns missed heartbeats into "unreachable" (Akka's default is 1 s).</summary>
    public TimeSpan UnreachableReaperInterval { get; set; } = TimeSpan.FromMilliseconds(250);
    /// <summary>
    /// A node with seed nodes that has not joined within this stops with exit code 4, to be started
    /// again by its service manager: a fresh process with fresh connections. (Akka's classic remoting
    /// can keep a new incarnation that restarted at its old address within the old one's gate from
    /// ever hearing the seeds' answers; seen in the harness: an agent acknowledged every 5 s, never joined.)
    /// </summary>
    public TimeSpan JoinTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Mutual TLS between nodes (see <see cref="ClusterTlsOptions"/>); off unless its files are given.</summary>
    public ClusterTlsOptions Tls { get; set; } = new();

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        void Check(bool ok, string key, string problem) { if (!ok) errors.Add($"{Section}:{key}: {problem}"); }
        Check(IsHostAddress(Hostname), nameof(Hostname), $"'{Hostname}' is not an IP address or a host name");
        Check(PublicHostname is null || IsHostAddress(PublicHostname), nameof(PublicHostname), $"'{PublicHostname}' is not an IP address or a host name");
        Check(Port is >= 0 and <= 65535, nameof(Port), $"{Port} is not a TCP port");
        var protocol = Tls.Enabled ? "akka.ssl.tcp" : "akka.tcp";
        for (var i = 0; i < SeedNodes.Count; i++)
        {
            var parsed = Akka.Actor.Address.TryParse(SeedNodes[i], out var a) && a.System == SystemName;
            Check(parsed, $"SeedNodes:{i}", $"'{SeedNodes[i]}' is not an address like {protocol}://{SystemName}@host:port");
            // With TLS a node listens as akka.ssl.tcp, and a seed named otherwise is never reached.
            Check(!parsed || a!.Protocol == protocol, $"SeedNodes:{i}",
                $"'{SeedNodes[i]}' must start with {protocol}:// ({(Tls.Enabled ? "Tls is configured" : "Tls is not configured")})");
        }
        Check(Lease > TimeSpan.Zero, nameof(Lease), "must be positive");
        Check(LeaseMargin >= TimeSpan.Zero, nameof(LeaseMargin), "must not be negative");
        Check(HeartbeatInterval > TimeSpan.Zero && AcceptableHeartbeatPause > HeartbeatInterval, nameof(AcceptableHeartbeatPause),
            "must be positive and above HeartbeatInterval");
        // Fencing is safe only if the agent's lease runs out before the split brain resolver
        // downs it; otherwise the coordinator could act on a Down while ports are still up.
        Check(StableAfter > Lease, nameof(StableAfter), "must be longer than the Lease");
        Check(UnreachableReaperInterval > TimeSpan.Zero, nameof(UnreachableReaperInterval), "must be positive");
        Check(JoinTimeout >= TimeSpan.FromSeconds(5), nameof(JoinTimeout), $"{JoinTimeout} must be at least 00:00:05 (a seed's timeout and a retry)");
        // The margin must cover how much later the agent may see the cut than the coordinator does.
        Check(LeaseMargin >= HeartbeatInterval + UnreachableReaperInterval, nameof(LeaseMargin),
            "must be at least HeartbeatInterval + UnreachableReaperInterval (the detection skew between two nodes)");
        errors.AddRange(Tls.Validate());
        return errors;
    }
}

/// <summary>Marker for the coordinator singleton's proxy in Akka.Hosting's registry: one per node.</summary>
public sealed class CoordinatorProxyKey;

public static class ClusterHosting
{
    /// <summary>How long the coordinator proxy may go without its singleton before <see cref="SingletonSearchWatch"/> warns.</summary>
    public static readonly TimeSpan CoordinatorSearchWarning = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How often a proxy without a singleton asks the oldest coordinator node for it (Akka's default
    /// is 1 s). Only while it searches: after a hand-over, the proxy finds the new instance within
    /// this of its start instead of up to a second later.
    /// </summary>
    public static readonly TimeSpan CoordinatorIdentificationInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// How often the cluster's leader moves members on (Akka's default is 1 s): a node the split
    /// brain resolver downed is removed at the next of these, and the coordinator singleton can move
    /// only once its old node is removed. A quarter second takes most of that wait off a hand-over.
    /// </summary>
    public static readonly TimeSpan LeaderActionsInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// The node's one proxy to the coordinator singleton (agents report through it; the HTTP API
    /// asks through it), with <see cref="SingletonSearchWatch"/> in place of Akka's own failure
    /// warning, which is false at every start.
    /// </summary>
    public static AkkaConfigurationBuilder WithCoordinatorProxy(this AkkaConfigurationBuilder builder) => builder
        .WithActors((system, _) => SingletonSearchWatching.Start(system, Protocol.ActorNames.Coordinator, ClusterNodeOptions.CoordinatorRole, CoordinatorSearchWarning))
        .WithSingletonProxy<CoordinatorProxyKey>(Protocol.ActorNames.Coordinator,
            new ClusterSingletonOptions
            {
                Role = ClusterNodeOptions.CoordinatorRole,
                LogSingletonIdentificationFailure = false,
                SingletonIdentificationInterval = CoordinatorIdentificationInterval,
            });

    /// <summary>The health check of this node's TLS certificate (with TLS on): Degraded near expiry, Unhealthy once expired.</summary>
    public const string TlsCertificateCheck = "tls-certificate";

    /// <summary>Remoting over TCP (with TLS: <see cref="TlsTcpTransport"/>) and Akka.Cluster with keep-majority stated explicitly; roles as given.</summary>
    public static AkkaConfigurationBuilder WithReplugCluster(this AkkaConfigurationBuilder builder, ClusterNodeOptions options,
        params string[] roles)
    {
        if (options.Tls.Enabled)
        {
            // Our transport, not DotNetty's TLS: see TlsTcpTransport for why.
            var tls = options.Tls.ToSetup();
            builder.AddSetup(tls);
            builder.WithHealthCheck(TlsCertificateCheck, (_, _, _) => Task.FromResult(tls.Health(DateTimeOffset.UtcNow)));
            builder.AddHocon(TlsTcpTransport.Hocon(options.Hostname, options.Port, options.PublicHostname), HoconAddMode.Prepend);
        }
        else
        {
            var remote = new RemoteOptions { HostName = options.Hostname, Port = options.Port };
            if (options.PublicHostname is { } publicHost) remote.PublicHostName = publicHost;
            builder.WithRemoting(remote);
        }
        builder.WithClustering(new ClusterOptions
        {
            Roles = roles,
            SeedNodes = [.. options.SeedNodes],
            SplitBrainResolver = new KeepMajorityOption(),
        });
        builder.AddHocon($$"""
            akka.cluster {
              failure-detector {
                heartbeat-interval = {{(int)options.HeartbeatInterval.TotalMilliseconds}}ms
                acceptable-heartbeat-pause = {{(int)options.AcceptableHeartbeatPause.TotalMilliseconds}}ms
              }
              split-brain-resolver {
                active-strategy = keep-majority
                stable-after = {{(int)options.StableAfter.TotalMilliseconds}}ms
                # Off: "on" downs EVERY node after a stretch of flapping reachability (an agent resumed
                # after SIGSTOP, a restarted node joining while its old incarnation is unreachable),
                # and a downed agent stops all its ports: a cluster-wide outage for a local fault.
                # Port safety never waits for a downing (the kernel lease and the coordinator's
                # lease-based move), so waiting for stability is the safe side.
                down-all-when-unstable = off
              }
              unreachable-nodes-reaper-interval = {{(int)options.UnreachableReaperInterval.TotalMilliseconds}}ms
              leader-actions-interval = {{(int)LeaderActionsInterval.TotalMilliseconds}}ms
              run-coordinated-shutdown-when-down = on
              shutdown-after-unsuccessful-join-seed-nodes = {{(options.SeedNodes.Count > 0 ? $"{(int)options.JoinTimeout.TotalMilliseconds}ms" : "off")}}
            }
            """, HoconAddMode.Prepend);
        return builder;
    }
}
