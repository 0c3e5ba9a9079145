using System.Text.Json.Nodes;
using Akka.Actor;
using Replug.Shared.Devices;
using Replug.Shared.Serialization;

namespace Replug.Shared.Tests.Serialization;

/// <summary>Test-only messages whose history (v1, v2, v3) exercises the versioning path.</summary>
public interface IVersionedTestMessage;

public enum NoteSeverity { Info, Warning }

/// <summary>Current v2. v1 called the note "text" and had no severity (stored as Fixtures/7199/test.port-noted.v1.json).</summary>
public sealed record PortNoted(PortId Port, string Note, NoteSeverity Severity) : IVersionedTestMessage;

/// <summary>Current v3. v1 had one "label"; v2 made it a list "labels"; v3 added "by".</summary>
public sealed record HostLabelled(HostId Host, IReadOnlyList<string> Labels, string By) : IVersionedTestMessage;

/// <summary>Current v3, readable only from v2: v1 payloads are too old for this build.</summary>
public sealed record PortRetired(PortId Port, string Reason) : IVersionedTestMessage;

public sealed class VersionedTestSerializer(ExtendedActorSystem system) : VersionedJsonSerializer(system, Manifests)
{
    public const int Id = 7199;

    public static ManifestRegistry Manifests { get; } = ManifestRegistry.Create()
        .Add<PortNoted>("test.port-noted", version: 2)
        .Upcast<PortNoted>(fromVersion: 1, v1 =>
        {
            var o = v1.AsObject();
            o["note"] = o["text"]?.DeepClone();
            o.Remove("text");
            o["severity"] = nameof(NoteSeverity.Info);
            return o;
        })
        .Add<HostLabelled>("test.host-labelled", version: 3)
        .Upcast<HostLabelled>(fromVersion: 1, v1 =>
        {
            var o = v1.AsObject();
            o["labels"] = new JsonArray(o["label"]?.DeepClone());
            o.Remove("label");
            return o;
        })
        .Upcast<HostLabelled>(fromVersion: 2, v2 =>
        {
            v2["by"] = "unknown";
            return v2;
        })
        .Add<PortRetired>("test.port-retired", version: 3)
        .Upcast<PortRetired>(fromVersion: 2, v2 => v2)
        .Build();

    public static SerializerBinding Binding { get; } =
        new("replug-test-versioned", [typeof(IVersionedTestMessage)], s => new VersionedTestSerializer(s));

    public override int Identifier => Id;
}

/// <summary>A protocol whose serializer forgot one of its messages: the startup check must name it.</summary>
public interface IHalfRegisteredMessage;

public sealed record Registered(int N) : IHalfRegisteredMessage;

public sealed record Forgotten(int N) : IHalfRegisteredMessage;

public sealed class HalfRegisteredSerializer(ExtendedActorSystem system) : VersionedJsonSerializer(system, Manifests)
{
    public static ManifestRegistry Manifests { get; } = ManifestRegistry.Create().Add<Registered>("test.registered").Build();

    public static SerializerBinding Binding { get; } =
        new("replug-test-half", [typeof(IHalfRegisteredMessage)], s => new HalfRegisteredSerializer(s));

    public override int Identifier => 7198;
}

/// <summary>A protocol with no binding at all: strict serialization refuses it.</summary>
public interface IUnboundMessage;

public sealed record Unbound(int N) : IUnboundMessage;
