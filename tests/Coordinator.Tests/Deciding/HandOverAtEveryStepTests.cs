using Replug.Coordinator.Deciding;
using Replug.Coordinator.Planning;
using Replug.Coordinator.Singleton;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using static Replug.Coordinator.Tests.Deciding.DeciderHarness;
using static Replug.Shared.Protocol.HostProtocol;

namespace Replug.Coordinator.Tests.Deciding;

/// <summary>
/// A fail-over with a refusal and a returning host, cut by a hand-over after each of its steps:
/// the new instance, rebuilt from the journal alone, must finish exactly as an uninterrupted one.
/// </summary>
public sealed class HandOverAtEveryStepTests
{
    private static readonly HostId A = new("a"), B = new("b"), C = new("c");

    private static readonly (string Name, Action<DeciderHarness> Run)[] Steps =
    [
        ("register", c =>
        {
            c.Register(A, 0, [Nic("n1", "52:54:00:00:00:01")], [Port("p1", "n1"), Port("p2", "n1")]);
            c.Register(B, 2, [], []);
            c.Register(C, 2, [], []);
        }),
        ("a unreachable", c => c.Decide(new CoordinatorInputs.MemberUnreachable(AddressOf(A)))),
        ("lease runs out", c => c.Advance(c.Decider.Settings.FailOverAfter + TimeSpan.FromMilliseconds(10))),
        ("b refuses", c =>
        {
            foreach (var command in c.State.PendingCommands.Values.Where(p => p.Host == B).ToList())
                c.FromHost(new CommandRefused(command.Id, B, "no free device for another port", c.State.Epoch, c.State.Epoch));
        }),
        ("retries pass", c => c.Advance(TimeSpan.FromSeconds(2))),
        ("c attaches", c => c.AcknowledgeAll(C)),
        ("a returns", c => c.Register(A, 0, [Nic("n1", "52:54:00:00:00:01")], [Port("p1", "n1"), Port("p2", "n1")], incarnation: 2)),
        ("a detaches", c => c.AcknowledgeAll(A)),
    ];

    private static DeciderHarness Run(int? handOverAfter)
    {
        var c = new DeciderHarness();
        c.Start();
        for (var i = 0; i < Steps.Length; i++)
        {
            Steps[i].Run(c);
            c.AssertReplayMatches();
            if (i != handOverAfter) continue;
            c.HandOver();
            c.AssertReplayMatches();
        }
        return c;
    }

    private static object Outcome(CoordinatorState state) => new
    {
        Ports = state.Ports.Values.OrderBy(p => p.Spec.Port.Value).Select(p => $"{p.Spec.Port} {p.State} on {p.Host}").ToList(),
        Failovers = state.Failovers.Values.OrderBy(f => f.Port.Port.Value).Select(f => $"{f.Port.Port} {f.Status} on {f.Target} excluding [{string.Join(",", f.Excluded ?? [])}]").ToList(),
        Owed = state.PendingCommands.Count,
        Hosts = state.Hosts.Values.OrderBy(h => h.Host.Value).Select(h => $"{h.Host} {h.Status}").ToList(),
    };

    public static TheoryData<int> Cuts() => [.. Enumerable.Range(0, Steps.Length)];

    [Theory]
    [MemberData(nameof(Cuts))]
    public void A_hand_over_after_any_step_finishes_the_fail_over_as_without_one(int cut)
    {
        var reference = Run(null);
        var cutOver = Run(cut);

        Assert.Equivalent(Outcome(reference.State), Outcome(cutOver.State), strict: true);
        Assert.Equal(reference.State.Epoch + 1, cutOver.State.Epoch);
        Assert.All(cutOver.State.Ports.Values, p => Assert.Equal((PortState.Active, C), (p.State, p.Host)));
        // Never attached where it was refused, never twice on its target.
        Assert.All(cutOver.Sent.OfType<Outbound.ToHost>().Where(m => m.Message is AttachPort), m => Assert.NotEqual(A, m.Host));
        Assert.Equal(2, cutOver.Sent.OfType<Outbound.ToHost>().Select(m => m.Message).OfType<AttachPort>()
            .Where(a => cutOver.State.Failovers.Values.Any(f => f.Command == a.Id && f.Target == C)).Select(a => a.Id).Distinct().Count());
    }
}
