using Replug.Coordinator.Policies;

namespace Replug.Coordinator.Hosting;

/// <summary>
/// The policies at start (section "Replug:Coordinator:Policies"); a change through the API
/// (<c>PUT /policies</c>) is journaled and wins over these until the next one.
/// </summary>
public sealed class PolicyOptions
{
    /// <summary>How often the policies judge the cluster.</summary>
    public TimeSpan? Interval { get; set; }
    /// <summary>A command run for each recommendation (a host to standby or wake, a workload to move), with the verdict in its environment.</summary>
    public string? Hook { get; set; }
    public LoadBalancingOptions LoadBalancing { get; set; } = new();
    public PowerSavingOptions PowerSaving { get; set; } = new();

    public sealed class ReserveOptions
    {
        private static readonly Reserve Defaults = new();
        /// <summary>Healthy, plugged NICs each port keeps besides the one it uses.</summary>
        public int SpareNicsPerPort { get; set; } = Defaults.SpareNicsPerPort;
        /// <summary>Hosts kept awake with room for fail-overs.</summary>
        public int SpareHosts { get; set; } = Defaults.SpareHosts;
        public Reserve ToReserve() => new(SpareNicsPerPort, SpareHosts);
    }

    public sealed class LoadBalancingOptions
    {
        private static readonly LoadBalancingSettings Defaults = new();
        public PolicyMode Mode { get; set; } = Defaults.Mode;
        public int Level { get; set; } = Defaults.Level;
        public TimeSpan? Cooldown { get; set; }
        public ReserveOptions Reserve { get; set; } = new();
        public LoadBalancingSettings ToSettings() => new(Mode, Level, Cooldown, Reserve.ToReserve());
    }

    public sealed class PowerSavingOptions
    {
        private static readonly PowerSavingSettings Defaults = new();
        public PolicyMode Mode { get; set; } = Defaults.Mode;
        public int Level { get; set; } = Defaults.Level;
        public double LowUtilization { get; set; } = Defaults.LowUtilization;
        public double HighUtilization { get; set; } = Defaults.HighUtilization;
        public TimeSpan? LowFor { get; set; }
        public TimeSpan? HighFor { get; set; }
        public ReserveOptions Reserve { get; set; } = new();
        public PowerSavingSettings ToSettings() => new(Mode, Level, LowUtilization, HighUtilization, LowFor, HighFor, Reserve.ToReserve());
    }

    public PolicySettings ToSettings() => new(LoadBalancing.ToSettings(), PowerSaving.ToSettings(), Interval);

    public IReadOnlyList<string> Validate(string prefix)
    {
        var problems = ToSettings().Validate(prefix).ToList();
        if (Hook is { } hook && (hook.Trim().Length == 0 || !Path.IsPathRooted(hook)))
            problems.Add($"{prefix}{nameof(Hook)}: '{hook}' must be an absolute path to a command");
        return problems;
    }
}
