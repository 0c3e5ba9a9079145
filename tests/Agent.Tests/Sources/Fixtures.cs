namespace Replug.Agent.Tests.Sources;

/// <summary>
/// Captures made on a real kernel (6.18, in a fresh network namespace) at the same time by
/// `udevadm monitor --kernel --property` and a raw netlink socket, while adding a veth pair
/// and a bridge, enslaving and releasing a port, renaming a link (move) and deleting them all:
/// 27 events, SEQNUM 840-866, the same in both files.
/// </summary>
internal static class Fixtures
{
    public const string UdevadmVeth = "udevadm-veth.txt";
    public const string KernelVeth = "kernel-veth.bin";
    public const int VethEventCount = 27;

    public static string PathOf(string name) => Path.Combine(AppContext.BaseDirectory, "Sources", "Fixtures", name);

    public static byte[] Bytes(string name) => File.ReadAllBytes(PathOf(name));
}
