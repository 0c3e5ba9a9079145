using System.Collections.Concurrent;
using Replug.Agent.Devices;
using Replug.Shared.Devices;

namespace Replug.Agent.Tests.Support;

/// <summary>
/// The real <see cref="SysfsDeviceBus"/> over a <see cref="FakeSysfs"/>, plus what the kernel would do
/// after its writes to bus/pci: a function written "1" to its <c>remove</c> leaves the tree (with its
/// net interfaces), and a write to <c>rescan</c> brings the removed ones back, without a driver.
/// Each bus operation is logged ("unbind SLOT", "remove SLOT", "rescan", "bind SLOT DRIVER",
/// "link NAME up|down") after the write succeeded and its value was checked in the file.
/// </summary>
public sealed class KernelLikeBus(FakeSysfs sysfs, ConcurrentQueue<string>? log = null) : IDeviceBus
{
    private readonly SysfsDeviceBus _inner = new(sysfs.Root);
    private readonly ConcurrentDictionary<string, PciDeviceInfo> _removed = new();

    public ConcurrentQueue<string> Log { get; } = log ?? new ConcurrentQueue<string>();

    public BusResult Remove(string slot)
    {
        var before = _inner.FindPci(slot);
        var result = _inner.Remove(slot);
        if (!result.Succeeded || before is null) return result;
        Assert.Equal("1", sysfs.ReadValue($"bus/pci/devices/{slot}/remove"));
        Log.Enqueue($"remove {slot}");
        _removed[slot] = before;
        sysfs.RemovePci(slot);
        return result;
    }

    public BusResult Rescan()
    {
        var result = _inner.Rescan();
        if (!result.Succeeded) return result;
        Assert.Equal("1", sysfs.ReadValue("bus/pci/rescan"));
        Log.Enqueue("rescan");
        foreach (var (slot, pci) in _removed.ToList())
        {
            sysfs.AddPci(slot, Convert.ToUInt16(pci.VendorId, 16), Convert.ToUInt16(pci.DeviceId, 16), Convert.ToUInt32(pci.ClassCode, 16));
            _removed.TryRemove(slot, out _);
        }
        return result;
    }

    public BusResult Unbind(string slot)
    {
        var driver = _inner.FindPci(slot)?.Driver;
        var result = _inner.Unbind(slot);
        if (result.Succeeded && driver is not null)
        {
            Assert.Equal(slot, sysfs.ReadValue($"bus/pci/drivers/{driver}/unbind"));
            File.Delete(sysfs.PathOf($"bus/pci/devices/{slot}/driver")); // the kernel unlinks it
            Log.Enqueue($"unbind {slot}");
        }
        return result;
    }

    public BusResult BindDriver(string slot, string driver)
    {
        var result = _inner.BindDriver(slot, driver);
        if (!result.Succeeded) return result;
        Assert.Equal(driver, sysfs.ReadValue($"bus/pci/devices/{slot}/driver_override"));
        Assert.Equal(slot, sysfs.ReadValue("bus/pci/drivers_probe"));
        if (!Directory.Exists(sysfs.PathOf($"bus/pci/drivers/{driver}"))) sysfs.AddDriver(driver);
        sysfs.Link($"bus/pci/devices/{slot}/driver", $"../../../bus/pci/drivers/{driver}"); // the driver's probe claims it
        Log.Enqueue($"bind {slot} {driver}");
        return result;
    }

    private readonly ManualResetEventSlim _linkChangesFlow = new(true);

    /// <summary>Set while a link change waits for <see cref="ReleaseLinkChanges"/>.</summary>
    public ManualResetEventSlim LinkChangeWaiting { get; } = new();

    /// <summary>From now on a link change (ConfigureNet) waits until released: a slow driver.</summary>
    public void HoldLinkChanges() => _linkChangesFlow.Reset();

    public void ReleaseLinkChanges() => _linkChangesFlow.Set();

    public BusResult ConfigureNet(string interfaceName, NetConfig config)
    {
        if (!_linkChangesFlow.IsSet)
        {
            LinkChangeWaiting.Set();
            _linkChangesFlow.Wait(TimeSpan.FromSeconds(30));
        }
        var result = _inner.ConfigureNet(interfaceName, config);
        if (result.Succeeded) Log.Enqueue($"link {interfaceName} {(config.Up ? "up" : "down")}");
        return result;
    }

    public string Root => _inner.Root;
    public DeviceInventory Scan() => _inner.Scan();
    public bool Exists(DeviceId device) => _inner.Exists(device);
    public PciDeviceInfo? FindPci(string slot) => _inner.FindPci(slot);
    public NetInterfaceInfo? FindNet(string interfaceName) => _inner.FindNet(interfaceName);
}
