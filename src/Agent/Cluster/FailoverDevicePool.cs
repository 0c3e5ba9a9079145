using Replug.Shared.Devices;

namespace Replug.Agent.Cluster;

/// <summary>The members of a port made for the coordinator, preferred first, and the fail-over devices it holds.</summary>
public sealed record FailoverMembers(IReadOnlyList<DeviceId> Members, IReadOnlyList<DeviceId> Taken);

/// <summary>
/// The devices a host keeps free for ports the coordinator sends it (its <c>FailoverDevices</c>),
/// and which of them are taken. Ports are made on the host agent's thread and give their devices
/// back from their own when they stop, hence the lock.
/// </summary>
public sealed class FailoverDevicePool
{
    private readonly Lock _gate = new();
    private readonly DeviceId[] _configured;
    private readonly HashSet<DeviceId> _free;

    public FailoverDevicePool(IEnumerable<DeviceId> devices)
    {
        _configured = [.. devices.Distinct()];
        _free = [.. _configured];
    }

    /// <summary>The free fail-over devices, in configured order.</summary>
    public IReadOnlyList<DeviceId> Free
    {
        get { lock (_gate) return [.. _configured.Where(_free.Contains)]; }
    }

    /// <summary>
    /// The members of a port the coordinator attaches here, or null when there is nothing to run it over.
    /// A port that followed its NIC (a live migration) runs over that NIC, preferred, plus the
    /// first free fail-over device as its standby when one is free: over the NIC alone it would
    /// have no standby on this host. A port failed over without a NIC takes the first free
    /// fail-over device. A followed NIC that is itself a free fail-over device is taken too, so
    /// no other port is given it. Only devices that are <paramref name="present"/> are given (a
    /// fail-over device may have been removed or migrated away), and a port none of whose members
    /// is present is not made: the coordinator must hear a refusal, not an acknowledgement of a
    /// port that cannot forward.
    /// </summary>
    public FailoverMembers? Take(IReadOnlyList<DeviceId>? followed, Func<DeviceId, bool>? present = null)
    {
        present ??= _ => true;
        lock (_gate)
        {
            var members = new List<DeviceId>();
            var taken = new List<DeviceId>();
            foreach (var device in followed ?? [])
            {
                if (members.Contains(device)) continue;
                members.Add(device);
                if (_free.Remove(device)) taken.Add(device);
            }
            foreach (var device in _configured)
            {
                if (!_free.Contains(device) || !present(device)) continue;
                _free.Remove(device);
                members.Add(device);
                taken.Add(device);
                break;
            }
            if (members.Count == 0 || !members.Any(present))
            {
                foreach (var device in taken) _free.Add(device);
                return null;
            }
            return new FailoverMembers(members, taken);
        }
    }

    /// <summary>Gives fail-over devices back (a port that stopped); idempotent, and devices not of this pool are ignored.</summary>
    public void Return(IEnumerable<DeviceId> devices)
    {
        lock (_gate)
        {
            foreach (var device in devices)
                if (Array.IndexOf(_configured, device) >= 0) _free.Add(device);
        }
    }
}
