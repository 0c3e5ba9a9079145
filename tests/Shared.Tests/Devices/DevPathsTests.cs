using Replug.Shared.Devices;
using Replug.Shared.Uevents;

namespace Replug.Shared.Tests.Devices;

public class DevPathsTests
{
    [Theory]
    [InlineData("net", "/devices/pci0000:00/0000:00:03.0/net/eth0", "eth0")]
    [InlineData("net", "/devices/virtual/net/v1", "v1")]
    [InlineData("pci", "/devices/pci0000:00/0000:00:1c.0/0000:03:00.0", "0000:03:00.0")]
    public void Net_interfaces_and_PCI_functions_are_named_by_their_kernel_name(string subsystem, string devPath, string name) =>
        Assert.Equal(name, DevPaths.DeviceName(subsystem, devPath));

    [Fact]
    public void Devices_of_other_subsystems_are_named_by_their_devpath_so_every_net_devices_queues_stay_apart()
    {
        var queues = new[] { "v1", "v2", "v3" }
            .Select(nic => Uevent.Create(UeventAction.Add, $"/devices/virtual/net/{nic}/queues/rx-0", "queues", 7).Device)
            .ToList();

        Assert.Equal(3, queues.Distinct().Count());
        Assert.Equal(new DeviceId("queues", "devices/virtual/net/v1/queues/rx-0"), queues[0]);
    }
}
