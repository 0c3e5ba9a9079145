namespace Replug.Agent.Devices;

/// <summary>
/// A device's life on this host, after DPDK's hot-plug states (PARSED / PROBED / FAULT)
/// with the fail-safe steps made explicit.
/// </summary>
public enum DeviceState
{
    /// <summary>A uevent named it; sysfs not yet read.</summary>
    Parsed,
    /// <summary>Present in sysfs and configured, not yet offered to its ports.</summary>
    Probed,
    /// <summary>In service: its ports may use it.</summary>
    Active,
    /// <summary>Lost or failing: its ports are moving traffic away (remap), then it is detached.</summary>
    Faulted,
    /// <summary>Planned removal: remap as for a fault, then detach on purpose.</summary>
    Draining,
    /// <summary>Out of service and released; waits for the device to return.</summary>
    Detached,
    /// <summary>Returned: binding the driver and re-applying configuration.</summary>
    Restoring,
}

/// <summary>What happened to a device, as the supervisor learns it.</summary>
public enum DeviceSignal
{
    /// <summary>add / online / bind, or present in a rescan.</summary>
    Appeared,
    /// <summary>remove, or missing from a rescan: a surprise removal.</summary>
    Removed,
    /// <summary>PCI error recovery began or failed, or DEVICE_ONLINE=0, or offline: the device is there but failing.</summary>
    Failing,
    /// <summary>PCI error recovery succeeded, or DEVICE_ONLINE=1.</summary>
    Recovered,
    /// <summary>An operator (or the coordinator) asks to take the device out of service.</summary>
    DrainRequested,
    /// <summary>An operator asks to put a drained device back.</summary>
    UndrainRequested,
    ProbeSucceeded,
    ProbeFailed,
    RemapDone,
    DetachDone,
    RestoreSucceeded,
    RestoreFailed,
    AttachDone,
}

/// <summary>The work a transition asks the supervisor to do, in order.</summary>
public enum DeviceStep
{
    None,
    /// <summary>Read the device from sysfs.</summary>
    Probe,
    /// <summary>Tell its ports to move traffic to a healthy sub-device, and wait for them.</summary>
    Remap,
    /// <summary>Release the device (unbind when it is still there).</summary>
    Detach,
    /// <summary>Bind its driver and re-apply its configuration.</summary>
    Restore,
    /// <summary>Offer it to its ports again.</summary>
    Attach,
}

public readonly record struct DeviceTransition(DeviceState Next, DeviceStep Step)
{
    public static DeviceTransition To(DeviceState next, DeviceStep step = DeviceStep.None) => new(next, step);
}

/// <summary>
/// The device state machine: a pure function from (state, signal) to the next state and the
/// step to perform. Signals that make no sense in a state (a duplicate removal, a late step
/// result) leave it unchanged: every handler must be idempotent because the kernel, resyncs
/// and several sources may report the same change more than once.
/// </summary>
public static class DeviceLifecycle
{
    public static DeviceTransition Next(DeviceState state, DeviceSignal signal) => (state, signal) switch
    {
        // Discovery: read sysfs, then offer it to its ports.
        (DeviceState.Parsed, DeviceSignal.Appeared) => DeviceTransition.To(DeviceState.Parsed, DeviceStep.Probe),
        (DeviceState.Parsed, DeviceSignal.ProbeSucceeded) => DeviceTransition.To(DeviceState.Probed, DeviceStep.Attach),
        (DeviceState.Parsed, DeviceSignal.ProbeFailed) => DeviceTransition.To(DeviceState.Detached),
        (DeviceState.Parsed, DeviceSignal.Removed) => DeviceTransition.To(DeviceState.Detached),
        (DeviceState.Probed, DeviceSignal.AttachDone) => DeviceTransition.To(DeviceState.Active),

        // Surprise removal or a failing device: remap first, then detach (the fail-safe order).
        (DeviceState.Probed or DeviceState.Active, DeviceSignal.Removed or DeviceSignal.Failing)
            => DeviceTransition.To(DeviceState.Faulted, DeviceStep.Remap),
        (DeviceState.Faulted, DeviceSignal.RemapDone) => DeviceTransition.To(DeviceState.Faulted, DeviceStep.Detach),
        (DeviceState.Faulted, DeviceSignal.DetachDone) => DeviceTransition.To(DeviceState.Detached),
        // A failing device that recovers before it was detached goes back through restore.
        (DeviceState.Faulted, DeviceSignal.Recovered) => DeviceTransition.To(DeviceState.Restoring, DeviceStep.Restore),

        // Planned removal: the same order, on purpose.
        (DeviceState.Probed or DeviceState.Active, DeviceSignal.DrainRequested)
            => DeviceTransition.To(DeviceState.Draining, DeviceStep.Remap),
        (DeviceState.Draining, DeviceSignal.RemapDone) => DeviceTransition.To(DeviceState.Draining, DeviceStep.Detach),
        (DeviceState.Draining, DeviceSignal.DetachDone) => DeviceTransition.To(DeviceState.Detached),
        (DeviceState.Draining, DeviceSignal.Removed) => DeviceTransition.To(DeviceState.Draining),

        // Return: re-insertion, recovery, or an operator's undrain.
        (DeviceState.Detached, DeviceSignal.Appeared or DeviceSignal.Recovered or DeviceSignal.UndrainRequested)
            => DeviceTransition.To(DeviceState.Restoring, DeviceStep.Restore),
        (DeviceState.Restoring, DeviceSignal.RestoreSucceeded) => DeviceTransition.To(DeviceState.Probed, DeviceStep.Attach),
        (DeviceState.Restoring, DeviceSignal.RestoreFailed) => DeviceTransition.To(DeviceState.Detached),
        (DeviceState.Restoring, DeviceSignal.Removed) => DeviceTransition.To(DeviceState.Detached),
        (DeviceState.Restoring, DeviceSignal.Failing) => DeviceTransition.To(DeviceState.Detached),

        _ => DeviceTransition.To(state),
    };

    /// <summary>Whether ports may carry traffic on a device in this state.</summary>
    public static bool IsHealthy(DeviceState state) => state is DeviceState.Active;
}
