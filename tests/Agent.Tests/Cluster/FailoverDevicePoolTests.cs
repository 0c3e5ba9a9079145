using Replug.Agent.Cluster;
using Replug.Shared.Devices;

namespace Replug.Agent.Tests.Cluster;

public sealed class FailoverDevicePoolTests
{
    private static readonly DeviceId M1 = DeviceId.Net("m1"), F1 = DeviceId.Net("f1"), F2 = DeviceId.Net("f2");

    [Fact]
    public void A_followed_NIC_is_preferred_and_the_first_free_fail_over_device_is_its_standby()
    {
        var pool = new FailoverDevicePool([F1, F2]);

        var taken = pool.Take([M1]);

        Assert.NotNull(taken);
        Assert.Equal([M1, F1], taken.Members);
        Assert.Equal([F1], taken.Taken); // the followed NIC is not the pool's to give back
        Assert.Equal([F2], pool.Free);
    }

    [Fact]
    public void A_followed_NIC_that_is_a_fail_over_device_is_not_lent_to_another_port()
    {
        var pool = new FailoverDevicePool([F1, F2]);

        var taken = pool.Take([F2])!;

        Assert.Equal([F2, F1], taken.Members);
        Assert.Equal([F2, F1], taken.Taken);
        Assert.Empty(pool.Free);
        Assert.Null(pool.Take(null));
    }

    [Fact]
    public void Returned_devices_are_free_again_in_configured_order_and_returning_twice_or_a_stranger_changes_nothing()
    {
        var pool = new FailoverDevicePool([F1, F2]);
        var first = pool.Take(null)!;
        var second = pool.Take(null)!;

        pool.Return(second.Taken);
        pool.Return(first.Taken);
        pool.Return(first.Taken);
        pool.Return([M1]);

        Assert.Equal([F1, F2], pool.Free);
        Assert.Equal([F1], pool.Take(null)!.Members);
    }

    [Fact]
    public void An_absent_fail_over_device_is_passed_over()
    {
        var pool = new FailoverDevicePool([F1, F2]);

        var taken = pool.Take(null, present: d => d != F1)!;

        Assert.Equal([F2], taken.Members);
        Assert.Equal([F1], pool.Free);
    }

    [Fact]
    public void A_port_none_of_whose_devices_is_present_is_not_made_and_takes_nothing()
    {
        var pool = new FailoverDevicePool([F1, F2]);

        Assert.Null(pool.Take([M1], present: _ => false));
        Assert.Equal([F1, F2], pool.Free);
    }
}
