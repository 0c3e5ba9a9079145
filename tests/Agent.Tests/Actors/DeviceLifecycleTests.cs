using Replug.Agent.Devices;
using static Replug.Agent.Devices.DeviceState;
using static Replug.Agent.Devices.DeviceSignal;

namespace Replug.Agent.Tests.Actors;

public sealed class DeviceLifecycleTests
{
    private static (DeviceState, DeviceStep) Next(DeviceState s, DeviceSignal g)
    {
        var t = DeviceLifecycle.Next(s, g);
        return (t.Next, t.Step);
    }

    [Fact]
    public void A_new_device_is_probed_then_attached_then_active()
    {
        Assert.Equal((Parsed, DeviceStep.Probe), Next(Parsed, Appeared));
        Assert.Equal((Probed, DeviceStep.Attach), Next(Parsed, ProbeSucceeded));
        Assert.Equal((Active, DeviceStep.None), Next(Probed, AttachDone));
    }

    [Fact]
    public void A_surprise_removal_remaps_before_it_detaches()
    {
        Assert.Equal((Faulted, DeviceStep.Remap), Next(Active, Removed));
        Assert.Equal((Faulted, DeviceStep.Detach), Next(Faulted, RemapDone));
        Assert.Equal((Detached, DeviceStep.None), Next(Faulted, DetachDone));
    }

    [Fact]
    public void A_failing_device_is_handled_like_a_removal_and_may_recover()
    {
        Assert.Equal((Faulted, DeviceStep.Remap), Next(Active, Failing));
        Assert.Equal((Restoring, DeviceStep.Restore), Next(Faulted, Recovered));
        Assert.Equal((Restoring, DeviceStep.Restore), Next(Detached, Recovered));
    }

    [Fact]
    public void A_returning_device_is_restored_then_attached()
    {
        Assert.Equal((Restoring, DeviceStep.Restore), Next(Detached, Appeared));
        Assert.Equal((Probed, DeviceStep.Attach), Next(Restoring, RestoreSucceeded));
        Assert.Equal((Detached, DeviceStep.None), Next(Restoring, RestoreFailed));
        Assert.Equal((Detached, DeviceStep.None), Next(Restoring, Removed));
    }

    [Fact]
    public void A_drain_remaps_then_detaches_on_purpose_and_undrain_restores()
    {
        Assert.Equal((Draining, DeviceStep.Remap), Next(Active, DrainRequested));
        Assert.Equal((Draining, DeviceStep.Detach), Next(Draining, RemapDone));
        Assert.Equal((Detached, DeviceStep.None), Next(Draining, DetachDone));
        Assert.Equal((Restoring, DeviceStep.Restore), Next(Detached, UndrainRequested));
    }

    [Theory]
    [InlineData(Detached, Removed)]
    [InlineData(Faulted, Removed)]
    [InlineData(Active, Appeared)]
    [InlineData(Active, RemapDone)]
    [InlineData(Active, DetachDone)]
    [InlineData(Detached, DetachDone)]
    [InlineData(Parsed, DrainRequested)]
    public void Repeated_or_late_signals_change_nothing(DeviceState state, DeviceSignal signal) =>
        Assert.Equal((state, DeviceStep.None), Next(state, signal));

    [Fact]
    public void Only_an_active_device_is_healthy() =>
        Assert.Equal([Active], Enum.GetValues<DeviceState>().Where(DeviceLifecycle.IsHealthy));
}
