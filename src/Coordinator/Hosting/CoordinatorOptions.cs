using Replug.Agent.Hosting;
using Replug.Coordinator.Locking;
using Replug.Coordinator.Singleton;

namespace Replug.Coordinator.Hosting;

/// <summary>The coordinator's configuration (section "Replug:Coordinator").</summary>
public sealed class CoordinatorOptions
{
    public const string Section = "Replug:Coordinator";

    /// <summary>A NIC removed on one host and added on another within this window is a migration, not a fault.</summary>
    public TimeSpan MigrationWindow { get; set; } = CoordinatorSettings.Default.MigrationWindow;
    public TimeSpan CommandRetryInterval { get; set; } = CoordinatorSettings.Default.CommandRetryInterval;
    public int CommandAttempts { get; set; } = CoordinatorSettings.Default.CommandAttempts;
    /// <summary>Hosts agents mark Reserved: used first (PreferReserved), only (ReservedOnly), or like any other (Ignore).</summary>
    public Planning.ReservedHostPolicy ReservedHosts { get; set; } = Planning.ReservedHostPolicy.PreferReserved;
    /// <summary>Recoveries of the coordinator's state tried in a row before the process exits (code 3); the waits between them double.</summary>
    public int RecoveryAttempts { get; set; } = RecoverySettings.Default.Attempts;
    /// <summary>The wait after the first failed recovery; each next wait is twice the last, up to 30 s.</summary>
    public TimeSpan RecoveryBackoff { get; set; } = RecoverySettings.Default.FirstBackoff;
    /// <summary>The operators' HTTP API; loopback by default.</summary>
    public string ApiUrls { get; set; } = "http://127.0.0.1:8080";
    /// <summary>Who may use the API: its bearer tokens and each caller's rate (see <see cref="Api.ApiAccessOptions"/>).</summary>
    public Api.ApiAccessOptions Api { get; set; } = new();
    public PersistenceOptions Persistence { get; set; } = new();
    /// <summary>How long the database keeps the journal lock of a coordinator that fell silent (PostgreSQL); a crashed one's goes at once.</summary>
    public TimeSpan LockTimeout { get; set; } = JournalLockSettings.Default.ServerTimeout;

    /// <summary>Load balancing and power saving at start (see <see cref="PolicyOptions"/>).</summary>
    public PolicyOptions Policies { get; set; } = new();

    public JournalLockSettings JournalLock => JournalLockSettings.Default with { ServerTimeout = LockTimeout };

    /// <summary>Whether Kestrel was given a default certificate (set by the host from "Kestrel:Certificates:Default:Path").</summary>
    public bool HttpsCertificate { get; set; }

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        void Check(bool ok, string key, string problem) { if (!ok) errors.Add($"{Section}:{key}: {problem}"); }
        Check(MigrationWindow > TimeSpan.Zero, nameof(MigrationWindow), "must be positive");
        Check(CommandRetryInterval > TimeSpan.Zero, nameof(CommandRetryInterval), "must be positive");
        Check(CommandAttempts >= 1, nameof(CommandAttempts), "must be at least 1");
        Check(RecoveryAttempts is >= 1 and <= 100, nameof(RecoveryAttempts), $"{RecoveryAttempts} must be between 1 and 100");
        Check(RecoveryBackoff > TimeSpan.Zero && RecoveryBackoff <= RecoverySettings.Default.MaxBackoff, nameof(RecoveryBackoff),
            $"{RecoveryBackoff} must be positive and at most {RecoverySettings.Default.MaxBackoff}");
        Check(Enum.IsDefined(ReservedHosts), nameof(ReservedHosts),
            $"'{ReservedHosts}' is not a policy ({string.Join(", ", Enum.GetNames<Planning.ReservedHostPolicy>())})");
        errors.AddRange(ListenUrls.Problems(ApiUrls, $"{Section}:{nameof(ApiUrls)}", HttpsCertificate, out var listeners));
        Check(LockTimeout >= JournalLockSettings.Default.CheckInterval * 3 && LockTimeout <= TimeSpan.FromMinutes(10), nameof(LockTimeout),
            $"{LockTimeout} must be between {JournalLockSettings.Default.CheckInterval * 3} (three lock checks) and 00:10:00");
        errors.AddRange(Api.Validate(listeners));
        errors.AddRange(Persistence.Validate());
        errors.AddRange(Policies.Validate($"{Section}:{nameof(Policies)}:"));
        return errors;
    }

    public CoordinatorSettings Settings(Shared.Hosting.ClusterNodeOptions cluster) => new(MigrationWindow, cluster.Lease, cluster.LeaseMargin,
        CommandRetryInterval, CommandAttempts, Persistence.SnapshotEvery, ReservedHosts: ReservedHosts, Detection: cluster.AcceptableHeartbeatPause,
        Policies: Policies.ToSettings(), PolicyHook: Policies.Hook);

    public RecoverySettings Recovery => new(RecoveryAttempts, RecoveryBackoff, RecoverySettings.Default.MaxBackoff);
}
