using Replug.Shared.Protocol;

namespace Replug.Agent.Cluster;

/// <summary>What the ledger says about one command.</summary>
public abstract record LedgerVerdict
{
    /// <summary>New and of a current epoch: carry it out, then record it with <see cref="CommandLedger.Applied"/>.</summary>
    public sealed record Apply : LedgerVerdict;

    /// <summary>Already applied (a retry): acknowledge it again, change nothing.</summary>
    public sealed record Duplicate : LedgerVerdict;

    /// <summary>Of an epoch older than the newest seen: a coordinator that lost its role sent it.</summary>
    public sealed record Refuse(string Reason, long NewestEpoch) : LedgerVerdict;

    /// <summary>
    /// This command was refused before (fenced, no free device): every copy gets the same answer, so a
    /// delayed refusal can never contradict a later copy's acknowledgement.
    /// </summary>
    public sealed record RefusedBefore(string Reason) : LedgerVerdict;

    public static readonly LedgerVerdict Applies = new Apply();
    public static readonly LedgerVerdict Repeated = new Duplicate();
}

/// <summary>
/// The agent's memory of the coordinator's commands, as a pure decision: a command of an epoch
/// older than the newest one seen is refused (it comes from an instance that lost the singleton);
/// a command already applied is a retry and is only acknowledged. Memory is bounded: the oldest
/// ids are forgotten first, well after the coordinator has stopped retrying them. Lives in the
/// agent's process: a restart forgets it (the coordinator's new epoch and the registration's
/// owned ports reconcile what a forgotten retry could otherwise redo).
/// </summary>
public sealed class CommandLedger
{
    public const int DefaultCapacity = 10_000;

    private readonly HashSet<CommandId> _applied = [];
    private readonly Dictionary<CommandId, string> _refused = [];
    private readonly Queue<CommandId> _order = new();

    public CommandLedger(int capacity = DefaultCapacity) =>
        Capacity = capacity > 0 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity));

    public int Capacity { get; }

    /// <summary>The newest epoch seen in a command or a registration: the bar for later commands.</summary>
    public long NewestEpoch { get; private set; }

    /// <summary>How many command ids are remembered now (at most <see cref="Capacity"/>).</summary>
    public int Remembered => _applied.Count;

    /// <summary>An epoch heard outside a command (a registration's answer) raises the bar too; an older one changes nothing.</summary>
    public void Observe(long epoch) => NewestEpoch = Math.Max(NewestEpoch, epoch);

    /// <summary>
    /// Judges a command as it arrives. The epoch check comes first, so a retry of an applied
    /// command that now carries an old epoch is refused rather than acknowledged.
    /// </summary>
    public LedgerVerdict Admit(CommandId id, long epoch)
    {
        if (epoch < NewestEpoch) return new LedgerVerdict.Refuse($"epoch {epoch} is older than {NewestEpoch}", NewestEpoch);
        NewestEpoch = epoch;
        if (_applied.Contains(id)) return LedgerVerdict.Repeated;
        return _refused.TryGetValue(id, out var reason) ? new LedgerVerdict.RefusedBefore(reason) : LedgerVerdict.Applies;
    }

    /// <summary>The command was admitted but could not be carried out: its later copies are refused alike.</summary>
    public void Refused(CommandId id, string reason)
    {
        if (_applied.Contains(id) || !_refused.TryAdd(id, reason)) return;
        _order.Enqueue(id);
        Trim();
    }

    /// <summary>The command was carried out: a retry of it is only acknowledged from now on.</summary>
    public void Applied(CommandId id)
    {
        if (!_applied.Add(id)) return;
        _order.Enqueue(id);
        Trim();
    }

    private void Trim()
    {
        while (_order.Count > Capacity)
        {
            var oldest = _order.Dequeue();
            _applied.Remove(oldest);
            _refused.Remove(oldest);
        }
    }

    public bool WasApplied(CommandId id) => _applied.Contains(id);
}
