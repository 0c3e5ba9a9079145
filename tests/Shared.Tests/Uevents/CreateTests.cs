using Replug.Shared.Devices;
using Replug.Shared.Uevents;

namespace Replug.Shared.Tests.Uevents;

public class CreateTests
{
    private const string Dev = "/devices/pci0000:00/0000:00:03.0/0000:03:00.0/net/eth1";

    private static KeyValuePair<string, string> P(string key, string value) => new(key, value);

    [Fact]
    public void Create_builds_an_event_with_the_given_parts()
    {
        var e = Uevent.Create(UeventAction.Add, Dev, "net", 12, [P("INTERFACE", "eth1"), P("IFINDEX", "3"), P("DRIVER", "ixgbe")]);
        Assert.Equal(UeventAction.Add, e.Action);
        Assert.Equal(Dev, e.DevPath);
        Assert.Equal("net", e.Subsystem);
        Assert.Equal(12UL, e.SeqNum);
        Assert.Equal("eth1", e.Interface);
        Assert.Equal(3, e.IfIndex);
        Assert.Equal("ixgbe", e.Driver);
        Assert.Equal(DeviceId.Net("eth1"), e.Device);
        Assert.Equal(UeventOrigin.Resync, e.Origin);
    }

    [Fact]
    public void Create_writes_the_fields_in_the_kernel_order()
    {
        var e = Uevent.Create(UeventAction.Remove, Dev, "net", 5, [P("INTERFACE", "eth1")]);
        Assert.Equal(["ACTION", "DEVPATH", "SUBSYSTEM", "INTERFACE", "SEQNUM"], e.Properties.Select(p => p.Key));
        Assert.Equal("remove", e["ACTION"]);
        Assert.Equal("5", e["SEQNUM"]);
    }

    [Fact]
    public void Create_keeps_the_origin_it_is_given()
    {
        Assert.Equal(UeventOrigin.Replay, Uevent.Create(UeventAction.Add, Dev, "net", 1, origin: UeventOrigin.Replay).Origin);
    }

    [Fact]
    public void Create_takes_ACTION_DEVPATH_SUBSYSTEM_and_SEQNUM_from_its_arguments_not_the_properties()
    {
        var e = Uevent.Create(UeventAction.Add, Dev, "net", 1,
            [P("ACTION", "remove"), P("DEVPATH", "/x"), P("SUBSYSTEM", "pci"), P("SEQNUM", "99")]);
        Assert.Equal(UeventAction.Add, e.Action);
        Assert.Equal(Dev, e.DevPath);
        Assert.Equal("net", e.Subsystem);
        Assert.Equal(1UL, e.SeqNum);
        Assert.Equal(4, e.FieldCount);
    }

    [Fact]
    public void A_created_event_round_trips_through_the_wire_format()
    {
        var e = Uevent.Create(UeventAction.Move, Dev, "net", 77, [P("DEVPATH_OLD", "/devices/virtual/net/old"), P("INTERFACE", "eth1")]);
        var again = UeventAssert.Accepted(UeventParser.ParseKernelMessage(e.ToWireFormat()));
        UeventAssert.Equal(e, again);
        Assert.Equal("/devices/virtual/net/old", again.DevPathOld);
    }

    [Fact]
    public void A_resync_event_may_have_SEQNUM_zero()
    {
        Assert.Equal(0UL, Uevent.Create(UeventAction.Add, Dev, "net", 0).SeqNum);
    }

    [Fact]
    public void ToString_names_action_path_subsystem_and_seqnum()
    {
        Assert.Equal($"add {Dev} (net) seq 3", Uevent.Create(UeventAction.Add, Dev, "net", 3).ToString());
    }

    public static TheoryData<string, string, string, string> InvalidParts => new()
    {
        // devPath, subsystem, key, value
        { "devices/x", "net", "K", "v" },
        { "/devices/../x", "net", "K", "v" },
        { "/devices/x/", "net", "K", "v" },
        { "", "net", "K", "v" },
        { "/devices/x", "", "K", "v" },
        { "/devices/x", "net", "", "v" },
        { "/devices/x", "net", "IFINDEX", "0" },
        { "/devices/x", "net", "DEVPATH_OLD", "../x" },
        { "/devices/x", "net", "INTERFACE", "a" },      // duplicated below
        // Parts that would smuggle fields into the message: a NUL splits a field in two,
        // an '=' in a key moves the split between key and value.
        { "/devices/x\0K2=v", "net", "K", "v" },
        { "/devices/x", "net\0K2=v", "K", "v" },
        { "/devices/x", "net", "K\0K2", "v" },
        { "/devices/x", "net", "K", "v\0K2=w" },
        { "/devices/x", "net", "K=L", "v" },
        { "/devices/x", "net", "INTERFACE", "eth0\0IFINDEX=0" },
    };

    [Theory, MemberData(nameof(InvalidParts))]
    public void Create_refuses_invalid_parts(string devPath, string subsystem, string key, string value)
    {
        IEnumerable<KeyValuePair<string, string>> properties = key == "INTERFACE" && value == "a"
            ? [P("INTERFACE", "a"), P("INTERFACE", "b")]
            : [P(key, value)];
        Assert.ThrowsAny<ArgumentException>(() => Uevent.Create(UeventAction.Add, devPath, subsystem, 1, properties));
    }

    [Fact]
    public void Create_refuses_an_undefined_action()
    {
        Assert.ThrowsAny<ArgumentException>(() => Uevent.Create((UeventAction)42, Dev, "net", 1));
    }

    [Fact]
    public void Create_refuses_more_than_64_fields()
    {
        var many = Enumerable.Range(0, UeventParser.MaxFields - 3).Select(i => P($"K{i}", "v")).ToList();
        Assert.ThrowsAny<ArgumentException>(() => Uevent.Create(UeventAction.Add, Dev, "net", 1, many));
        Assert.Equal(UeventParser.MaxFields, Uevent.Create(UeventAction.Add, Dev, "net", 1, many.Skip(1)).FieldCount);
    }
}
