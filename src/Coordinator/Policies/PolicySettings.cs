namespace Replug.Coordinator.Policies;

/// <summary>
/// Both policies' settings and how often they run: what <c>Replug:Coordinator:Policies</c> gives
/// at start, and what an operator's <c>PUT /policies</c> changes at run time (persisted in the
/// journal: a change made through the API outlives restarts and hand-overs, and wins over the
/// configuration file until the next change).
/// </summary>
public sealed record PolicySettings(LoadBalancingSettings LoadBalancing, PowerSavingSettings PowerSaving, TimeSpan? Interval = null)
{
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan MinInterval = TimeSpan.FromSeconds(1);

    /// <summary>Both in advise mode: verdicts are recorded and shown, nothing is carried out until an operator says so.</summary>
    public static readonly PolicySettings Default = new(new LoadBalancingSettings(), new PowerSavingSettings());

    public TimeSpan EffectiveInterval => Interval ?? DefaultInterval;

    public bool AnyOn => LoadBalancing.Mode != PolicyMode.Off || PowerSaving.Mode != PolicyMode.Off;

    /// <summary>Every problem, each naming its field after <paramref name="prefix"/> ("Replug:Coordinator:Policies:" or "" for the API).</summary>
    public IReadOnlyList<string> Validate(string prefix = "")
    {
        var problems = new PolicyLevel.Problems(prefix);
        problems.Check(Interval is null || (Interval >= MinInterval && Interval <= TimeSpan.FromHours(1)), nameof(Interval),
            $"{Interval} must be between {MinInterval} and 01:00:00");
        problems.All.AddRange(LoadBalancing.Validate(prefix + nameof(LoadBalancing) + ":"));
        problems.All.AddRange(PowerSaving.Validate(prefix + nameof(PowerSaving) + ":"));
        return problems.All;
    }

    /// <summary>The settings of the policy named <paramref name="name"/> (its <c>Name</c>: "load-balancing", "power-saving").</summary>
    public static bool IsPolicy(string name) => name is LoadBalancer.Name or PowerSaver.Name;
}
