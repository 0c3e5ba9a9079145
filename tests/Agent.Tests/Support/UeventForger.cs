using System.Text;
using Replug.Agent.Linux;

namespace Replug.Agent.Tests.Support;

/// <summary>
/// A user-space process pretending to be the kernel: a NETLINK_KOBJECT_UEVENT socket bound
/// to a non-zero port id that multicasts a well-formed uevent to group 1. Root (CAP_NET_ADMIN)
/// may send to that group, and listeners receive the message with uid 0 in its credentials;
/// only the sender port id (not 0) gives it away.
/// </summary>
public sealed unsafe class UeventForger : IDisposable
{
    private static int _counter;
    private readonly int _socket;

    /// <summary>Opens the forging socket in <paramref name="networkNamespace"/> (here when null).</summary>
    public UeventForger(string? networkNamespace)
    {
        var (fd, errno) = NetworkNamespace.Run(networkNamespace, () =>
        {
            var s = Libc.socket(Libc.AF_NETLINK, Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC, Libc.NETLINK_KOBJECT_UEVENT);
            return (s, s < 0 ? Libc.LastError : 0);
        });
        if (fd < 0) throw new IOException($"cannot open a forging socket: {Libc.Describe(errno)}");
        _socket = fd;

        // An explicit non-zero port id, like a process that binds its own; port ids are per
        // namespace, so a collision is unlikely, and retried.
        for (var attempt = 0; ; attempt++)
        {
            var portId = (uint)(0x4000_0000 | (Environment.ProcessId & 0xFFFF) << 12 | (Interlocked.Increment(ref _counter) & 0xFFF));
            var address = new Libc.SockaddrNl { Family = Libc.AF_NETLINK, PortId = portId };
            if (Libc.bind(_socket, &address, sizeof(Libc.SockaddrNl)) == 0)
            {
                PortId = portId;
                break;
            }
            var error = Libc.LastError;
            if (error != Libc.EADDRINUSE || attempt == 20)
            {
                Libc.close(_socket);
                throw new IOException($"cannot bind the forging socket: {Libc.Describe(error)}");
            }
        }
    }

    public uint PortId { get; }

    /// <summary>Multicasts <paramref name="message"/> to uevent group 1, as the kernel would.</summary>
    public void Multicast(ReadOnlySpan<byte> message)
    {
        var destination = new Libc.SockaddrNl { Family = Libc.AF_NETLINK, PortId = 0, Groups = 1 };
        fixed (byte* bytes = message)
        {
            var sent = Libc.sendto(_socket, bytes, (nuint)message.Length, 0, &destination, sizeof(Libc.SockaddrNl));
            if (sent < 0) throw new IOException($"cannot multicast the forged uevent: {Libc.Describe(Libc.LastError)}");
        }
    }

    /// <summary>A well-formed "add" of a net device, in the kernel's wire format.</summary>
    public static byte[] FakeNetAdd(string interfaceName, ulong seqNum, int ifIndex = 4242) =>
        Encoding.UTF8.GetBytes(
            $"add@/devices/virtual/net/{interfaceName}\0ACTION=add\0DEVPATH=/devices/virtual/net/{interfaceName}\0" +
            $"SUBSYSTEM=net\0INTERFACE={interfaceName}\0IFINDEX={ifIndex}\0SEQNUM={seqNum}\0");

    public void Dispose() => Libc.close(_socket);
}
