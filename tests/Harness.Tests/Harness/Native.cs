using System.Runtime.InteropServices;

namespace Replug.Harness;

/// <summary>
/// The libc calls the traffic probe needs: raw AF_PACKET sockets (which .NET's Socket does not
/// bind to an interface index), a classic BPF filter, poll, and setns for the threads that live
/// in a host's or the fabric's network namespace.
/// </summary>
internal static unsafe partial class Native
{
    public const int AF_PACKET = 17;
    public const int SOCK_RAW = 3;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int SOCK_NONBLOCK = 0x800;
    public const int SOL_SOCKET = 1;
    public const int SO_RCVBUF = 8;
    public const int SO_SNDBUF = 7;
    public const int SO_RCVBUFFORCE = 33;
    public const int SO_ATTACH_FILTER = 26;
    public const int MSG_DONTWAIT = 0x40;
    public const int EAGAIN = 11;
    public const int EINTR = 4;
    public const int ENOBUFS = 105;
    public const int O_RDONLY = 0;
    public const int O_CLOEXEC = 0x80000;
    public const int CLONE_NEWNET = 0x40000000;
    public const short POLLIN = 0x001;
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;
    public const int SIGCONT = 18;
    public const int SIGSTOP = 19;

    [StructLayout(LayoutKind.Sequential)]
    public struct SockaddrLl
    {
        public ushort Family;
        public ushort Protocol; // network byte order
        public int IfIndex;
        public ushort HaType;
        public byte PktType;
        public byte HaLen;
        public fixed byte Addr[8];
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct SockFilter
    {
        public ushort Code;
        public byte Jt;
        public byte Jf;
        public uint K;

        public SockFilter(ushort code, byte jt, byte jf, uint k) { Code = code; Jt = jt; Jf = jf; K = k; }
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct SockFprog
    {
        public ushort Length;
        public SockFilter* Filter;
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
    public static partial int bind(int fd, SockaddrLl* addr, int addrLength);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setsockopt(int fd, int level, int name, void* value, int valueLength);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint send(int fd, void* buffer, nuint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint recv(int fd, void* buffer, nuint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setns(int fd, int nsType);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial uint if_nametoindex(string name);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int kill(int pid, int signal);

    [LibraryImport("libc")]
    public static partial uint geteuid();

    public const int SCHED_FIFO = 1;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int sched_setscheduler(int pid, int policy, int* param);

    /// <summary>
    /// Real-time (SCHED_FIFO) scheduling for the calling thread (pid 0 = the caller): the probe's
    /// threads sleep or block nearly always, and must not be starved by the five Replug processes
    /// and whatever else shares the two cores, or the probe would see gaps that are its own. Best
    /// effort: false when not allowed.
    /// </summary>
    public static bool MakeRealTime(int priority)
    {
        var p = priority;
        return sched_setscheduler(0, SCHED_FIFO, &p) == 0;
    }

    public static int LastError => Marshal.GetLastPInvokeError();

    public static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";

    public static ushort HostToNetwork(ushort value) => (ushort)((value << 8) | (value >> 8));

    /// <summary>
    /// Moves the calling thread into network namespace <paramref name="name"/> (/var/run/netns/NAME)
    /// for good: only for threads made for that namespace, never a pool thread.
    /// </summary>
    public static void EnterNetworkNamespace(string name)
    {
        var fd = open(Path.Combine("/var/run/netns", name), O_RDONLY | O_CLOEXEC);
        if (fd < 0) throw new IOException($"network namespace {name} not found: {Describe(LastError)}");
        try
        {
            if (setns(fd, CLONE_NEWNET) != 0) throw new IOException($"cannot enter network namespace {name}: {Describe(LastError)}");
        }
        finally { close(fd); }
    }
}
