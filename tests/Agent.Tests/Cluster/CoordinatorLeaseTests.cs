using Replug.Agent.Cluster;
using Replug.Shared.Devices;

namespace Replug.Agent.Tests.Cluster;

public sealed class CoordinatorLeaseTests
{
    private static readonly PortId P1 = new("p1"), P2 = new("p2");
    private static TimeSpan S(double seconds) => TimeSpan.FromSeconds(seconds);

    [Fact]
    public void A_grant_runs_from_when_its_request_was_sent_not_from_when_it_arrived()
    {
        var lease = new CoordinatorLease();
        var sequence = lease.Ask(S(10));
        Assert.True(lease.Granted(sequence, S(2), [P1], now: S(11.5)));
        Assert.Equal(S(12), lease.EndsAt);
        Assert.True(lease.Holds(S(11.9)));
        Assert.False(lease.Holds(S(12)));
        Assert.Equal([P1], lease.Allowed);
    }

    [Fact]
    public void An_answer_to_an_older_request_than_one_already_answered_changes_nothing()
    {
        var lease = new CoordinatorLease();
        var first = lease.Ask(S(1));
        var second = lease.Ask(S(2));
        Assert.True(lease.Granted(second, S(2), [P2], S(2.1)));
        Assert.False(lease.Granted(first, S(2), [P1], S(2.2)));
        Assert.Equal([P2], lease.Allowed);
        Assert.False(lease.Granted(second, S(2), [P1], S(2.3)), "answered already");
        Assert.False(lease.Granted(99, S(2), [P1], S(2.3)), "never asked");
    }

    [Fact]
    public void A_later_grant_never_shortens_the_lease_and_the_newest_ports_win()
    {
        var lease = new CoordinatorLease();
        var a = lease.Ask(S(5));
        var b = lease.Ask(S(6));
        Assert.True(lease.Granted(b, S(2), [P1], S(6.1)));
        Assert.Equal(S(8), lease.EndsAt);
        var c = lease.Ask(S(6.5));
        Assert.True(lease.Granted(c, S(1), [P2], S(6.6)));
        Assert.Equal(S(8), lease.EndsAt);
        Assert.Equal([P2], lease.Allowed);
        Assert.False(lease.Granted(a, S(10), [P1], S(6.7)));
    }

    [Fact]
    public void Revoking_forgets_the_lease_and_the_answers_still_on_their_way()
    {
        var lease = new CoordinatorLease();
        var asked = lease.Ask(S(1));
        lease.Revoke();
        Assert.False(lease.Granted(asked, S(2), [P1], S(1.1)), "asked before the fence: does not lift it");
        Assert.Null(lease.EndsAt);
        Assert.Empty(lease.Allowed);
    }

    [Fact]
    public void Only_the_newest_requests_are_kept_waiting()
    {
        var lease = new CoordinatorLease();
        var oldest = lease.Ask(S(0));
        for (var i = 0; i < CoordinatorLease.RequestsKept; i++) lease.Ask(S(i));
        Assert.False(lease.Granted(oldest, S(2), [P1], S(100)));
    }

    [Fact]
    public void The_coordinators_word_between_grants_allows_and_disallows_ports()
    {
        var lease = new CoordinatorLease();
        lease.AllowOnly([P1]);
        lease.Allow(P2);
        lease.Disallow(P1);
        Assert.Equal([P2], lease.Allowed);
    }
}
