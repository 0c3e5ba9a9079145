using System.Threading.Channels;
using Replug.Agent.Devices;
using Replug.Agent.Ports;
using Replug.Shared.Devices;

namespace Replug.Bench;

/// <summary>
/// Reads the agent's events (forwarded from the EventStream by <see cref="ChannelForwarder"/>)
/// in order, keeping each device's last known state and counting failures on the way.
/// </summary>
internal sealed class AgentEventReader(ChannelReader<object> reader)
{
    private readonly Dictionary<DeviceId, DeviceState> _states = [];

    public int SwitchFailures { get; private set; }
    public int Escalations { get; private set; }
    public string? LastFailure { get; private set; }

    public DeviceState? StateOf(DeviceId device) => _states.TryGetValue(device, out var s) ? s : null;

    /// <summary>The next event of type <typeparamref name="T"/> that matches; every event before it is observed too.</summary>
    public async Task<T> NextAsync<T>(Func<T, bool> match, TimeSpan timeout, string what, CancellationToken cancellation) where T : class
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        cts.CancelAfter(timeout);
        try
        {
            while (true)
            {
                if (!reader.TryRead(out var message)) message = await reader.ReadAsync(cts.Token);
                Observe(message);
                if (message is T t && match(t)) return t;
            }
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            throw new TimeoutException($"no {what} within {timeout.TotalSeconds:0} s" + (LastFailure is { } f ? $" (last failure: {f})" : ""));
        }
    }

    /// <summary>Returns once <paramref name="device"/> is (or becomes) <paramref name="state"/>.</summary>
    public async Task WaitStateAsync(DeviceId device, DeviceState state, TimeSpan timeout, CancellationToken cancellation)
    {
        if (StateOf(device) == state) return;
        await NextAsync<DeviceStateChanged>(c => c.Device == device && c.To == state, timeout, $"{device} {state}", cancellation);
    }

    /// <summary>Observes whatever is already queued.</summary>
    public void Drain()
    {
        while (reader.TryRead(out var message)) Observe(message);
    }

    private void Observe(object message)
    {
        switch (message)
        {
            case DeviceStateChanged change:
                _states[change.Device] = change.To;
                break;
            case PortSwitchFailed failed:
                SwitchFailures++;
                LastFailure = $"switch {failed.From} -> {failed.To} failed: {failed.Error}";
                break;
            case PortEscalated escalated:
                Escalations++;
                LastFailure = $"port {escalated.Port} escalated: {escalated.Reason}";
                break;
        }
    }
}
