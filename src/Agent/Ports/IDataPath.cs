using Replug.Shared.Devices;

namespace Replug.Agent.Ports;

public readonly record struct DataPathResult(bool Succeeded, string? Error)
{
    public static readonly DataPathResult Ok = new(true, null);
    public static DataPathResult Fail(string error) => new(false, error);
    public override string ToString() => Succeeded ? "ok" : $"failed: {Error}";
}

/// <summary>
/// Moves a logical port's traffic between its sub-devices (the "remap" step). The fail-safe
/// group decides; the data path only carries it out, idempotently.
/// </summary>
public interface IDataPath
{
    /// <summary>A short name for logs ("bridge", "command").</summary>
    string Kind { get; }

    /// <summary>
    /// True when a switch is done on the calling thread (the returned task is complete): such a
    /// path can carry out a switch the port prepared, on the uevent source's own thread
    /// (<see cref="PreparedSwitch"/>). A path that runs a process or waits must say false.
    /// </summary>
    bool SwitchesInline => false;

    /// <summary>
    /// Makes <paramref name="next"/> the port's active sub-device and takes <paramref name="previous"/>
    /// (when not null) out of the path. A previous device that is already gone is not an error.
    /// </summary>
    Task<DataPathResult> SwitchAsync(PortId port, DeviceId? previous, DeviceId next, CancellationToken cancellationToken);

    /// <summary>Takes the port's active device out of the path: the port has no healthy device (or is fenced).</summary>
    Task<DataPathResult> DeactivateAsync(PortId port, DeviceId device, CancellationToken cancellationToken);
}
