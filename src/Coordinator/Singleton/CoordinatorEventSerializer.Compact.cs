using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using Replug.Shared.Serialization;
using static Replug.Coordinator.Singleton.CoordinatorEvents;

namespace Replug.Coordinator.Singleton;

public sealed partial class CoordinatorEventSerializer
{
    /// <summary>
    /// The compact forms of the events a live migration writes (v2 of each; v1 was JSON of the same
    /// fields): about 60 bytes where the JSON took 120–160, and no JSON writer or reader in the journal's
    /// hot path. The field order is the format: a new field is a new version. Strings are written as
    /// nullable ones, so that an id the JSON would have written as null round-trips the same way.
    /// </summary>
    public static readonly IReadOnlyList<CompactCodec> Compact =
    [
        CompactCodec.For<NicAdded>(
            (w, e) =>
            {
                Host(w, e.Host);
                Device(w, e.Nic.Device);
                Identity(w, e.Nic.Identity);
                w.NullableString(e.Nic.PciSlot);
                w.Bool(e.Nic.Healthy);
                w.DateTimeOffset(e.At);
            },
            (ref r) => new NicAdded(Host(ref r), new NicReport(Device(ref r), Identity(ref r), r.NullableString(), r.Bool()), r.DateTimeOffset())),
        CompactCodec.For<NicRemoved>(
            (w, e) =>
            {
                Host(w, e.Host);
                Device(w, e.Device);
                Identity(w, e.Identity);
                w.DateTimeOffset(e.At);
            },
            (ref r) => new NicRemoved(Host(ref r), Device(ref r), Identity(ref r), r.DateTimeOffset())),
        CompactCodec.For<NicMigrated>(
            (w, e) =>
            {
                Identity(w, e.Nic);
                Host(w, e.From);
                Host(w, e.To);
                Device(w, e.Device);
                w.Bool(e.Announced);
                w.DateTimeOffset(e.At);
            },
            (ref r) => new NicMigrated(Identity(ref r), Host(ref r), Host(ref r), Device(ref r), r.Bool(), r.DateTimeOffset())),
    ];

    private static void Host(CompactWriter w, HostId host) => w.NullableString(host.Value);

    private static HostId Host(ref CompactReader r) => new(r.NullableString()!);

    private static void Device(CompactWriter w, DeviceId device)
    {
        w.NullableString(device.Subsystem);
        w.NullableString(device.Name);
    }

    private static DeviceId Device(ref CompactReader r) => new(r.NullableString()!, r.NullableString()!);

    private static void Identity(CompactWriter w, NicIdentity identity)
    {
        w.Byte((byte)identity.Kind);
        w.NullableString(identity.Value);
    }

    private static NicIdentity Identity(ref CompactReader r) => new(r.Enum<NicIdentityKind>(), r.NullableString()!);
}
