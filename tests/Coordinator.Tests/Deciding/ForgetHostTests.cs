using Replug.Coordinator.Deciding;
using Replug.Coordinator.Planning;
using Replug.Coordinator.Singleton;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using static Replug.Coordinator.Singleton.CoordinatorEvents;
using static Replug.Coordinator.Tests.Deciding.DeciderHarness;

namespace Replug.Coordinator.Tests.Deciding;

/// <summary>An operator forgets a Down host (DELETE /hosts/{host}): only when nothing of the cluster's would be lost with it.</summary>
public sealed class ForgetHostTests
{
    private static readonly HostId A = new("a"), B = new("b");

    /// <summary>Host a carries p1; host b has a fail-over slot for it.</summary>
    private static DeciderHarness TwoHosts(int slotsOnB = 1)
    {
        var c = new DeciderHarness();
        c.Start();
        c.Register(A, 0, [Nic("n1", "52:54:00:00:00:01")], [Port("p1", "n1")]);
        c.Register(B, slotsOnB, [Nic("m1", "52:54:00:00:01:01")], []);
        c.ClearSent();
        return c;
    }

    private static object Forget(DeciderHarness c, HostId host) =>
        Assert.Single(c.Decide(new CoordinatorInputs.FromApi(new CoordinatorRequests.ForgetHost(host, "'ops' at 127.0.0.1"))).Messages
            .OfType<Outbound.Reply>()).Message;

    private static void Lose(DeciderHarness c, HostId host) =>
        c.Decide(new CoordinatorInputs.MemberGone(AddressOf(host), "left the cluster", Left: true));

    [Fact]
    public void A_down_host_whose_ports_went_elsewhere_is_forgotten_with_its_NICs_and_journaled()
    {
        var c = TwoHosts();
        Lose(c, A);
        c.AcknowledgeAll(B);
        Assert.Equal(B, c.State.Ports[new PortId("p1")].Host);

        var answer = Assert.IsType<CoordinatorRequests.HostForgottenView>(Forget(c, A));

        Assert.True(answer.Forgotten);
        Assert.False(c.State.Hosts.ContainsKey(A));
        Assert.DoesNotContain(c.State.Nics.Locations, l => l.Host == A);
        Assert.Equal(B, c.State.Ports[new PortId("p1")].Home);
        Assert.Equal("'ops' at 127.0.0.1", Assert.IsType<HostForgotten>(c.Journal[^1]).By);
        c.AssertReplayMatches();
    }

    [Fact]
    public void A_host_that_is_up_cannot_be_forgotten_and_an_unknown_one_is_a_404()
    {
        var c = TwoHosts();
        var journal = c.Journal.Count;

        var up = Assert.IsType<CoordinatorRequests.Refused>(Forget(c, A));
        var unknown = Assert.IsType<CoordinatorRequests.Refused>(Forget(c, new HostId("nowhere")));

        Assert.Equal(409, up.Status);
        Assert.Contains("host a is Up: only a Down host can be forgotten", up.Reason);
        Assert.Equal(404, unknown.Status);
        Assert.Equal(journal, c.Journal.Count);
    }

    [Fact]
    public void A_down_host_still_holding_a_port_that_found_no_other_host_is_not_forgotten_so_the_port_is_not_lost()
    {
        var c = TwoHosts(slotsOnB: 0);
        Lose(c, A);
        Assert.Equal(PortState.Unplaced, c.State.Ports[new PortId("p1")].State);

        var refused = Assert.IsType<CoordinatorRequests.Refused>(Forget(c, A));

        Assert.Equal(409, refused.Status);
        Assert.Contains("still holds port(s) p1", refused.Reason);
        Assert.True(c.State.Hosts.ContainsKey(A));
    }

    [Fact]
    public void A_forgotten_host_that_comes_back_registers_as_a_new_host()
    {
        var c = TwoHosts();
        Lose(c, A);
        c.AcknowledgeAll(B);
        Forget(c, A);

        c.Register(A, 0, [Nic("n1", "52:54:00:00:00:01")], [], incarnation: 2);

        Assert.Equal(HostStatus.Up, c.State.Hosts[A].Status);
        c.AssertReplayMatches();
    }
}
