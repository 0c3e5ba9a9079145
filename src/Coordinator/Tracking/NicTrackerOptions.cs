namespace Replug.Coordinator.Tracking;

/// <summary>The time limits of a <see cref="NicTracker"/>.</summary>
public sealed record NicTrackerOptions
{
    public NicTrackerOptions(TimeSpan migrationWindow) => MigrationWindow = migrationWindow;

    /// <summary>
    /// How long a removal waits for an add of the same identity elsewhere before it is a fault, and how
    /// long an early add waits for the removal on the other host before the identity counts as duplicated.
    /// </summary>
    public TimeSpan MigrationWindow { get; }

    /// <summary>
    /// How long an announced migration protects its NIC from a fault. A live migration of a large VM takes
    /// far longer than a hot-plug, so the default is ten windows.
    /// </summary>
    public TimeSpan AnnouncedTimeout
    {
        get => _announcedTimeout ?? MigrationWindow * 10;
        init => _announcedTimeout = value;
    }
    private readonly TimeSpan? _announcedTimeout;

    /// <summary>
    /// How long a fault is remembered, so that the NIC coming back is reported as a recovery rather than a
    /// new NIC (long enough for an operator to re-seat a card). Zero forgets at once.
    /// </summary>
    public TimeSpan FaultMemory { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Throws, naming the bad setting, unless the limits make sense together.</summary>
    public void Validate()
    {
        if (MigrationWindow <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(MigrationWindow), MigrationWindow, "The migration window must be positive.");
        if (AnnouncedTimeout < MigrationWindow)
            throw new ArgumentOutOfRangeException(nameof(AnnouncedTimeout), AnnouncedTimeout, "The announced timeout must be at least the migration window.");
        if (FaultMemory < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(FaultMemory), FaultMemory, "The fault memory must not be negative.");
    }
}
