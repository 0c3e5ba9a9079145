using Replug.Coordinator.Singleton;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;

namespace Replug.Coordinator.Deciding;

/// <summary>What the coordinator must do after its events are persisted: a message to a host's agent, or an answer to the input's sender.</summary>
public abstract record Outbound
{
    /// <summary>To the agent of <paramref name="Host"/>, at the address its registration recorded.</summary>
    public sealed record ToHost(HostId Host, IHostMessage Message) : Outbound;

    /// <summary>To whoever sent the input (an operator's request).</summary>
    public sealed record Reply(object Message) : Outbound;

    /// <summary>A policy's recommendation for the orchestrator (its hook: a configured command), once it is journaled.</summary>
    public sealed record Recommend(Policies.PolicyDecision Decision, Policies.PolicyMode Mode) : Outbound;
}

public enum DecisionLogLevel { Info, Warning, Error }

/// <summary>One line for the operator's log, with the device, port and host it concerns in its text.</summary>
public sealed record DecisionLog(DecisionLogLevel Level, string Text);

/// <summary>
/// The decider's answer to one input: the events to persist (already applied to the state, in
/// order), then the messages to send once they are persisted, and the lines to log.
/// </summary>
public sealed record Decision(IReadOnlyList<ICoordinatorEvent> Events, IReadOnlyList<Outbound> Messages, IReadOnlyList<DecisionLog> Log)
{
    public static readonly Decision None = new([], [], []);
}
