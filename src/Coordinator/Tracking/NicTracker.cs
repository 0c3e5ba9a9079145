using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using static Replug.Coordinator.Tracking.NicVerdict;

namespace Replug.Coordinator.Tracking;

/// <summary>
/// Follows NICs through live migration by their stable identity (<see cref="NicIdentity"/>). Pure: no
/// actors, no I/O, no clock of its own — every call is stamped by its caller, and time only advances when
/// the caller runs <see cref="Expire"/>. Not thread-safe; the coordinator's actor owns it.
/// </summary>
/// <remarks>
/// <para>The rules, per identity (one placement per host, see <see cref="NicPlacementState"/>):</para>
/// <list type="bullet">
/// <item>A removal on A waits one window (<see cref="RemovalPending"/>). An add on another host B before
/// <see cref="Expire"/> reports the end of that window is a <see cref="Migrated"/> A→B; an add on A again is
/// <see cref="Replugged"/> (back in place); nothing is <see cref="Faulted"/>. A later add of a faulted NIC is
/// <see cref="Recovered"/>, on whichever host.</item>
/// <item>The destination often reports first: an add on B while the identity is still present on A waits
/// one window (<see cref="ArrivalPending"/>); A's removal in that time is a <see cref="Migrated"/> A→B.</item>
/// <item>Duplicate identities (cloned VMs, a misconfigured MAC) are never merged. If A never reports the
/// removal, the early arrival on B becomes a location of its own and the identity is
/// <see cref="Duplicated"/>. A removal is only ever paired with an add reported after it (or an early
/// arrival), never with a copy that was already present elsewhere, so removing one of two duplicates is a
/// plain removal — pending, then a fault — and the other copy is named in the reason.
/// <see cref="LocationOf"/> answers only for an identity at one place; see <see cref="LocationsOf"/>.</item>
/// <item>An announced migration (Start A→B) protects A's removal and B's early arrival until
/// <see cref="NicTrackerOptions.AnnouncedTimeout"/> after the start; the pairing is then
/// <see cref="Migrated"/> with <c>Announced</c>. Complete records the NIC on B (if B has not reported it
/// yet, under A's device name until B reports it). Abort returns it to A: a NIC removed from A and not yet
/// on B is a removal again with a fresh window; a NIC already on B moves back to A.</item>
/// <item>Reports are judged by the order they are handed in, not by their stamps: a pending removal pairs
/// with an add until <see cref="Expire"/> reports it. The caller should run <see cref="Expire"/> with its
/// current time before handing in each report, so that a late add finds the fault already reported.</item>
/// <item>Duplicate or stale reports and notices (a second removal, an add already located, a removal of
/// an old device name or of a NIC that has moved on) are <see cref="Ignored"/> and change nothing.</item>
/// </list>
/// <para>Cost: O(1) dictionary work plus O(log n) on the deadline timeline per report; <see cref="Expire"/>
/// is O(expired · log n) and reports each pending item at most once.</para>
/// </remarks>
public sealed class NicTracker
{
    private readonly NicTrackerOptions _options;
    private readonly Dictionary<NicIdentity, Entry> _entries = new();
    private readonly Dictionary<NicIdentity, RememberedFault> _faults = new();
    // Every pending item (departing or arriving placement, announcement, remembered fault) by deadline.
    private readonly SortedSet<Timed> _timeline = new(TimelineOrder.Instance);

    public NicTracker(TimeSpan migrationWindow) : this(new NicTrackerOptions(migrationWindow)) { }

    public NicTracker(NicTrackerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
    }

    public NicTrackerOptions Options => _options;

    /// <summary>How many entries <see cref="ToSnapshot"/> writes, about: one per NIC known, one per fault remembered.</summary>
    public int RecordCount => _entries.Count + _faults.Count;

    private TimeSpan Window => _options.MigrationWindow;

    /// <summary>Every place where a NIC is present (not departing, not arriving). A copy: O(number of NICs).</summary>
    public IReadOnlyCollection<NicLocation> Locations
    {
        get
        {
            var locations = new List<NicLocation>(_entries.Count);
            foreach (var entry in _entries.Values)
                foreach (var placement in entry.Placements)
                    if (placement.State == NicPlacementState.Present) locations.Add(placement.Location());
            return locations;
        }
    }

