using Akka.Actor;
using Replug.Shared.Protocol;
using static Replug.Shared.Protocol.OperatorProtocol;

namespace Replug.Shared.Serialization;

/// <summary>Every <see cref="IOperatorMessage"/> (operators' requests through the coordinator's API), bound as "replug-operator".</summary>
public sealed class OperatorProtocolSerializer(ExtendedActorSystem system) : VersionedJsonSerializer(system, Manifests)
{
    public static ManifestRegistry Manifests { get; } = ManifestRegistry.Create()
        .Add<MigrationNotice>("operator.migration-notice")
        .Add<DrainHost>("operator.drain-host")
        .Add<UndrainHost>("operator.undrain-host")
        .Add<OperatorAck>("operator.ack")
        .Build();

    public override int Identifier => ReplugSerializers.OperatorProtocolId;
}
