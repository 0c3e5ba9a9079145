namespace Replug.Shared.Devices;

/// <summary>
/// A device as the kernel names it: its subsystem and its name there (<see cref="DevPaths.DeviceName"/>:
/// the interface name of a net device, the slot of a PCI function, the DEVPATH of anything else).
/// </summary>
public readonly record struct DeviceId(string Subsystem, string Name)
{
    public static DeviceId Net(string interfaceName) => new(Subsystems.Net, interfaceName);
    public static DeviceId Pci(string slot) => new(Subsystems.Pci, slot);

    /// <summary>Parses "subsystem/name" (the form <see cref="ToString"/> writes), or a bare name as a net device.</summary>
    public static bool TryParse(string? text, out DeviceId id)
    {
        id = default;
        if (string.IsNullOrWhiteSpace(text)) return false;
        var slash = text.IndexOf('/');
        if (slash < 0) { id = Net(text); return DeviceNames.IsSafe(text); }
        var subsystem = text[..slash];
        var name = text[(slash + 1)..];
        if (subsystem.Length == 0 || !DeviceNames.IsSafe(name)) return false;
        id = new DeviceId(subsystem, name);
        return true;
    }

    public override string ToString() => $"{Subsystem}/{Name}";
}

/// <summary>A logical port: the name an operator gives to a fail-safe group of devices.</summary>
public readonly record struct PortId(string Value)
{
    public override string ToString() => Value;
}

/// <summary>A hypervisor host, as the agent running on it names itself.</summary>
public readonly record struct HostId(string Value)
{
    public override string ToString() => Value;
}

public static class Subsystems
{
    public const string Net = "net";
    public const string Pci = "pci";
    public const string Vfio = "vfio";
}

public static class DeviceNames
{
    /// <summary>
    /// A kernel device name that is safe to use as one path segment under a sysfs root:
    /// not empty, not "." or "..", no separators, no NUL or control characters. The kernel
    /// itself forbids '/' in names; everything here may come from an untrusted uevent.
    /// </summary>
    public static bool IsSafe(ReadOnlySpan<char> name)
    {
        if (name.IsEmpty || name.Length > 255) return false;
        if (name is "." or "..") return false;
        foreach (var c in name)
        {
            if (c == '/' || c == '\\' || c == '\0' || char.IsControl(c)) return false;
        }
        return true;
    }
}

/// <summary>
/// A host's name as operators read it in logs, tables and the API: 1 to 255 characters, none of
/// them a control, format (a right-to-left override, U+202E, makes "b\u202ec" print as "bc"
/// reversed), surrogate, private-use, unassigned or line-breaking character, and no space at either end.
/// </summary>
public static class HostNames
{
    public const int MaxLength = 255;

    /// <summary>Why <paramref name="name"/> cannot name a host (null: it can).</summary>
    public static string? Problem(string? name)
    {
        if (string.IsNullOrWhiteSpace(name)) return "a host name must not be empty";
        if (name.Length > MaxLength) return $"a host name is at most {MaxLength} characters";
        if (name.Trim().Length != name.Length) return "a host name has no space at either end";
        foreach (var c in name)
            if (!IsPrintable(c)) return $"a host name has only printable characters (U+{(int)c:X4} is not)";
        return null;
    }

    /// <summary>Whether a terminal shows <paramref name="c"/> as itself: not a control, format, surrogate, private-use, unassigned or line-breaking character.</summary>
    public static bool IsPrintable(char c) => char.GetUnicodeCategory(c) is not (System.Globalization.UnicodeCategory.Control
        or System.Globalization.UnicodeCategory.Format or System.Globalization.UnicodeCategory.Surrogate
        or System.Globalization.UnicodeCategory.PrivateUse or System.Globalization.UnicodeCategory.OtherNotAssigned
        or System.Globalization.UnicodeCategory.LineSeparator or System.Globalization.UnicodeCategory.ParagraphSeparator);
}
