namespace Replug.Agent.Linux;

/// <summary>
/// Runs code inside a named network namespace (/var/run/netns/NAME, as `ip netns add` makes).
/// setns(2) changes only the calling thread, and a socket keeps the namespace it was opened
/// in, so a source or data path opens its socket in there and then reads it from anywhere:
/// that is how one process hosts an agent per namespace (one namespace = one host).
/// </summary>
public static class NetworkNamespace
{
    public const string RunDirectory = "/var/run/netns";

    /// <summary>Runs <paramref name="action"/> in namespace <paramref name="name"/> (or here, when null).</summary>
    public static T Run<T>(string? name, Func<T> action)
    {
        if (string.IsNullOrEmpty(name)) return action();
        if (!Shared.Devices.DeviceNames.IsSafe(name))
            throw new ArgumentException($"invalid network namespace name '{name}'", nameof(name));

        // Work on a dedicated thread: the caller's thread may be a pool thread that must never
        // be left in another namespace if restoring failed.
        T result = default!;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            var original = Libc.open("/proc/thread-self/ns/net", Libc.O_RDONLY | Libc.O_CLOEXEC);
            var target = Libc.open(Path.Combine(RunDirectory, name), Libc.O_RDONLY | Libc.O_CLOEXEC);
            try
            {
                if (original < 0) throw new IOException($"cannot open own network namespace: {Libc.Describe(Libc.LastError)}");
                if (target < 0) throw new IOException($"network namespace '{name}' not found: {Libc.Describe(Libc.LastError)}");
                if (Libc.setns(target, Libc.CLONE_NEWNET) != 0)
                    throw new IOException($"cannot enter network namespace '{name}': {Libc.Describe(Libc.LastError)}");
                try { result = action(); }
                finally { Libc.setns(original, Libc.CLONE_NEWNET); }
            }
            catch (Exception e) { error = e; }
            finally
            {
                if (original >= 0) Libc.close(original);
                if (target >= 0) Libc.close(target);
            }
        }) { IsBackground = true, Name = $"netns-{name}" };
        thread.Start();
        thread.Join();
        if (error is not null) throw error;
        return result;
    }
}
