using System.Globalization;
using Replug.Agent.Devices;

namespace Replug.Agent.Load;

/// <summary>A NIC's byte counters and link speed as the kernel shows them now (speed: null when it gives none).</summary>
public readonly record struct NicReading(ulong RxBytes, ulong TxBytes, double? SpeedBps);

/// <summary>Where a host's NIC counters are read from.</summary>
public interface INicCounters
{
    /// <summary>The NIC's counters now; null when it is not there (removed, renamed) or its name is not a safe one.</summary>
    NicReading? Read(string interfaceName);
}

/// <summary>
/// Reads <c>class/net/NAME/statistics/{rx,tx}_bytes</c> and <c>class/net/NAME/speed</c> under a
/// sysfs root, through the same checks as the device bus (<see cref="SysfsPaths"/>): the name is one
/// safe segment and every path stays under the root.
/// <para>
/// A network namespace needs no setns here: class/net shows the network namespace of the process
/// that MOUNTED sysfs (captured at mount time), not the reader's, so an agent in a namespace reads a
/// sysfs mounted from inside it, as its device bus does (<c>--sysfs</c> with <c>--netns</c>).
/// </para>
/// </summary>
public sealed class SysfsNicCounters(string root) : INicCounters
{
    private readonly SysfsPaths _paths = new(root);

    public NicReading? Read(string interfaceName)
    {
        if (SysfsPaths.CheckName(interfaceName, "interface name") is not null) return null;
        var device = _paths.Resolve($"class/net/{interfaceName}");
        if (!device.IsValid) return null;
        var dir = device.FullPath!;
        if (ReadCounter(dir, "statistics/rx_bytes") is not { } rx || ReadCounter(dir, "statistics/tx_bytes") is not { } tx) return null;
        // speed answers EINVAL for a link that is down and -1 where the driver knows none (LinkSpeed says null to both).
        return new NicReading(rx, tx, LinkSpeed.FromSysfs(ReadText(dir, "speed")));
    }

    private ulong? ReadCounter(string dir, string attribute) =>
        ulong.TryParse(ReadText(dir, attribute), NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;

    private string? ReadText(string dir, string attribute)
    {
        var path = _paths.Resolve($"{dir}/{attribute}");
        if (!path.IsValid) return null;
        try { return File.ReadAllText(path.FullPath!).Trim(); }
        // The NIC went away between resolve and read (ENODEV), or the attribute refuses a read now (EINVAL).
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }
}
