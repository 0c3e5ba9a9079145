using Replug.Shared.Protocol;

namespace Replug.Coordinator.Deciding;

/// <summary>Everything the coordinator decides on: one input, one <see cref="CoordinatorDecider.Decide"/>.</summary>
public interface ICoordinatorInput;

/// <summary>
/// The coordinator's inputs, as the decider sees them: no actor references, no cluster types,
/// addresses as strings ("akka.tcp://replug@host:port"), so the simulation can feed the same
/// decider as the actor does.
/// </summary>
public static class CoordinatorInputs
{
    /// <summary>A new instance finished recovering its journal on <paramref name="Node"/>: it starts a new epoch.</summary>
    public sealed record Recovered(string Node) : ICoordinatorInput;

    /// <summary>A message from an agent (registration, reports, command answers).</summary>
    public sealed record FromHost(IHostMessage Message) : ICoordinatorInput;

    /// <summary>An operator's request (drain, undrain, migration notice); answered with a <see cref="Reply"/>.</summary>
    public sealed record FromOperator(IOperatorMessage Message) : ICoordinatorInput;

    /// <summary>An operator's request through the API that the coordinator decides on (planned hot plug, policies); answered with a <see cref="Reply"/>.</summary>
    public sealed record FromApi(Singleton.ICoordinatorRequest Request) : ICoordinatorInput;

    /// <summary>The policies' timer: judge the cluster and record (advise) or carry out (auto) each verdict.</summary>
    public sealed record PolicyTick : ICoordinatorInput
    {
        public static readonly PolicyTick Instance = new();
    }

    /// <summary>
    /// The whole membership as this node sees it (at subscription and after a hand-over): hosts
    /// whose address is not among <paramref name="Members"/> are gone, even if their removal
    /// happened while no instance was listening.
    /// </summary>
    /// <param name="Members">The members that count for a majority (Up, Leaving).</param>
    /// <param name="NotYetUp">Members that joined but do not count yet (Joining, WeaklyUp): present, not gone.</param>
    public sealed record Membership(IReadOnlyCollection<string> Members, IReadOnlyCollection<string> Unreachable,
        IReadOnlyCollection<string>? NotYetUp = null) : ICoordinatorInput;

    /// <summary>A node became a member (an agent's host, or another coordinator node): it counts towards the majority.</summary>
    /// <param name="Uid">The member's incarnation (Akka's UniqueAddress uid); 0: unknown.</param>
    public sealed record MemberUp(string Address, long Uid = 0) : ICoordinatorInput;

    public sealed record MemberUnreachable(string Address) : ICoordinatorInput;
    public sealed record MemberReachable(string Address) : ICoordinatorInput;

    /// <summary>
    /// The member left, was downed or removed. <paramref name="Left"/>: it left on its own (Exiting),
    /// and its agent stopped its ports before it did. Otherwise (downed, or removed without leaving)
    /// its agent may still be forwarding: it learns of the down only if it still hears the cluster,
    /// and a process that is cut off or stopped keeps its kernel lease until it runs out.
    /// </summary>
    /// <param name="Uid">The incarnation that went (0: unknown): a late removal of an old incarnation
    /// must not take a new one that is up at the same address.</param>
    public sealed record MemberGone(string Address, string How, bool Left = false, long Uid = 0) : ICoordinatorInput;

    /// <summary>
    /// Time passed: leases that ran out, NIC windows that closed, commands due for a retry,
    /// deferred escalations whose reason went away. The actor sends one at
    /// <see cref="Singleton.CoordinatorState.NextDeadline"/>.
    /// </summary>
    public sealed record Tick : ICoordinatorInput
    {
        public static readonly Tick Instance = new();
    }
}
