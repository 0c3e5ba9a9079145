using Replug.Coordinator.Singleton;

namespace Replug.Coordinator.Deciding;

/// <summary>
/// Every decision of the coordinator, as a function of its state, one input and the time.
/// </summary>
public sealed class CoordinatorDecider(CoordinatorSettings settings, Func<Guid> newId)
{
    public CoordinatorSettings Settings { get; } = settings;
    private readonly Func<Guid> _newId = newId;

    /// <summary>
    /// Decides what <paramref name="input"/> means at <paramref name="now"/>. Each event is applied
    /// to <paramref name="state"/> (through <see cref="CoordinatorState.Apply"/>, the only change of
    /// state) as it is decided, so later steps of one decision see the earlier ones; the caller
    /// persists the events, then sends the messages.
    /// </summary>
    public Decision Decide(CoordinatorState state, ICoordinatorInput input, DateTimeOffset now) => throw new NotImplementedException();
}
