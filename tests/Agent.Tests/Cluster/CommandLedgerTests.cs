using Replug.Agent.Cluster;
using Replug.Shared.Protocol;

namespace Replug.Agent.Tests.Cluster;

public sealed class CommandLedgerTests
{
    private static CommandId Id(int n) => new(new Guid(n, 0, 0, new byte[8]));

    [Fact]
    public void A_new_command_of_the_current_epoch_is_applied()
    {
        var ledger = new CommandLedger();
        Assert.IsType<LedgerVerdict.Apply>(ledger.Admit(Id(1), 3));
        Assert.Equal(3, ledger.NewestEpoch);
    }

    [Fact]
    public void A_command_of_an_older_epoch_is_refused_with_the_newest_epoch()
    {
        var ledger = new CommandLedger();
        ledger.Admit(Id(1), 5);
        var refused = Assert.IsType<LedgerVerdict.Refuse>(ledger.Admit(Id(2), 4));
        Assert.Equal(5, refused.NewestEpoch);
        Assert.Contains("older", refused.Reason);
    }

    [Fact]
    public void A_registration_epoch_raises_the_bar_but_an_older_one_does_not_lower_it()
    {
        var ledger = new CommandLedger();
        ledger.Observe(7);
        ledger.Observe(2);
        Assert.Equal(7, ledger.NewestEpoch);
        Assert.IsType<LedgerVerdict.Refuse>(ledger.Admit(Id(1), 6));
        Assert.IsType<LedgerVerdict.Apply>(ledger.Admit(Id(1), 7));
    }

    [Fact]
    public void A_retried_command_is_a_duplicate_once_applied()
    {
        var ledger = new CommandLedger();
        Assert.IsType<LedgerVerdict.Apply>(ledger.Admit(Id(1), 1));
        ledger.Applied(Id(1));
        Assert.IsType<LedgerVerdict.Duplicate>(ledger.Admit(Id(1), 1));
    }

    [Fact]
    public void A_command_admitted_but_not_applied_is_admitted_again()
    {
        // The agent refused it after admission (fenced, no free device): a retry must be judged afresh.
        var ledger = new CommandLedger();
        ledger.Admit(Id(1), 1);
        Assert.IsType<LedgerVerdict.Apply>(ledger.Admit(Id(1), 1));
    }

    [Fact]
    public void A_retry_carried_by_a_newer_epoch_is_still_a_duplicate()
    {
        // A new coordinator instance re-sends the commands in flight with its own epoch and the same id.
        var ledger = new CommandLedger();
        ledger.Admit(Id(1), 1);
        ledger.Applied(Id(1));
        Assert.IsType<LedgerVerdict.Duplicate>(ledger.Admit(Id(1), 2));
        Assert.Equal(2, ledger.NewestEpoch);
    }

    [Fact]
    public void An_applied_command_of_an_old_epoch_is_refused_not_acknowledged()
    {
        var ledger = new CommandLedger();
        ledger.Admit(Id(1), 1);
        ledger.Applied(Id(1));
        ledger.Observe(2);
        Assert.IsType<LedgerVerdict.Refuse>(ledger.Admit(Id(1), 1));
    }

    [Fact]
    public void Memory_is_bounded_and_forgets_the_oldest_ids_first()
    {
        var ledger = new CommandLedger(capacity: 3);
        for (var i = 1; i <= 4; i++)
        {
            ledger.Admit(Id(i), 1);
            ledger.Applied(Id(i));
        }
        Assert.Equal(3, ledger.Remembered);
        Assert.False(ledger.WasApplied(Id(1)));
        Assert.IsType<LedgerVerdict.Duplicate>(ledger.Admit(Id(4), 1));
        Assert.IsType<LedgerVerdict.Apply>(ledger.Admit(Id(1), 1));
    }

    [Fact]
    public void Recording_an_id_twice_keeps_one_place_in_memory()
    {
        var ledger = new CommandLedger(capacity: 2);
        ledger.Applied(Id(1));
        ledger.Applied(Id(1));
        ledger.Applied(Id(2));
        Assert.True(ledger.WasApplied(Id(1)));
        Assert.True(ledger.WasApplied(Id(2)));
    }

    [Fact]
    public void A_capacity_below_one_is_rejected() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new CommandLedger(0));

    [Fact]
    public void A_command_refused_once_is_refused_again_with_the_same_reason_and_never_applied()
    {
        var ledger = new CommandLedger();
        Assert.IsType<LedgerVerdict.Apply>(ledger.Admit(Id(1), 2));
        ledger.Refused(Id(1), "no free device for another port");

        var again = Assert.IsType<LedgerVerdict.RefusedBefore>(ledger.Admit(Id(1), 2));
        Assert.Equal("no free device for another port", again.Reason);
        Assert.False(ledger.WasApplied(Id(1)));
    }

    [Fact]
    public void Refused_commands_count_towards_the_bound_like_applied_ones()
    {
        var ledger = new CommandLedger(capacity: 2);
        ledger.Refused(Id(1), "fenced");
        ledger.Applied(Id(2));
        ledger.Applied(Id(3));

        Assert.IsType<LedgerVerdict.Apply>(ledger.Admit(Id(1), 0));
        Assert.True(ledger.WasApplied(Id(3)));
    }
}
