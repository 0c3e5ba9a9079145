using Replug.Coordinator.Tracking;
using Replug.Shared.Devices;

namespace Replug.Coordinator.Tests.Tracking;

/// <summary>The hosts, devices, NIC and clock the tracker tests share.</summary>
internal static class Given
{
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan AnnouncedTimeout = Window * 10;
    public static readonly DateTimeOffset T0 = new(2025, 1, 1, 12, 0, 0, TimeSpan.Zero);

    public static readonly HostId A = new("host-a");
    public static readonly HostId B = new("host-b");
    public static readonly HostId C = new("host-c");
    public static readonly DeviceId Eth0 = DeviceId.Net("eth0");
    public static readonly DeviceId Eth1 = DeviceId.Net("eth1");
    public static readonly NicIdentity Nic = new(NicIdentityKind.PermanentMac, "52:54:00:00:00:01");
    public static readonly NicIdentity OtherNic = new(NicIdentityKind.PermanentMac, "52:54:00:00:00:02");

    public static DateTimeOffset At(double seconds) => T0.AddSeconds(seconds);

    /// <summary>A tracker that knows <see cref="Nic"/> on <paramref name="host"/> as eth0 since T0.</summary>
    public static NicTracker TrackerWithNicOn(HostId host)
    {
        var tracker = new NicTracker(Window);
        Assert.IsType<NicVerdict.Placed>(tracker.OnAdded(host, Eth0, Nic, T0));
        return tracker;
    }

    /// <summary>A tracker that knows <see cref="Nic"/> on both A and B: an identity conflict.</summary>
    public static NicTracker TrackerWithDuplicateOnAAndB()
    {
        var tracker = TrackerWithNicOn(A);
        tracker.OnAdded(B, Eth0, Nic, At(1));
        Assert.IsType<NicVerdict.Duplicated>(Assert.Single(tracker.Expire(At(1) + Window)));
        return tracker;
    }
}
