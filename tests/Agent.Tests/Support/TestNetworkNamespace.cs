using System.Diagnostics;
using Replug.Agent.Linux;

namespace Replug.Agent.Tests.Support;

/// <summary>
/// A fresh network namespace (one "host") with a unique name, removed on Dispose even when
/// the test failed. Optionally mounts a sysfs of that namespace on a temporary folder, so an
/// agent pointed at that folder as its sysfs root sees that host's net devices.
/// </summary>
public sealed class TestNetworkNamespace : IDisposable
{
    private static int _counter;
    private string? _sysfsRoot;

    public TestNetworkNamespace(string prefix = "rp")
    {
        Name = $"{prefix}{Environment.ProcessId % 100000}x{Interlocked.Increment(ref _counter)}";
        Shell.Run("ip", $"netns add {Name}");
        Shell.Run("ip", $"-n {Name} link set lo up");
    }

    public string Name { get; }

    /// <summary>Runs `ip -n NAME ARGS` and throws with its stderr on failure.</summary>
    public string Ip(string args) => Shell.Run("ip", $"-n {Name} {args}");

    /// <summary>Runs `ip -n NAME ARGS`; returns false instead of throwing.</summary>
    public bool TryIp(string args) => Shell.TryRun("ip", $"-n {Name} {args}", out _);

    /// <summary>A sysfs mounted from inside this namespace (its /class/net lists this namespace's devices).</summary>
    public string SysfsRoot
    {
        get
        {
            if (_sysfsRoot is not null) return _sysfsRoot;
            var dir = Directory.CreateTempSubdirectory($"sysfs-{Name}-").FullName;
            Shell.Run("nsenter", $"--net={NetworkNamespace.RunDirectory}/{Name} mount -t sysfs sysfs {dir}");
            return _sysfsRoot = dir;
        }
    }

    /// <summary>An agent watching this namespace's net devices, with one port "uplink" bridged (br0) over <paramref name="members"/>.</summary>
    public Replug.Agent.Hosting.AgentOptions AgentWithBridgedPort(string[] members, bool revertive = true)
    {
        var options = new Replug.Agent.Hosting.AgentOptions
        {
            Host = Name,
            SysfsRoot = SysfsRoot,
            NetworkNamespace = Name,
            Subsystems = [Replug.Shared.Devices.Subsystems.Net],
            Ports =
            [
                new Replug.Agent.Hosting.AgentOptions.PortOptions
                {
                    Name = "uplink", Devices = [.. members.Select(m => $"net/{m}")], Revertive = revertive,
                    DataPath = new Replug.Agent.Hosting.AgentOptions.DataPathOptions { Kind = "bridge", Bridge = "br0" },
                },
            ],
        };
        Xunit.Assert.Empty(options.Validate());
        return options;
    }

    public void Dispose()
    {
        if (_sysfsRoot is not null)
        {
            Shell.TryRun("umount", $"-l {_sysfsRoot}", out _);
            try { Directory.Delete(_sysfsRoot); } catch (IOException) { }
        }
        Shell.TryRun("ip", $"netns del {Name}", out _);
    }
}

public static class Shell
{
    public static string Run(string file, string args)
    {
        if (!TryRun(file, args, out var output)) throw new InvalidOperationException($"{file} {args} failed: {output}");
        return output;
    }

    public static bool TryRun(string file, string args, out string output)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        if (!p.WaitForExit(30_000)) { p.Kill(true); output = "timed out"; return false; }
        output = p.ExitCode == 0 ? stdout.Result : stderr + stdout.Result;
        return p.ExitCode == 0;
    }
}

/// <summary>Why a test that needs the real kernel cannot run here, or null when it can.</summary>
public static class KernelRequirements
{
    public static string? MissingReason()
    {
        if (!OperatingSystem.IsLinux()) return "needs Linux (netlink, network namespaces)";
        if (Libc.geteuid() != 0) return "needs root (network namespaces, netlink multicast)";
        if (!Shell.TryRun("ip", "-V", out _)) return "needs iproute2 ('ip')";
        return null;
    }
}

/// <summary>A fact that runs only as root on Linux, and says why when it skips.</summary>
public sealed class KernelFactAttribute : FactAttribute
{
    public KernelFactAttribute()
    {
        var reason = KernelRequirements.MissingReason();
        if (reason is not null) Skip = reason;
    }
}
