using Akka.Actor;
using Replug.Shared.Protocol;
using static Replug.Shared.Protocol.HostProtocol;

namespace Replug.Shared.Serialization;

/// <summary>Every <see cref="IHostMessage"/> (agent ↔ coordinator), bound to the marker as "replug-host".</summary>
public sealed class HostProtocolSerializer(ExtendedActorSystem system) : VersionedJsonSerializer(system, Manifests)
{
    /// <summary>
    /// Agents and the coordinator of different builds share a cluster during a rolling upgrade:
    /// a change of a message's shape needs a new version here (and an upcaster, or a reader
    /// that is deployed first).
    /// </summary>
    public static ManifestRegistry Manifests { get; } = ManifestRegistry.Create()
        // v2: NewestEpoch, and Fenced in each port (both default when absent).
        .Add<RegisterHost>("host.register-host", version: 2)
        .Upcast<RegisterHost>(fromVersion: 1, v1 => v1)
        // v2: IncomingPorts (none when absent), Incarnation (0 when absent: any).
        .Add<HostRegistered>("host.host-registered", version: 2)
        .Upcast<HostRegistered>(fromVersion: 1, v1 => v1)
        .Add<NicAdded>("host.nic-added")
        .Add<NicRemoved>("host.nic-removed")
        // v2: PortReport.Fenced (false when absent).
        .Add<PortChanged>("host.port-changed", version: 2)
        .Upcast<PortChanged>(fromVersion: 1, v1 => v1)
        .Add<PortEscalated>("host.port-escalated")
        // v2: Incarnation, the agent addressed (0 when absent: any).
        .Add<AttachPort>("host.attach-port", version: 2)
        .Upcast<AttachPort>(fromVersion: 1, v1 => v1)
        .Add<DetachPort>("host.detach-port", version: 2)
        .Upcast<DetachPort>(fromVersion: 1, v1 => v1)
        .Add<CommandAcknowledged>("host.command-acknowledged")
        // v2: Epoch, the refused copy's (0 when absent: judged as the coordinator's own); Incarnation, the refusing agent's.
        .Add<CommandRefused>("host.command-refused", version: 2)
        .Upcast<CommandRefused>(fromVersion: 1, v1 => v1)
        .Add<RenewLease>("host.renew-lease")
        .Add<LeaseGranted>("host.lease-granted")
        .Add<NicLoadReported>("host.nic-load-reported")
        .Add<DetachDevice>("host.detach-device")
        .Add<AttachDevice>("host.attach-device")
        .Add<SwitchPortDevice>("host.switch-port-device")
        .Build();

    public override int Identifier => ReplugSerializers.HostProtocolId;
}
