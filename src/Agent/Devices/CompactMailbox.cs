using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Dispatch.MessageQueues;

namespace Replug.Agent.Devices;

/// <summary>
/// An unbounded mailbox that holds no storage while it is empty. Akka's default
/// (<see cref="UnboundedMessageQueue"/>, a ConcurrentQueue) keeps a 32-slot segment per actor from
/// its start, about 1 KiB: with one supervisor per device, 10 MiB for 10,000 devices that each
/// hear a few messages in their life. Here a lock guards a queue made on the first message and
/// dropped once drained. One consumer (the actor), any number of producers.
/// </summary>
public sealed class CompactMailbox(Settings settings, Config config) : MailboxType(settings, config), IProducesMessageQueue<CompactMessageQueue>
{
    /// <summary>The mailbox's id in the actor system's configuration (see <see cref="Install"/>).</summary>
    public const string Id = "replug.compact-mailbox";

    /// <summary>Makes <see cref="Id"/> known to <paramref name="system"/> (idempotent; a system's own configuration may override it).</summary>
    public static void Install(ActorSystem system)
    {
        lock (system.Settings)
        {
            if (system.Settings.Config.HasPath($"{Id}.mailbox-type")) return;
            system.Settings.InjectTopLevelFallback(ConfigurationFactory.ParseString(
                $"{Id} {{ mailbox-type = \"{typeof(CompactMailbox).AssemblyQualifiedName}\" }}"));
        }
    }

    public override IMessageQueue Create(IActorRef owner, ActorSystem system) => new CompactMessageQueue();
}

/// <summary>The queue of a <see cref="CompactMailbox"/>.</summary>
public sealed class CompactMessageQueue : IMessageQueue, IUnboundedMessageQueueSemantics
{
    private Queue<Envelope>? _queue;

    // The queue's own monitor (no lock object per actor); nothing outside this class sees it.
    private object Gate => this;

    public bool HasMessages
    {
        get { lock (Gate) return _queue is { Count: > 0 }; }
    }

    public int Count
    {
        get { lock (Gate) return _queue?.Count ?? 0; }
    }

    public void Enqueue(IActorRef receiver, Envelope envelope)
    {
        lock (Gate) (_queue ??= new Queue<Envelope>()).Enqueue(envelope);
    }

    public bool TryDequeue(out Envelope envelope)
    {
        lock (Gate)
        {
            if (_queue is null || !_queue.TryDequeue(out envelope))
            {
                envelope = default;
                return false;
            }
            // Drained: a burst (a storm's thousands of events) leaves no grown array behind.
            if (_queue.Count == 0) _queue = null;
            return true;
        }
    }

    public void CleanUp(IActorRef owner, IMessageQueue deadletters)
    {
        while (TryDequeue(out var envelope)) deadletters.Enqueue(owner, envelope);
    }
}