    /// <summary>Where the NIC is present; null if nowhere, or if the identity is duplicated (see <see cref="LocationsOf"/>).</summary>
    public NicLocation? LocationOf(NicIdentity nic)
    {
        if (!_entries.TryGetValue(nic, out var entry)) return null;
        Placement? found = null;
        foreach (var placement in entry.Placements)
        {
            if (placement.State != NicPlacementState.Present) continue;
            if (found is not null) return null;
            found = placement;
        }
        return found?.Location();
    }

    /// <summary>Every host where the identity is present: more than one is an identity conflict.</summary>
    public IReadOnlyList<NicLocation> LocationsOf(NicIdentity nic)
    {
        if (!_entries.TryGetValue(nic, out var entry)) return [];
        var locations = new List<NicLocation>(entry.Placements.Count);
        foreach (var placement in entry.Placements)
            if (placement.State == NicPlacementState.Present) locations.Add(placement.Location());
        return locations;
    }

    /// <summary>The earliest time at which <see cref="Expire"/> has something to do (for the actor's timer); null if nothing is pending.</summary>
    /// <summary>
    /// Whether <paramref name="device"/> on <paramref name="host"/> still waits for a verdict: it
    /// departed and may yet turn up elsewhere, or an announced migration covers it. A port that
    /// escalates because of such a device may be about to follow it rather than fail over.
    /// O(pending items).
    /// </summary>
    public bool IsAwaitingVerdict(HostId host, DeviceId device)
    {
        foreach (var timed in _timeline)
        {
            switch (timed)
            {
                case Placement { State: NicPlacementState.Departing } p when p.Host == host && p.Device == device:
                    return true;
                case Announcement a when a.From == host && (a.FromDevice is null || a.FromDevice == device)
                                         && _entries.TryGetValue(a.Nic, out var entry) && entry.On(host) is { Device: var d } && d == device:
                    return true;
            }
        }
        return false;
    }

    public DateTimeOffset? NextDeadline => _timeline.Count == 0 ? null : _timeline.Min!.Deadline;

    /// <summary>
    /// Drops every placement on <paramref name="host"/> and every announcement from or to it: an
    /// operator forgot the host, so none of its NICs is anywhere now, and no migration involves it.
    /// </summary>
    public void ForgetHost(HostId host)
    {
        foreach (var (nic, entry) in _entries.ToList())
        {
            foreach (var placement in entry.Placements.Where(p => p.Host == host).ToList())
            {
                Unschedule(placement);
                entry.Placements.Remove(placement);
            }
            if (entry.Announcement is { } a && (a.From == host || a.To == host)) EndAnnouncement(entry, a);
            Cleanup(nic, entry);
        }
        foreach (var (nic, fault) in _faults.Where(f => f.Value.Host == host).ToList())
        {
            Unschedule(fault);
            _faults.Remove(nic);
        }
    }

    /// <summary>A host reports that the NIC <paramref name="nic"/> appeared as <paramref name="device"/>.</summary>
    public NicVerdict OnAdded(HostId host, DeviceId device, NicIdentity nic, DateTimeOffset at)
    {
        if (!_entries.TryGetValue(nic, out var entry))
        {
            entry = new Entry();
            _entries.Add(nic, entry);
        }
        if (entry.On(host) is { } here) return AddedWhereKnown(here, device, at);

        if (entry.Earliest(NicPlacementState.Departing) is { } departed)
        {
            Unschedule(departed);
            entry.Placements.Remove(departed);
            var arrived = Place(entry, nic, host, device, at);
            var announced = IsAnnounced(entry, departed.Host, host);
            return new Migrated(nic, departed.Host, host, device, announced,
                $"{nic} removed from {departed.Host} and added on {host} as {device} within the window"
                + AnnouncementNote(entry, departed.Host, host) + ConflictNote(entry, arrived));
        }

        if (entry.HasPresent)
        {
            // The destination reported first, or this is a second NIC with the same identity: wait for the
            // other host's removal. An announcement of this very move extends the wait.
            var deadline = at + Window;
            var announcement = entry.Announcement is { } a && a.To == host && entry.On(a.From) is { State: NicPlacementState.Present } ? a : null;
            if (announcement is not null) deadline = Max(deadline, announcement.Deadline);
            var arriving = new Placement(nic, host, device, NicPlacementState.Arriving, at) { Announced = announcement is not null };
            entry.Placements.Add(arriving);
            Schedule(arriving, deadline);
            return new ArrivalPending(nic, host, device, deadline,
                $"{nic} added on {host} while still present on {Hosts(entry, NicPlacementState.Present, arriving)}: "
                + $"waiting for its removal there until {deadline:O}"
                + (announcement is not null ? $" (migration from {announcement.From} announced)" : ""));
        }

        var placed = Place(entry, nic, host, device, at);
        if (_faults.Remove(nic, out var fault))
        {
            Unschedule(fault);
            return new Recovered(placed.Location(), fault.Host,
                $"{nic} added on {host} as {device} after its removal from {fault.Host} faulted at {fault.FaultedAt:O}");
        }
        return new Placed(placed.Location(), $"{nic} first seen on {host} as {device}");
    }

