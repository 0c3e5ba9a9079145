using System.Text.Json;
using Akka.Actor;
using Replug.Shared.Serialization;
using static Replug.Coordinator.Singleton.CoordinatorEvents;

namespace Replug.Coordinator.Singleton;

/// <summary>
/// The coordinator's persisted events and its snapshot (id 7103). Every event carries its
/// version in its manifest; when an event's shape changes, its version goes up and an upcaster
/// from the previous one is registered here, with a stored payload of the old version as a
/// test fixture (tests/Coordinator.Tests/Singleton/Fixtures). The NIC events are written in a compact
/// binary form (<see cref="Compact"/>), every other type as JSON.
/// </summary>
public sealed partial class CoordinatorEventSerializer(ExtendedActorSystem system) : VersionedJsonSerializer(system, Manifests, Json, Compact)
{
    public static readonly ManifestRegistry Manifests = ManifestRegistry.Create()
        .Add<EpochStarted>("coordinator.epoch-started")
        // v2: PortReport.Fenced in the inventory (false when absent).
        .Add<HostRegistered>("coordinator.host-registered", version: 2)
        .Upcast<HostRegistered>(fromVersion: 1, v1 => v1)
        .Add<HostStatusChanged>("coordinator.host-status-changed")
        .Add<HostDrainChanged>("coordinator.host-drain-changed")
        .Add<HostForgotten>("coordinator.host-forgotten")
        // v2: the compact binary form (CoordinatorEventSerializer.Compact.cs) of the same fields; v1 was JSON.
        // Three of these per live migration: JSON's cost showed in every journal write.
        .Add<NicAdded>("coordinator.nic-added", version: 2)
        .Upcast<NicAdded>(fromVersion: 1, v1 => v1)
        .Add<NicRemoved>("coordinator.nic-removed", version: 2)
        .Upcast<NicRemoved>(fromVersion: 1, v1 => v1)
        .Add<NicMigrated>("coordinator.nic-migrated", version: 2)
        .Upcast<NicMigrated>(fromVersion: 1, v1 => v1)
        .Add<NicFaulted>("coordinator.nic-faulted")
        .Add<MigrationAnnounced>("coordinator.migration-announced")
        .Add<NicWindowsClosed>("coordinator.nic-windows-closed")
        // v2: PortReport.Fenced (false when absent).
        .Add<PortReported>("coordinator.port-reported", version: 2)
        .Upcast<PortReported>(fromVersion: 1, v1 => v1)
        // v2: Devices, the devices the new host runs the port over (absent: its fail-over devices).
        .Add<PortMoved>("coordinator.port-moved", version: 2)
        .Upcast<PortMoved>(fromVersion: 1, v1 => v1)
        .Add<EscalationDeferred>("coordinator.escalation-deferred")
        .Add<CommandIssued>("coordinator.command-issued")
        .Add<CommandRetried>("coordinator.command-retried")
        .Add<CommandSettled>("coordinator.command-settled")
        // v2: To, the host a policy moves the port to (null when absent: the planner chooses).
        .Add<FailoverStarted>("coordinator.failover-started", version: 2)
        .Upcast<FailoverStarted>(fromVersion: 1, v1 => v1)
        .Add<FailoverPlaced>("coordinator.failover-placed")
        .Add<FailoverUnplaced>("coordinator.failover-unplaced")
        .Add<FailoverCommandFailed>("coordinator.failover-command-failed")
        .Add<FailoverCompleted>("coordinator.failover-completed")
        .Add<FailoverCancelled>("coordinator.failover-cancelled")
        .Add<DeviceOperationStarted>("coordinator.device-operation-started")
        .Add<PoliciesConfigured>("coordinator.policies-configured")
        .Add<PolicyDecided>("coordinator.policy-decided")
        // v2: pending commands, deferred escalations, a port's home and move, a fail-over's excluded hosts.
        // v3: device operations, unplugged devices, policies, their decisions, hosts in standby (none when absent).
        .Add<CoordinatorSnapshot>("coordinator.snapshot", version: 3)
        .Upcast<CoordinatorSnapshot>(fromVersion: 1, v1 => v1)
        .Upcast<CoordinatorSnapshot>(fromVersion: 2, v2 => v2)
        .Add<CoordinatorQueries.GetHosts>("coordinator.query.get-hosts")
        .Add<CoordinatorQueries.GetPorts>("coordinator.query.get-ports")
        .Add<CoordinatorQueries.GetFailovers>("coordinator.query.get-failovers")
        .Add<CoordinatorQueries.GetNics>("coordinator.query.get-nics")
        .Add<CoordinatorQueries.GetRecentEvents>("coordinator.query.get-recent-events")
        .Add<CoordinatorQueries.GetReadiness>("coordinator.query.get-readiness")
        .Add<EventFeed.GetEventsAfter>("coordinator.query.get-events-after")
        .Add<EventFeed.EventPage>("coordinator.query.event-page")
        // Views (v2): their own contracts (HostView, PortView), no longer the state's records.
        // v3: a host's NICs' last traffic (HostView.Traffic); a port's agent fenced it (PortView.Fenced). A v2
        // answer reads as no traffic measured and not fenced; a v2 node refuses a v3 answer by its version, not silently.
        .Add<CoordinatorQueries.HostsView>("coordinator.query.hosts", version: 3)
        .Upcast<CoordinatorQueries.HostsView>(fromVersion: 2, v2 => v2)
        .Add<CoordinatorQueries.PortsView>("coordinator.query.ports", version: 3)
        .Upcast<CoordinatorQueries.PortsView>(fromVersion: 2, v2 => v2)
        .Add<CoordinatorQueries.FailoversView>("coordinator.query.failovers")
        .Add<CoordinatorQueries.NicsView>("coordinator.query.nics")
        .Add<CoordinatorQueries.EventsView>("coordinator.query.events")
        .Add<CoordinatorRequests.DetachDevice>("coordinator.request.detach-device")
        .Add<CoordinatorRequests.AttachDevice>("coordinator.request.attach-device")
        .Add<CoordinatorRequests.ConfigurePolicies>("coordinator.request.configure-policies")
        .Add<CoordinatorRequests.DryRunPolicy>("coordinator.request.dry-run-policy")
        .Add<CoordinatorRequests.ForgetHost>("coordinator.request.forget-host")
        .Add<CoordinatorRequests.HostForgottenView>("coordinator.query.host-forgotten")
        .Add<CoordinatorRequests.GetPolicies>("coordinator.query.get-policies")
        .Add<CoordinatorRequests.GetDecisions>("coordinator.query.get-decisions")
        .Add<CoordinatorRequests.GetOperations>("coordinator.query.get-operations")
        .Add<CoordinatorRequests.Refused>("coordinator.query.refused")
        .Add<CoordinatorRequests.OperationAccepted>("coordinator.query.operation-accepted")
        .Add<CoordinatorRequests.PoliciesView>("coordinator.query.policies")
        .Add<CoordinatorRequests.DecisionsView>("coordinator.query.decisions")
        .Add<CoordinatorRequests.DryRunView>("coordinator.query.dry-run")
        .Add<CoordinatorRequests.OperationsView>("coordinator.query.operations")
        .Add<CoordinatorQueries.Readiness>("coordinator.query.readiness", version: 2)
        .Upcast<CoordinatorQueries.Readiness>(fromVersion: 1, v1 =>
        {
            v1["problem"] = null; // v2 added Problem: a v1 node said nothing about why it was not ready
            return v1;
        })
        .Build();

    private static readonly JsonSerializerOptions Json =
        ReplugJson.CreateOptions(new GuidIdConverter<FailoverId>(g => new FailoverId(g), id => id.Value));

    /// <summary>For <c>builder.WithReplugSerializers(CoordinatorEventSerializer.Binding)</c>.</summary>
    public static readonly SerializerBinding Binding =
        new("replug-coordinator-events", [typeof(ICoordinatorEvent), typeof(CoordinatorSnapshot), typeof(ICoordinatorQuery)],
            s => new CoordinatorEventSerializer(s));

    public override int Identifier => ReplugSerializers.CoordinatorEventsId;
}
