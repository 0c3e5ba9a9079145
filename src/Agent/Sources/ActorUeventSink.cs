using Akka.Actor;
using Replug.Agent.Ports;
using Replug.Shared.Uevents;
using static Replug.Agent.Devices.DeviceProtocol;

namespace Replug.Agent.Sources;

/// <summary>Hands a source's output to the watcher actor; Tell is thread-safe and never blocks the source.</summary>
/// <param name="observe">Sees every accepted event, on the source's thread (a capture writer).</param>
/// <param name="prepared">
/// The ports' prepared switches: an event that fires one is acted on here, on the source's
/// thread, before the actors hear of it (the switch is the only thing that cannot wait).
/// </param>
public sealed class ActorUeventSink(IActorRef watcher, Action<Uevent>? observe = null, PreparedSwitches? prepared = null) : IUeventSink
{
    public void OnEvent(Uevent uevent)
    {
        prepared?.TryFire(uevent);
        observe?.Invoke(uevent);
        watcher.Tell(uevent);
    }

    public void OnRejected(UeventRejection reason, string detail) => watcher.Tell(new UeventRejected(reason, detail));
    public void OnOverflow() => watcher.Tell(new SourceOverflowed());
    public void OnCompleted(Exception? error) => watcher.Tell(new SourceCompleted(error));
}
