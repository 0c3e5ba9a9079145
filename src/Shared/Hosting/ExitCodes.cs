using Akka.Actor;

namespace Replug.Shared.Hosting;

/// <summary>
/// What a Replug process tells its service manager when it stops. systemd (Restart=on-failure)
/// and an operator's script both read these; each names one cause, so a restart loop says why.
/// </summary>
public static class ExitCodes
{
    public const int Stopped = 0;
    /// <summary>A port another process holds (remoting or the HTTP API).</summary>
    public const int AddressInUse = 1;
    public const int BadConfiguration = 2;
    /// <summary>The coordinator could not recover its state from the journal after its allowed attempts.</summary>
    public const int CoordinatorUnrecoverable = 3;
    /// <summary>
    /// The cluster removed this node (the split brain resolver after a cut longer than StableAfter,
    /// or an operator's down): it cannot come back as the same incarnation, only as a new process.
    /// Also a node that finds itself in a second cluster (an agent with no coordinator left, a
    /// coordinator whose journal lock a node outside its cluster holds): restarted, it rejoins
    /// through the seeds. And a node that could not join through its seeds within JoinTimeout.
    /// </summary>
    public const int Downed = 4;

    /// <summary>The code and cause for a coordinated shutdown's reason; null: a plain stop (0).</summary>
    public static (int Code, string Why)? Of(CoordinatedShutdown.Reason? reason) => reason switch
    {
        ExitCodeReason coded => (coded.ExitCode, coded.Why),
        CoordinatedShutdown.ClusterDowningReason => (Downed, "downed: the cluster removed this node; restart it to rejoin as a new incarnation"),
        CoordinatedShutdown.ClusterJoinUnsuccessfulReason => (Downed, "could not join the cluster through its seed nodes within Replug:Cluster:JoinTimeout; restart it to try again"),
        _ => null,
    };
}

/// <summary>
/// A coordinated shutdown that must end the process with <see cref="ExitCode"/>: the host's
/// run loop (<c>AgentHost.RunUntilStopped</c>) returns it instead of 0.
/// </summary>
public sealed class ExitCodeReason(int exitCode, string why) : CoordinatedShutdown.Reason
{
    public override int ExitCode { get; } = exitCode;
    public string Why { get; } = why;
    public override string ToString() => $"exit code {ExitCode}: {Why}";
}
