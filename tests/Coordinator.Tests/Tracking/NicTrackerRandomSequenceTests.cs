using Replug.Coordinator.Tracking;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;

namespace Replug.Coordinator.Tests.Tracking;

/// <summary>
/// Seeded random sequences of adds, removals, notices and expiries over a few NICs and hosts, checking the
/// tracker's invariants after every step against a model built only from its verdicts.
/// </summary>
public sealed class NicTrackerRandomSequenceTests
{
    private static readonly NicTrackerOptions Options = new(TimeSpan.FromSeconds(5))
    {
        AnnouncedTimeout = TimeSpan.FromSeconds(50),
        FaultMemory = TimeSpan.FromSeconds(30),
    };
    private static readonly NicIdentity[] Nics = Enumerable.Range(1, 4).Select(i => new NicIdentity(NicIdentityKind.PermanentMac, $"52:54:00:00:00:0{i}")).ToArray();
    private static readonly HostId[] Hosts = Enumerable.Range(1, 4).Select(i => new HostId($"host-{i}")).ToArray();
    private static readonly DeviceId[] Devices = [DeviceId.Net("eth0"), DeviceId.Net("eth1")];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(42)]
    [InlineData(1234)]
    [InlineData(98765)]
    public void Random_report_sequences_keep_the_tracker_invariants(int seed)
    {
        var random = new Random(seed);
        var tracker = new NicTracker(Options);
        var twin = NicTracker.FromSnapshot(tracker.ToSnapshot(), Options);   // restored copies must behave the same
        var model = new Model();
        var now = new DateTimeOffset(2025, 1, 1, 12, 0, 0, TimeSpan.Zero);
        var seen = new HashSet<Type>();

        for (var step = 0; step < 3000; step++)
        {
            now += TimeSpan.FromMilliseconds(random.Next(0, 3000));
            IReadOnlyList<NicVerdict> verdicts, twinVerdicts;
            var roll = random.Next(100);
            if (roll < 15)
            {
                verdicts = tracker.Expire(now);
                twinVerdicts = twin.Expire(now);
            }
            else
            {
                // Usually the actor expires before handing in a report; sometimes its timer is late.
                if (random.Next(10) < 7) { Apply(model, tracker.Expire(now), now, null); twin.Expire(now); }
                var report = roll switch
                {
                    < 50 => Add(random),
                    < 85 => Remove(random, tracker),
                    _ => Notice(random),
                };
                verdicts = [report.ApplyTo(tracker, now)];
                twinVerdicts = [report.ApplyTo(twin, now)];
                if (report is { Kind: "notice", Phase: MigrationPhase.Complete or MigrationPhase.Abort } && verdicts[0] is not NicVerdict.Ignored)
                    model.Announcements.Remove(report.Nic);   // a complete or abort that was heeded ends the announcement
            }
            Assert.Equal(string.Join("\n", verdicts.Select(Describe)), string.Join("\n", twinVerdicts.Select(Describe)));
            Apply(model, verdicts, now, seen);
            CheckInvariants(tracker, model, $"seed {seed}, step {step}");
            if (random.Next(40) == 0) twin = NicTracker.FromSnapshot(tracker.ToSnapshot(), Options);
        }

        Apply(model, tracker.Expire(now + TimeSpan.FromDays(1)), now + TimeSpan.FromDays(1), seen);
        var end = tracker.ToSnapshot();
        Assert.Empty(model.PendingRemovals);                 // every removal ended
        Assert.All(end.Placements, p => Assert.Equal(NicPlacementState.Present, p.State));
        Assert.Empty(end.Announcements);
        Assert.Empty(end.Faults);
        Assert.Null(tracker.NextDeadline);
        foreach (var kind in new[] { typeof(NicVerdict.Migrated), typeof(NicVerdict.Faulted), typeof(NicVerdict.Replugged), typeof(NicVerdict.RemovalPending), typeof(NicVerdict.ArrivalPending) })
            Assert.Contains(kind, seen);
    }

    /// <summary>One report or notice, applied alike to the tracker and its restored twin.</summary>
    private sealed record Report(string Kind, NicIdentity Nic, HostId Host, DeviceId Device, HostId To, MigrationPhase Phase)
    {
        public NicVerdict ApplyTo(NicTracker tracker, DateTimeOffset at) => Kind switch
        {
            "add" => tracker.OnAdded(Host, Device, Nic, at),
            "remove" => tracker.OnRemoved(Host, Device, Nic, at),
            _ => tracker.Announce(Nic, Host, To, Phase, at),
        };
    }

    private static Report Add(Random random) =>
        new("add", Pick(random, Nics), Pick(random, Hosts), Pick(random, Devices), default, default);

    private static Report Remove(Random random, NicTracker tracker)
    {
        // Mostly removals of something the tracker holds (any state), sometimes a stray one.
        var placements = tracker.ToSnapshot().Placements;
        if (placements.Count > 0 && random.Next(10) < 8)
        {
            var p = placements[random.Next(placements.Count)];
            return new Report("remove", p.Nic, p.Host, p.Device, default, default);
        }
        return new Report("remove", Pick(random, Nics), Pick(random, Hosts), Pick(random, Devices), default, default);
    }

    private static Report Notice(Random random) =>
        new("notice", Pick(random, Nics), Pick(random, Hosts), default, Pick(random, Hosts), (MigrationPhase)random.Next(3));

    private static T Pick<T>(Random random, T[] items) => items[random.Next(items.Length)];

    private static void Apply(Model model, IReadOnlyList<NicVerdict> verdicts, DateTimeOffset now, HashSet<Type>? seen)
    {
        foreach (var verdict in verdicts)
        {
            seen?.Add(verdict.GetType());
            switch (verdict)
            {
                case NicVerdict.RemovalPending r:
                    model.PendingRemovals.Add((r.Nic, r.Host));
                    break;
                case NicVerdict.Migrated m:
                    model.PendingRemovals.Remove((m.Nic, m.From));
                    break;
                case NicVerdict.Replugged r:
                    model.PendingRemovals.Remove((r.Location.Nic, r.Location.Host));
                    break;
                case NicVerdict.Faulted f:
                    Assert.True(model.PendingRemovals.Remove((f.Nic, f.Host)), $"{f.Nic} faulted on {f.Host} without a pending removal");
                    if (model.Announcements.TryGetValue(f.Nic, out var a))
                        Assert.False(a.From == f.Host && a.Deadline > now, $"{f.Nic} faulted on {f.Host} during its announced migration");
                    break;
                case NicVerdict.AnnouncementChanged { Status: AnnouncementStatus.Started } s:
                    model.Announcements[s.Nic] = (s.From, s.To, s.Deadline!.Value);
                    break;
                case NicVerdict.AnnouncementChanged { Status: AnnouncementStatus.Lapsed } l:
                    model.Announcements.Remove(l.Nic);
                    break;
            }
        }
    }

    private static void CheckInvariants(NicTracker tracker, Model model, string where)
    {
        var snapshot = tracker.ToSnapshot();

        // Every NIC has at most one location per host.
        var locations = tracker.Locations;
        Assert.True(locations.Select(l => (l.Nic, l.Host)).Distinct().Count() == locations.Count, $"{where}: two locations of one NIC on one host");

        // The departing placements are exactly the removals reported pending and not yet resolved.
        var departing = snapshot.Placements.Where(p => p.State == NicPlacementState.Departing).Select(p => (p.Nic, p.Host)).ToHashSet();
        Assert.True(departing.SetEquals(model.PendingRemovals), $"{where}: departing [{string.Join(", ", departing)}] but pending [{string.Join(", ", model.PendingRemovals)}]");

        // The announcements are exactly those started and not yet ended.
        var announced = snapshot.Announcements.ToDictionary(a => a.Nic, a => (a.From, a.To, a.Deadline));
        Assert.True(announced.Count == model.Announcements.Count && announced.All(a => model.Announcements.TryGetValue(a.Key, out var m) && m == a.Value),
            $"{where}: announcements differ from the model");

        foreach (var group in snapshot.Placements.GroupBy(p => p.Nic))
        {
            var states = group.Select(p => p.State).ToList();
            Assert.False(states.Contains(NicPlacementState.Arriving) && states.Contains(NicPlacementState.Departing), $"{where}: {group.Key} both arriving and departing");
            if (states.Contains(NicPlacementState.Arriving))
                Assert.True(states.Contains(NicPlacementState.Present), $"{where}: {group.Key} arriving while present nowhere");
            // No fault is scheduled before an active announcement of a move from that host ends.
            if (model.Announcements.TryGetValue(group.Key, out var a))
                foreach (var p in group.Where(p => p.State == NicPlacementState.Departing && p.Host == a.From))
                    Assert.True(p.Deadline >= a.Deadline, $"{where}: announced removal of {group.Key} due before its announcement ends");
        }

        // The timer the actor would set is the earliest deadline of anything pending.
        var deadlines = snapshot.Placements.Where(p => p.Deadline is not null).Select(p => p.Deadline!.Value)
            .Concat(snapshot.Announcements.Select(a => a.Deadline)).Concat(snapshot.Faults.Select(f => f.ForgetAt)).ToList();
        Assert.Equal(deadlines.Count == 0 ? null : deadlines.Min(), tracker.NextDeadline);
    }

    private static string Describe(NicVerdict verdict) => verdict is NicVerdict.Duplicated d
        ? $"Duplicated {d.Location} [{string.Join(", ", d.AlsoPresentOn)}] {d.Reason}"
        : verdict.ToString();

    private sealed class Model
    {
        public HashSet<(NicIdentity Nic, HostId Host)> PendingRemovals { get; } = new();
        public Dictionary<NicIdentity, (HostId From, HostId To, DateTimeOffset Deadline)> Announcements { get; } = new();
    }
}