    private NicVerdict AddedWhereKnown(Placement here, DeviceId device, DateTimeOffset at)
    {
        var (nic, host) = (here.Nic, here.Host);
        switch (here.State)
        {
            case NicPlacementState.Present when here.DeviceAssumed:
                // A completion notice placed it here before this host reported it.
                var assumed = here.Device;
                here.Device = device;
                here.DeviceAssumed = false;
                return assumed == device
                    ? new Ignored($"{host} confirms {nic} as {device}, where a migration notice placed it")
                    : new Replugged(here.Location(), $"{host} reports {nic} as {device}; the migration notice had assumed {assumed}");

            case NicPlacementState.Present when here.Device == device:
                return new Ignored($"{nic} is already located on {host} as {device}");

            case NicPlacementState.Present:
                // Reordered reports of a rename or re-plug: the new name came before the old one's removal,
                // which will then be stale. One placement per host: the latest name wins.
                var old = here.Device;
                here.Device = device;
                here.Since = at;
                return new Replugged(here.Location(), $"{nic} added on {host} as {device} while located there as {old}: the same NIC under a new name");

            case NicPlacementState.Departing:
                Unschedule(here);
                here.State = NicPlacementState.Present;
                here.Device = device;
                here.Since = at;
                here.Announced = false;
                return new Replugged(here.Location(), $"{nic} removed and added again on {host} within the window (a re-plug or a driver reload)");

            case NicPlacementState.Arriving when here.Device == device:
                return new Ignored($"the arrival of {nic} on {host} as {device} is already pending");

            default:
                here.Device = device;
                return new ArrivalPending(nic, host, device, here.Deadline, $"{nic} is still arriving on {host}, now as {device}");
        }
    }

    /// <summary>A host reports that the NIC <paramref name="nic"/>, known to it as <paramref name="device"/>, disappeared.</summary>
    public NicVerdict OnRemoved(HostId host, DeviceId device, NicIdentity nic, DateTimeOffset at)
    {
        if (!_entries.TryGetValue(nic, out var entry) || entry.On(host) is not { } here)
            return new Ignored($"{nic} is not located on {host}: a stale or unknown removal");

        if (here.State == NicPlacementState.Departing)
            return new Ignored($"the removal of {nic} from {host} is already pending");

        if (here.State == NicPlacementState.Arriving)
        {
            if (here.Device != device)
                return new Ignored($"{nic} is arriving on {host} as {here.Device}, not {device}: a stale removal");
            Unschedule(here);
            entry.Placements.Remove(here);
            return new Ignored($"{nic} added on {host} and removed again before any other host reported a removal: "
                + $"the early arrival is withdrawn; it stays on {Hosts(entry, NicPlacementState.Present, null)}");
        }

        if (here.Device != device && !here.DeviceAssumed)
            return new Ignored($"{nic} is located on {host} as {here.Device}, not {device}: a stale removal");
        here.Device = device;
        here.DeviceAssumed = false;

        if (entry.Earliest(NicPlacementState.Arriving) is { } arrival)
        {
            Unschedule(arrival);
            arrival.State = NicPlacementState.Present;
            arrival.Announced = false;
            entry.Placements.Remove(here);
            return new Migrated(nic, host, arrival.Host, arrival.Device, IsAnnounced(entry, host, arrival.Host),
                $"{nic} added on {arrival.Host} before its removal from {host} was reported"
                + AnnouncementNote(entry, host, arrival.Host) + ConflictNote(entry, arrival));
        }

        var deadline = at + Window;
        var announcement = entry.Announcement is { } a && a.From == host ? a : null;
        if (announcement is not null)
        {
            deadline = Max(deadline, announcement.Deadline);
            announcement.FromDevice = device;
        }
        here.State = NicPlacementState.Departing;
        here.Since = at;
        here.Announced = announcement is not null;
        Schedule(here, deadline);
        return new RemovalPending(nic, host, device, deadline, here.Announced,
            (announcement is not null
                ? $"{nic} removed from {host} during its announced migration to {announcement.To}: no fault until {deadline:O}"
                : $"{nic} removed from {host}: waiting for an add elsewhere until {deadline:O}")
            + ConflictNote(entry, here));
    }

