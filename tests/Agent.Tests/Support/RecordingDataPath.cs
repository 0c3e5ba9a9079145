using System.Collections.Concurrent;
using Replug.Agent.Ports;
using Replug.Shared.Devices;

namespace Replug.Agent.Tests.Support;

/// <summary>
/// A data path that records what it was asked to do, into a log it may share with other
/// observers, so a test can assert the order of switches against device state changes.
/// The real data paths (bridge, command) have their own tests against the kernel.
/// </summary>
public sealed class RecordingDataPath(ConcurrentQueue<string>? log = null) : IDataPath
{
    private readonly HashSet<DeviceId> _failing = [];
    private readonly ConcurrentDictionary<PortId, DateTimeOffset> _firstSwitch = new();
    private readonly ConcurrentDictionary<PortId, DateTimeOffset> _firstDeactivation = new();

    public ConcurrentQueue<string> Log { get; } = log ?? new ConcurrentQueue<string>();

    /// <summary>When each port was first switched and first deactivated (wall clock), for measurements across hosts.</summary>
    public IReadOnlyDictionary<PortId, DateTimeOffset> FirstSwitch => _firstSwitch;
    public IReadOnlyDictionary<PortId, DateTimeOffset> FirstDeactivation => _firstDeactivation;
    public string Kind => "recording";

    /// <summary>It answers at once, on the caller's thread, as the bridge path does: ports prepare switches over it.</summary>
    public bool SwitchesInline => true;

    /// <summary>Switches to this device fail from now on.</summary>
    public void FailSwitchesTo(DeviceId device) { lock (_failing) _failing.Add(device); }

    public Task<DataPathResult> SwitchAsync(PortId port, DeviceId? previous, DeviceId next, CancellationToken cancellationToken)
    {
        _firstSwitch.TryAdd(port, DateTimeOffset.UtcNow);
        bool fail;
        lock (_failing) fail = _failing.Contains(next);
        Log.Enqueue($"switch {port} {previous?.ToString() ?? "none"} -> {next}{(fail ? " (failed)" : "")}");
        return Task.FromResult(fail ? DataPathResult.Fail($"{next} refused") : DataPathResult.Ok);
    }

    public Task<DataPathResult> DeactivateAsync(PortId port, DeviceId device, CancellationToken cancellationToken)
    {
        // A port that never carried traffic (one starting fenced releases its members) is not taken down.
        if (_firstSwitch.ContainsKey(port)) _firstDeactivation.TryAdd(port, DateTimeOffset.UtcNow);
        Log.Enqueue($"deactivate {port} {device}");
        return Task.FromResult(DataPathResult.Ok);
    }
}
