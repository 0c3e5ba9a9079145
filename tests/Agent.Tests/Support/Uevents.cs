using Replug.Shared.Devices;
using Replug.Shared.Uevents;

namespace Replug.Agent.Tests.Support;

/// <summary>Kernel-shaped uevents for actor tests, with increasing SEQNUMs.</summary>
public sealed class Uevents
{
    private ulong _seq = 1000;

    public ulong LastSeqNum => _seq;

    public Uevent Net(UeventAction action, string name, int ifIndex, string? pciSlot = null) =>
        Uevent.Create(action, NetDevPath(name, pciSlot), Subsystems.Net, ++_seq,
            [new("INTERFACE", name), new("IFINDEX", ifIndex.ToString())], UeventOrigin.Kernel);

    public Uevent Pci(UeventAction action, string slot, params KeyValuePair<string, string>[] extra) =>
        Uevent.Create(action, $"/devices/pci0000:00/{slot}", Subsystems.Pci, ++_seq,
            [new("PCI_SLOT_NAME", slot), .. extra], UeventOrigin.Kernel);

    public Uevent WithSeq(UeventAction action, string devPath, string subsystem, ulong seq) =>
        Uevent.Create(action, devPath, subsystem, seq, null, UeventOrigin.Kernel);

    public static string NetDevPath(string name, string? pciSlot) =>
        pciSlot is null ? $"/devices/virtual/net/{name}" : $"/devices/pci0000:00/{pciSlot}/net/{name}";
}