    /// <summary>An orchestrator announces a migration of <paramref name="nic"/> from one host to another.</summary>
    public NicVerdict Announce(NicIdentity nic, HostId from, HostId to, MigrationPhase phase, DateTimeOffset at)
    {
        if (from == to) return new Ignored($"a migration of {nic} from {from} to itself is not a migration");
        return phase switch
        {
            MigrationPhase.Start => Start(nic, from, to, at),
            MigrationPhase.Complete => Complete(nic, from, to, at),
            MigrationPhase.Abort => Abort(nic, from, to, at),
            _ => new Ignored($"unknown migration phase {phase}"),
        };
    }

    private NicVerdict Start(NicIdentity nic, HostId from, HostId to, DateTimeOffset at)
    {
        _entries.TryGetValue(nic, out var entry);
        if (entry?.Announcement is { } existing)
        {
            return existing.From == from && existing.To == to
                ? new Ignored($"a migration of {nic} from {from} to {to} is already announced")
                : new Ignored($"a migration of {nic} from {existing.From} to {existing.To} is already announced; complete or abort it first");
        }
        if (entry is not null && entry.On(from) is null && entry.On(to) is { State: NicPlacementState.Present })
            return new Ignored($"{nic} is already on {to}");

        if (entry is null)
        {
            // The orchestrator may be ahead of the hosts' inventories: keep the notice anyway.
            entry = new Entry();
            _entries.Add(nic, entry);
        }
        var announcement = new Announcement(nic, from, to, at);
        entry.Announcement = announcement;
        Schedule(announcement, at + _options.AnnouncedTimeout);

        var source = entry.On(from);
        announcement.FromDevice = source?.Device;
        if (source is { State: NicPlacementState.Departing }) Protect(source, announcement);
        if (source is { State: NicPlacementState.Present } && entry.On(to) is { State: NicPlacementState.Arriving } arrival)
            Protect(arrival, announcement);
        return new AnnouncementChanged(nic, from, to, AnnouncementStatus.Started, announcement.Deadline,
            $"migration of {nic} from {from} to {to} announced: no fault until {announcement.Deadline:O}");
    }

    private NicVerdict Complete(NicIdentity nic, HostId from, HostId to, DateTimeOffset at)
    {
        if (!_entries.TryGetValue(nic, out var entry))
            return new Ignored($"{nic} is tracked on neither {from} nor {to}, and no migration of it is announced");
        var announcement = entry.Announcement;
        if (announcement is not null && (announcement.From != from || announcement.To != to))
            return new Ignored($"the announced migration of {nic} is from {announcement.From} to {announcement.To}, not from {from} to {to}");

        var source = entry.On(from);
        var destination = entry.On(to);
        if (announcement is null && source is null && destination is { State: NicPlacementState.Present })
            return new Ignored($"{nic} is already on {to}");
        if (announcement is not null) EndAnnouncement(entry, announcement);
        Unprotect(entry, at);

        NicVerdict verdict;
        if (destination is { State: NicPlacementState.Present })
        {
            verdict = new AnnouncementChanged(nic, from, to, AnnouncementStatus.Completed, null, $"migration of {nic} to {to} completed; it is already there");
        }
        else if (destination is { State: NicPlacementState.Arriving } && source is not null)
        {
            // Arriving and departing never coexist, so the source is still present: the notice is its removal.
            Unschedule(source);
            entry.Placements.Remove(source);
            Unschedule(destination);
            destination.State = NicPlacementState.Present;
            verdict = new Migrated(nic, from, to, destination.Device, true,
                $"migration of {nic} from {from} to {to} completed by notice before {from} reported the removal");
        }
        else if (source is not null)
        {
            Unschedule(source);
            entry.Placements.Remove(source);
            entry.Placements.Add(new Placement(nic, to, source.Device, NicPlacementState.Present, at) { DeviceAssumed = true });
            verdict = new Migrated(nic, from, to, source.Device, true,
                $"migration of {nic} from {from} to {to} completed by notice before {to} reported the NIC; "
                + $"its device name is taken from {from} until {to} reports it");
        }
        else
        {
            verdict = announcement is null
                ? new Ignored($"{nic} is tracked on neither {from} nor {to}, and no migration of it is announced")
                : new AnnouncementChanged(nic, from, to, AnnouncementStatus.Completed, null, $"{nic} is tracked on neither {from} nor {to}: nothing moved");
        }
        Cleanup(nic, entry);
        return verdict;
    }

