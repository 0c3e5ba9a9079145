using Replug.Coordinator.Policies;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;

namespace Replug.Coordinator.Singleton;

/// <summary>
/// An operator's request that the coordinator decides on (its answer may change state): planned
/// hot plug, policy settings, a dry run. Like the queries they cross the network from the API's
/// node to the singleton's, so they are bound to <see cref="CoordinatorEventSerializer"/>.
/// </summary>
public interface ICoordinatorRequest : ICoordinatorQuery;

public static class CoordinatorRequests
{
    /// <summary>Take <paramref name="Device"/> out of service on <paramref name="Host"/>: its ports remap first.</summary>
    public sealed record DetachDevice(HostId Host, DeviceId Device, string? Reason) : ICoordinatorRequest;
    /// <summary>Bring <paramref name="Device"/> back on <paramref name="Host"/>.</summary>
    public sealed record AttachDevice(HostId Host, DeviceId Device, string? Reason) : ICoordinatorRequest;
    /// <summary>New settings for both policies (already validated by the API; validated again here).</summary>
    public sealed record ConfigurePolicies(PolicySettings Settings, string By) : ICoordinatorRequest;
    /// <summary>What <paramref name="Policy"/> would do now, with its current settings (in advise mode if it is off); changes nothing.</summary>
    public sealed record DryRunPolicy(string Policy) : ICoordinatorRequest;

    /// <summary>Remove a Down host from the registry (an agent decommissioned, a host renamed).</summary>
    public sealed record ForgetHost(HostId Host, string By) : ICoordinatorRequest;
    public sealed record HostForgottenView(HostId Host, bool Forgotten) : ICoordinatorQuery;

    public sealed record GetPolicies : ICoordinatorQuery;
    public sealed record GetDecisions(int Max) : ICoordinatorQuery;
    public sealed record GetOperations : ICoordinatorQuery;

    /// <summary>A request refused, with the HTTP status that says why (400 bad, 404 unknown, 409 not now) and the reason.</summary>
    public sealed record Refused(int Status, string Reason) : ICoordinatorQuery;
    public sealed record OperationAccepted(DeviceOperation Operation) : ICoordinatorQuery;
    /// <param name="ChangedAtRunTime">True when the settings come from an operator's change (journaled), false when from the configuration.</param>
    public sealed record PoliciesView(PolicySettings Settings, bool ChangedAtRunTime, long DecisionsMade, IReadOnlyList<HostId> Standby,
        IReadOnlyList<UnpluggedDevice> Unplugged) : ICoordinatorQuery;
    public sealed record DecisionView(long Number, string Policy, PolicyMode Mode, string Summary, PolicyAction Action, string Reason,
        IReadOnlyDictionary<string, double> Inputs, string Outcome, CommandId? Operation, FailoverId? Failover, DateTimeOffset At);
    public sealed record DecisionsView(IReadOnlyList<DecisionView> Decisions) : ICoordinatorQuery;
    public sealed record DryRunView(string Policy, PolicyMode Mode, IReadOnlyList<DecisionView> WouldDo) : ICoordinatorQuery;
    public sealed record OperationsView(IReadOnlyList<DeviceOperation> Operations) : ICoordinatorQuery;
}
