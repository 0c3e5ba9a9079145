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
        .Add<RegisterHost>("host.register-host")
        .Add<HostRegistered>("host.host-registered")
        .Add<NicAdded>("host.nic-added")
        .Add<NicRemoved>("host.nic-removed")
        .Add<PortChanged>("host.port-changed")
        .Add<PortEscalated>("host.port-escalated")
        .Add<AttachPort>("host.attach-port")
        .Add<DetachPort>("host.detach-port")
        .Add<CommandAcknowledged>("host.command-acknowledged")
        .Add<CommandRefused>("host.command-refused")
        .Build();

    public override int Identifier => ReplugSerializers.HostProtocolId;
}