    private NicVerdict Abort(NicIdentity nic, HostId from, HostId to, DateTimeOffset at)
    {
        if (!_entries.TryGetValue(nic, out var entry) || entry.Announcement is not { } announcement)
            return new Ignored($"no migration of {nic} from {from} to {to} is announced");
        if (announcement.From != from || announcement.To != to)
            return new Ignored($"the announced migration of {nic} is from {announcement.From} to {announcement.To}, not from {from} to {to}");

        EndAnnouncement(entry, announcement);
        Unprotect(entry, at);
        var source = entry.On(from);
        var destination = entry.On(to);

        NicVerdict verdict;
        if (source is { State: NicPlacementState.Departing })
        {
            var deadline = at + Window;
            Schedule(source, deadline);
            verdict = new RemovalPending(nic, from, source.Device, deadline, false,
                $"migration of {nic} to {to} aborted after its removal from {from}: waiting again for an add until {deadline:O}");
        }
        else if (source is null && destination is { State: NicPlacementState.Present or NicPlacementState.Departing }
                 && announcement.FromDevice is { } fromDevice)
        {
            Unschedule(destination);
            entry.Placements.Remove(destination);
            entry.Placements.Add(new Placement(nic, from, fromDevice, NicPlacementState.Present, at));
            verdict = new Migrated(nic, to, from, fromDevice, true, $"migration of {nic} aborted: it returns from {to} to {from}");
        }
        else
        {
            verdict = new AnnouncementChanged(nic, from, to, AnnouncementStatus.Aborted, null,
                source is not null ? $"migration of {nic} to {to} aborted: it stays on {from}" : $"migration of {nic} aborted: nothing to return to {from}");
        }
        Cleanup(nic, entry);
        return verdict;
    }

    /// <summary>
    /// Reports what ended by <paramref name="now"/>, in deadline order: removals with no add (<see cref="Faulted"/>),
    /// early arrivals whose source never reported a removal (<see cref="Duplicated"/>), announcements with
    /// neither complete nor abort. Each at most once: calling again with the same time reports nothing.
    /// </summary>
    public IReadOnlyList<NicVerdict> Expire(DateTimeOffset now)
    {
        List<NicVerdict>? verdicts = null;
        while (_timeline.Count > 0)
        {
            var due = _timeline.Min!;
            if (due.Deadline > now) break;
            _timeline.Remove(due);
            due.Scheduled = false;
            var verdict = due switch
            {
                Placement placement => Expired(placement),
                Announcement announcement => Lapsed(announcement),
                RememberedFault fault => Forget(fault),
                _ => null,
            };
            if (verdict is not null) (verdicts ??= new List<NicVerdict>()).Add(verdict);
        }
        return verdicts ?? (IReadOnlyList<NicVerdict>)Array.Empty<NicVerdict>();
    }

