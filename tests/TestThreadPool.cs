using System.Runtime.CompilerServices;

namespace Replug.Tests;

/// <summary>
/// Test runs start dozens of actor systems, TestKit probes (whose <c>ExpectMsg</c> blocks a thread) and
/// database connections at once on two cores. The thread pool starts with one thread per core and adds
/// about two a second when starved, so in CI an unrelated Npgsql connect once waited 15 s for a thread and
/// timed out before it sent a byte. A service runs one actor system per process; this floor is the test
/// runs' own need.
/// </summary>
internal static class TestThreadPool
{
    private const int Floor = 64;

    [ModuleInitializer]
    internal static void RaiseTheFloor()
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, Floor), Math.Max(io, Floor));
    }
}
