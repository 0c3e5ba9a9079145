using Replug.Shared.Uevents;

namespace Replug.Agent.Devices;

/// <summary>Reads a uevent as a lifecycle signal, or none when it changes nothing about the device's health.</summary>
public static class DeviceSignals
{
    public static DeviceSignal? From(Uevent uevent) => uevent.Action switch
    {
        UeventAction.Add => DeviceSignal.Appeared,
        UeventAction.Remove => DeviceSignal.Removed,
        UeventAction.Offline => DeviceSignal.Failing,
        UeventAction.Online => DeviceSignal.Recovered,
        // A driver bound again (by us while restoring, or by an operator) or taken away.
        UeventAction.Bind => DeviceSignal.Recovered,
        UeventAction.Unbind => DeviceSignal.Failing,
        UeventAction.Change => FromChange(uevent),
        _ => null,
    };

    // PCI error recovery (drivers/pci/pcie/err.c, pci_uevent_ers): the kernel reports the
    // start and the outcome of AER recovery as "change" events. BEGIN_RECOVERY is the earliest
    // sign of a failing device, before any removal.
    private static DeviceSignal? FromChange(Uevent uevent)
    {
        if (uevent.TryGetValue("ERROR_EVENT", out var error))
        {
            if (error.SequenceEqual("BEGIN_RECOVERY") || error.SequenceEqual("FAILED_RECOVERY")) return DeviceSignal.Failing;
            if (error.SequenceEqual("SUCCESSFUL_RECOVERY")) return DeviceSignal.Recovered;
        }
        if (uevent.TryGetValue("DEVICE_ONLINE", out var online))
        {
            if (online.SequenceEqual("0")) return DeviceSignal.Failing;
            if (online.SequenceEqual("1")) return DeviceSignal.Recovered;
        }
        return null;
    }
}
