using System.Runtime.InteropServices;

namespace Replug.Agent.Linux;

/// <summary>
/// The libc calls Replug needs and .NET's Socket cannot make (it refuses AF_NETLINK).
/// One place for them, so netlink sources, rtnetlink and namespace code share one set.
/// </summary>
internal static unsafe partial class Libc
{
    public const int AF_NETLINK = 16;
    public const int SOCK_DGRAM = 2;
    public const int SOCK_RAW = 3;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int NETLINK_ROUTE = 0;
    public const int NETLINK_KOBJECT_UEVENT = 15;

    public const int SOL_SOCKET = 1;
    public const int SO_RCVBUF = 8;
    public const int SO_PASSCRED = 16;
    public const int SO_RCVBUFFORCE = 33;
    public const int SO_RCVTIMEO = 20;
    public const int SCM_CREDENTIALS = 2;

    // netlink(7) socket options, level SOL_NETLINK (include/uapi/linux/netlink.h).
    public const int SOL_NETLINK = 270;
    public const int NETLINK_CAP_ACK = 10;
    public const int NETLINK_EXT_ACK = 11;

    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_TRUNC = 0x20;
    public const int MSG_CTRUNC = 0x08;

    public const int EINTR = 4;
    public const int EAGAIN = 11;
    public const int ENODEV = 19;
    public const int ENOBUFS = 105;
    public const int EPERM = 1;
    public const int EBADF = 9;
    public const int ENOMEM = 12;
    public const int ENOTSOCK = 88;
    public const int EADDRINUSE = 98;
    public const int ENOENT = 2;
    public const int ENOTDIR = 20;
    public const int EINVAL = 22;
    public const int EOPNOTSUPP = 95;
    public const int ETIMEDOUT = 110;
    public const int PATH_MAX = 4096;

    public const short POLLIN = 0x001;
    public const short POLLERR = 0x008;
    public const short POLLHUP = 0x010;
    public const short POLLNVAL = 0x020;
    public const int EFD_CLOEXEC = 0x80000;
    public const int EFD_NONBLOCK = 0x800;
    public const int O_RDONLY = 0;
    public const int O_CLOEXEC = 0x80000;
    public const int CLONE_NEWNET = 0x40000000;

    [StructLayout(LayoutKind.Sequential)]
    public struct SockaddrNl
    {
        public ushort Family;
        public ushort Pad;
        public uint PortId;
        public uint Groups;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct CmsgHdr
    {
        public nuint Length;
        public int Level;
        public int Type;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct UCred
    {
        public int Pid;
        public uint Uid;
        public uint Gid;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct TimeVal
    {
        public long Seconds;
        public long Microseconds;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int bind(int fd, SockaddrNl* addr, int addrLength);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getsockname(int fd, SockaddrNl* addr, int* addrLength);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setsockopt(int fd, int level, int name, void* value, int valueLength);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getsockopt(int fd, int level, int name, void* value, int* valueLength);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint recvmsg(int fd, MsgHdr* msg, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint recv(int fd, void* buffer, nuint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint sendto(int fd, void* buffer, nuint length, int flags, SockaddrNl* addr, int addrLength);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int eventfd(uint initial, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint write(int fd, void* buffer, nuint length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setns(int fd, int nsType);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial uint if_nametoindex(string name);

    /// <summary>realpath(3) into a caller's PATH_MAX buffer: every symlink resolved, as the kernel would.</summary>
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial byte* realpath(string path, byte* resolved);

    [LibraryImport("libc")]
    public static partial int getpid();

    [LibraryImport("libc")]
    public static partial uint geteuid();

    public static int LastError => Marshal.GetLastPInvokeError();

    public static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";
}