    private NicVerdict Expired(Placement placement)
    {
        var entry = _entries[placement.Nic];
        var (nic, host) = (placement.Nic, placement.Host);
        if (placement.State == NicPlacementState.Arriving)
        {
            placement.State = NicPlacementState.Present;
            placement.Announced = false;
            var others = new List<HostId>();
            foreach (var other in entry.Placements)
                if (other != placement && other.State == NicPlacementState.Present) others.Add(other.Host);
            others.Sort((x, y) => string.CompareOrdinal(x.Value, y.Value));
            if (others.Count == 0)
                return new Placed(placement.Location(), $"{nic} placed on {host} at the end of its arrival window");
            return new Duplicated(placement.Location(), others,
                $"identity conflict: {nic} added on {host} at {placement.Since:O} while present on {string.Join(", ", others)}, "
                + "and no removal there within the window: two NICs share this identity; each is tracked on its own");
        }

        entry.Placements.Remove(placement);
        if (_options.FaultMemory > TimeSpan.Zero)
        {
            if (_faults.Remove(nic, out var earlier)) Unschedule(earlier);
            var fault = new RememberedFault(nic, host, placement.Device, placement.Deadline);
            _faults.Add(nic, fault);
            Schedule(fault, placement.Deadline + _options.FaultMemory);
        }
        var reason = (placement.Announced
                ? $"the announced migration of {nic} from {host} did not complete within {_options.AnnouncedTimeout}"
                : $"{nic} removed from {host} at {placement.Since:O} and not added anywhere within the {Window} window")
            + ConflictNote(entry, null);
        Cleanup(nic, entry);
        return new Faulted(nic, host, placement.Device, reason);
    }

    private NicVerdict Lapsed(Announcement announcement)
    {
        var entry = _entries[announcement.Nic];
        entry.Announcement = null;
        // Placements it protected keep deadlines at or after this one and fault or duplicate on their own.
        Cleanup(announcement.Nic, entry);
        return new AnnouncementChanged(announcement.Nic, announcement.Host, announcement.To, AnnouncementStatus.Lapsed, null,
            $"neither complete nor abort for the migration of {announcement.Nic} from {announcement.Host} to {announcement.To} within {_options.AnnouncedTimeout}");
    }

    private NicVerdict? Forget(RememberedFault fault)
    {
        if (_faults.TryGetValue(fault.Nic, out var current) && current == fault) _faults.Remove(fault.Nic);
        return null;
    }

    /// <summary>The whole state as plain, sorted data (O(n log n); for persistence, not the hot path).</summary>
    public NicTrackerSnapshot ToSnapshot()
    {
        var placements = new List<NicTrackerSnapshot.Placement>();
        var announcements = new List<NicTrackerSnapshot.Announcement>();
        foreach (var entry in _entries.Values)
        {
            foreach (var p in entry.Placements)
            {
                placements.Add(new NicTrackerSnapshot.Placement(p.Nic, p.Host, p.Device, p.State, p.Since,
                    p.State == NicPlacementState.Present ? null : p.Deadline, p.Announced, p.DeviceAssumed));
            }
            if (entry.Announcement is { } a)
                announcements.Add(new NicTrackerSnapshot.Announcement(a.Nic, a.Host, a.To, a.StartedAt, a.Deadline, a.FromDevice));
        }
        var faults = new List<NicTrackerSnapshot.Fault>(_faults.Count);
        foreach (var f in _faults.Values)
            faults.Add(new NicTrackerSnapshot.Fault(f.Nic, f.Host, f.Device, f.FaultedAt, f.Deadline));

        placements.Sort((x, y) => CompareKeys(x.Nic, x.Host, y.Nic, y.Host));
        announcements.Sort((x, y) => CompareKeys(x.Nic, x.From, y.Nic, y.From));
        faults.Sort((x, y) => CompareKeys(x.Nic, x.Host, y.Nic, y.Host));
        return new NicTrackerSnapshot(NicTrackerSnapshot.CurrentVersion, placements, announcements, faults);
    }

    public static NicTracker FromSnapshot(NicTrackerSnapshot snapshot, TimeSpan migrationWindow) =>
        FromSnapshot(snapshot, new NicTrackerOptions(migrationWindow));

    /// <summary>Rebuilds a tracker from <see cref="ToSnapshot"/>; throws, naming the problem, on an inconsistent snapshot.</summary>
    public static NicTracker FromSnapshot(NicTrackerSnapshot snapshot, NicTrackerOptions options)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        if (snapshot.Version != NicTrackerSnapshot.CurrentVersion)
            throw new NotSupportedException($"NIC tracker snapshot version {snapshot.Version} is not supported (expected {NicTrackerSnapshot.CurrentVersion}).");

