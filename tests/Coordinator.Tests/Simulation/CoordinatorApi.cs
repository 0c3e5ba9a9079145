using Replug.Coordinator.Singleton;

namespace Replug.Coordinator.Tests.Simulation;

/// <summary>The few places where the simulation touches the coordinator's state API, in one file.</summary>
internal static class CoordinatorApi
{
    public static CoordinatorState NewState(CoordinatorSettings settings) => new(settings);

    /// <summary>When the instance wants its next Tick (null: nothing timed is pending).</summary>
    public static DateTimeOffset? NextDeadline(CoordinatorState state, DateTimeOffset now) => state.NextDeadline;
}
