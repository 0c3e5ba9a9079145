using System.Runtime.InteropServices;
using Replug.Agent.Linux;
using Replug.Shared.Devices;

namespace Replug.Agent.Devices;

/// <summary>Why a path under the sysfs root could not be used.</summary>
internal enum SysfsPathProblem
{
    None = 0,
    /// <summary>A name from outside is not one safe path segment (<see cref="DeviceNames.IsSafe"/>).</summary>
    UnsafeName,
    /// <summary>Nothing there (never was, or removed: hot-unplug).</summary>
    NotFound,
    /// <summary>The path, with every symlink followed, leaves the root.</summary>
    EscapesRoot,
    /// <summary>realpath failed for another reason (errno in the reason).</summary>
    Error,
}

/// <summary>A path checked to stay under the sysfs root, with every symlink resolved; or why not.</summary>
internal readonly record struct SysfsPath(string? FullPath, SysfsPathProblem Problem, string? Reason)
{
    public bool IsValid => Problem == SysfsPathProblem.None;

    public static SysfsPath Ok(string fullPath) => new(fullPath, SysfsPathProblem.None, null);
    public static SysfsPath Refused(SysfsPathProblem problem, string reason) => new(null, problem, reason);
}

/// <summary>
/// The one place that decides whether a path may be touched: every name from outside (a
/// uevent, an operator, a configuration) is one safe segment, and every final path, after
/// <see cref="Path.GetFullPath(string)"/> and realpath(3), is under the root.
/// <para>
/// Lexical checks alone are not enough: sysfs is a forest of relative symlinks
/// (bus/pci/devices/SLOT, class/net/NAME, SLOT/driver, SLOT/physfn), and .NET resolves a
/// link's target against the link's *lexical* directory, which is wrong when that directory
/// is itself reached through a link. realpath asks the kernel's own path walk instead.
/// </para>
/// <para>
/// What is left is a check-then-use window; it matters only if someone can replace sysfs
/// entries between the two, and only the kernel can write sysfs's tree (a test's fake tree
/// is owned by the test).
/// </para>
/// </summary>
internal sealed class SysfsPaths
{
    public SysfsPaths(string root)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        Root = Trim(Path.GetFullPath(root));
        // The root itself may sit behind a link (/tmp -> /private/tmp, a bind mount path):
        // compare resolved paths with the resolved root.
        RealRoot = RealPath(Root, out _) is { } real ? Trim(real) : Root;
    }

    /// <summary>The root as configured, made absolute.</summary>
    public string Root { get; }

    /// <summary>The root with its own symlinks resolved: what resolved paths are compared with.</summary>
    public string RealRoot { get; }

    /// <summary>Null when <paramref name="name"/> is a safe single segment, else the reason it is not.</summary>
    public static string? CheckName(string? name, string what) =>
        name is not null && DeviceNames.IsSafe(name)
            ? null
            : $"invalid {what} '{Printable(name)}': must be one path segment (no '/', '.', '..', control characters; 1-255 characters)";

    /// <summary>
    /// Resolves <paramref name="path"/> (relative to the root, or absolute) with every symlink
    /// followed, and refuses it unless it exists and stays under the root.
    /// </summary>
    public SysfsPath Resolve(string path)
    {
        var full = Path.GetFullPath(Path.IsPathRooted(path) ? path : Path.Combine(Root, path));
        if (!IsUnder(full, Root) && !IsUnder(full, RealRoot))
            return SysfsPath.Refused(SysfsPathProblem.EscapesRoot, $"'{path}' is outside the sysfs root '{Root}'");

        var real = RealPath(full, out var errno);
        if (real is null)
        {
            return errno is Libc.ENOENT or Libc.ENOTDIR
                ? SysfsPath.Refused(SysfsPathProblem.NotFound, $"'{full}' does not exist")
                : SysfsPath.Refused(SysfsPathProblem.Error, $"cannot resolve '{full}': {Libc.Describe(errno)}");
        }
        if (!IsUnder(real, RealRoot))
            return SysfsPath.Refused(SysfsPathProblem.EscapesRoot,
                $"'{full}' resolves to '{real}', outside the sysfs root '{Root}'");
        return SysfsPath.Ok(real);
    }

    /// <summary>Resolves a path built from checked names; the name check's reason wins when one fails.</summary>
    public SysfsPath Resolve(string path, string? nameProblem) =>
        nameProblem is null ? Resolve(path) : SysfsPath.Refused(SysfsPathProblem.UnsafeName, nameProblem);

    /// <summary>The kernel's DEVPATH form of a resolved path: relative to the root, starting with "/devices/…".</summary>
    public string DevPathOf(string resolved) =>
        RealRoot == "/" ? resolved : resolved.Length == RealRoot.Length ? "/" : resolved[RealRoot.Length..];

    private static bool IsUnder(string path, string root) =>
        root == "/"
            ? path.StartsWith('/')
            : path.Length == root.Length
                ? string.Equals(path, root, StringComparison.Ordinal)
                : path.StartsWith(root, StringComparison.Ordinal) && path[root.Length] == '/';

    private static string Trim(string path) => path.Length > 1 ? path.TrimEnd('/') : path;

    private static unsafe string? RealPath(string path, out int errno)
    {
        errno = 0;
        var buffer = stackalloc byte[Libc.PATH_MAX];
        var result = Libc.realpath(path, buffer);
        if (result is null)
        {
            errno = Libc.LastError;
            return null;
        }
        return Marshal.PtrToStringUTF8((nint)result);
    }

    private static string Printable(string? name)
    {
        if (name is null) return "(null)";
        var shown = name.Length > 64 ? name[..64] + "…" : name;
        return string.Create(shown.Length, shown, static (span, s) =>
        {
            for (var i = 0; i < s.Length; i++) span[i] = char.IsControl(s[i]) ? '?' : s[i];
        });
    }
}