        var tracker = new NicTracker(options);
        foreach (var p in snapshot.Placements)
        {
            var entry = tracker.EntryFor(p.Nic);
            if (entry.On(p.Host) is not null)
                throw new ArgumentException($"The snapshot places {p.Nic} on {p.Host} twice.", nameof(snapshot));
            if ((p.State != NicPlacementState.Present) != p.Deadline.HasValue)
                throw new ArgumentException($"The snapshot's placement of {p.Nic} on {p.Host} is {p.State} and {(p.Deadline is null ? "has no" : "has a")} deadline.", nameof(snapshot));
            var placement = new Placement(p.Nic, p.Host, p.Device, p.State, p.Since) { Announced = p.Announced, DeviceAssumed = p.DeviceAssumed };
            entry.Placements.Add(placement);
            if (p.Deadline is { } deadline) tracker.Schedule(placement, deadline);
        }
        foreach (var a in snapshot.Announcements)
        {
            var entry = tracker.EntryFor(a.Nic);
            if (entry.Announcement is not null)
                throw new ArgumentException($"The snapshot announces two migrations of {a.Nic}.", nameof(snapshot));
            var announcement = new Announcement(a.Nic, a.From, a.To, a.StartedAt) { FromDevice = a.FromDevice };
            entry.Announcement = announcement;
            tracker.Schedule(announcement, a.Deadline);
        }
        foreach (var f in snapshot.Faults)
        {
            var fault = new RememberedFault(f.Nic, f.Host, f.Device, f.FaultedAt);
            if (!tracker._faults.TryAdd(f.Nic, fault))
                throw new ArgumentException($"The snapshot remembers two faults of {f.Nic}.", nameof(snapshot));
            tracker.Schedule(fault, f.ForgetAt);
        }
        return tracker;
    }

    // --- helpers ---

    private Entry EntryFor(NicIdentity nic)
    {
        if (!_entries.TryGetValue(nic, out var entry))
        {
            entry = new Entry();
            _entries.Add(nic, entry);
        }
        return entry;
    }

    private static Placement Place(Entry entry, NicIdentity nic, HostId host, DeviceId device, DateTimeOffset at)
    {
        var placement = new Placement(nic, host, device, NicPlacementState.Present, at);
        entry.Placements.Add(placement);
        return placement;
    }

    private void Schedule(Timed item, DateTimeOffset deadline)
    {
        // The timeline orders by deadline: take the item out before changing it.
        Unschedule(item);
        item.Deadline = deadline;
        _timeline.Add(item);
        item.Scheduled = true;
    }

    private void Unschedule(Timed item)
    {
        if (!item.Scheduled) return;
        _timeline.Remove(item);
        item.Scheduled = false;
    }

    private void Protect(Placement placement, Announcement announcement)
    {
        placement.Announced = true;
        Schedule(placement, Max(placement.Deadline, announcement.Deadline));
    }

    /// <summary>When an announcement ends, whatever it protected gets a fresh window from now.</summary>
    private void Unprotect(Entry entry, DateTimeOffset at)
    {
        foreach (var placement in entry.Placements)
        {
            if (!placement.Announced) continue;
            placement.Announced = false;
            if (placement.State != NicPlacementState.Present) Schedule(placement, at + Window);
        }
    }

    private void EndAnnouncement(Entry entry, Announcement announcement)
    {
        Unschedule(announcement);
        entry.Announcement = null;
    }

    private void Cleanup(NicIdentity nic, Entry entry)
    {
        if (entry.Placements.Count == 0 && entry.Announcement is null) _entries.Remove(nic);
    }

    private static bool IsAnnounced(Entry entry, HostId from, HostId to) =>
        entry.Announcement is { } a && a.From == from && a.To == to;

    private static string AnnouncementNote(Entry entry, HostId from, HostId to) => entry.Announcement switch
    {
        { } a when a.From == from && a.To == to => " (announced)",
        { } a when a.From == from => $" (announced to {a.To}, not {to})",
        _ => "",
    };

    /// <summary>Names the other hosts where the identity is present, if any: an identity conflict.</summary>
    private static string ConflictNote(Entry entry, Placement? except)
    {
        foreach (var placement in entry.Placements)
        {
            if (placement != except && placement.State == NicPlacementState.Present)
                return $"; identity conflict: {placement.Nic} is also present on {Hosts(entry, NicPlacementState.Present, except)} (another NIC with the same identity)";
        }
        return "";
    }

    private static string Hosts(Entry entry, NicPlacementState state, Placement? except)
    {
        var hosts = new List<string>();
        foreach (var placement in entry.Placements)
            if (placement != except && placement.State == state) hosts.Add(placement.Host.Value);
        hosts.Sort(StringComparer.Ordinal);
        return hosts.Count == 0 ? "no host" : string.Join(", ", hosts);
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a >= b ? a : b;

    private static int CompareKeys(NicIdentity xNic, HostId xHost, NicIdentity yNic, HostId yHost)
    {
        var c = xNic.Kind.CompareTo(yNic.Kind);
        if (c != 0) return c;
        c = string.CompareOrdinal(xNic.Value, yNic.Value);
        return c != 0 ? c : string.CompareOrdinal(xHost.Value, yHost.Value);
    }

    /// <summary>All the placements and the announcement of one identity; usually one placement.</summary>
    private sealed class Entry
    {
        public readonly List<Placement> Placements = new(2);
        public Announcement? Announcement;

        public Placement? On(HostId host)
        {
            foreach (var placement in Placements)
                if (placement.Host == host) return placement;
            return null;
        }

        public Placement? Earliest(NicPlacementState state)
        {
            Placement? earliest = null;
            // Ties go by host name, so that a tracker restored from a snapshot (placements in another
            // order) decides exactly as the original did.
            foreach (var placement in Placements)
            {
                if (placement.State != state) continue;
                if (earliest is null || placement.Since < earliest.Since
                    || placement.Since == earliest.Since && string.CompareOrdinal(placement.Host.Value, earliest.Host.Value) < 0)
                    earliest = placement;
            }
            return earliest;
        }

        public bool HasPresent
        {
            get
            {
                foreach (var placement in Placements)
                    if (placement.State == NicPlacementState.Present) return true;
                return false;
            }
        }
    }

    /// <summary>Something on the deadline timeline. Nic, Host and Order never change, so together with the
    /// deadline they identify it: one placement per identity and host, one announcement and one fault per identity.</summary>
    private abstract class Timed(NicIdentity nic, HostId host, int order)
    {
        public NicIdentity Nic { get; } = nic;
        public HostId Host { get; } = host;
        public int Order { get; } = order;
        public DateTimeOffset Deadline;
        public bool Scheduled;
    }

    private sealed class Placement(NicIdentity nic, HostId host, DeviceId device, NicPlacementState state, DateTimeOffset since)
        : Timed(nic, host, 0)
    {
        public DeviceId Device = device;
        public NicPlacementState State = state;
        public DateTimeOffset Since = since;
        public bool Announced;
        public bool DeviceAssumed;

        public NicLocation Location() => new(Nic, Host, Device, Since);
    }

    /// <summary>An announced migration; <see cref="Timed.Host"/> is the source.</summary>
    private sealed class Announcement(NicIdentity nic, HostId from, HostId to, DateTimeOffset startedAt) : Timed(nic, from, 1)
    {
        public HostId From => Host;
        public HostId To { get; } = to;
        public DateTimeOffset StartedAt { get; } = startedAt;
        public DeviceId? FromDevice;
    }

    private sealed class RememberedFault(NicIdentity nic, HostId host, DeviceId device, DateTimeOffset faultedAt) : Timed(nic, host, 2)
    {
        public DeviceId Device { get; } = device;
        public DateTimeOffset FaultedAt { get; } = faultedAt;
    }

    private sealed class TimelineOrder : IComparer<Timed>
    {
        public static readonly TimelineOrder Instance = new();

        public int Compare(Timed? x, Timed? y)
        {
            if (ReferenceEquals(x, y)) return 0;
            if (x is null) return -1;
            if (y is null) return 1;
            var c = x.Deadline.CompareTo(y.Deadline);
            if (c != 0) return c;
            c = x.Order.CompareTo(y.Order);
            return c != 0 ? c : CompareKeys(x.Nic, x.Host, y.Nic, y.Host);
        }
    }
}
