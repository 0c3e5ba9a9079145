using Akka.Actor;
using Akka.Dispatch.MessageQueues;
using Replug.Agent.Devices;

namespace Replug.Agent.Tests.Devices;

/// <summary>The pieces that keep 10,000 devices small: the bounded history, the compact mailbox, when the heap is given back.</summary>
public sealed class DeviceMemoryTests
{
    private sealed record Entry(int N);

    [Fact]
    public void A_bounded_history_keeps_the_newest_entries_up_to_its_capacity()
    {
        var history = new BoundedHistory<Entry>(3);
        Assert.Null(history.Last);
        for (var i = 1; i <= 5; i++) history.Add(new Entry(i));

        Assert.Equal([3, 4, 5], history.ToList().Select(e => e.N));
        Assert.Equal(5, history.Last?.N);
        Assert.Equal(3, history.Count);
    }

    [Fact]
    public void The_compact_mailbox_delivers_in_order_and_is_empty_once_drained()
    {
        var queue = new CompactMessageQueue();
        Assert.False(queue.HasMessages);
        Assert.False(queue.TryDequeue(out _));

        for (var i = 0; i < 100; i++) queue.Enqueue(ActorRefs.Nobody, new Envelope(i, ActorRefs.NoSender));
        Assert.Equal(100, queue.Count);
        for (var i = 0; i < 100; i++)
        {
            Assert.True(queue.TryDequeue(out var envelope));
            Assert.Equal(i, envelope.Message);
        }
        Assert.False(queue.HasMessages);
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public async Task The_compact_mailbox_loses_nothing_under_concurrent_senders()
    {
        var queue = new CompactMessageQueue();
        const int Senders = 4, Each = 10_000;
        var received = new List<int>();
        var sending = Enumerable.Range(0, Senders).Select(s => Task.Run(() =>
        {
            for (var i = 0; i < Each; i++) queue.Enqueue(ActorRefs.Nobody, new Envelope(s * Each + i, ActorRefs.NoSender));
        })).ToArray();
        var allSent = Task.WhenAll(sending);
        while (!allSent.IsCompleted || queue.HasMessages)
            while (queue.TryDequeue(out var envelope)) received.Add((int)envelope.Message);
        await allSent;
        while (queue.TryDequeue(out var rest)) received.Add((int)rest.Message);

        Assert.Equal(Senders * Each, received.Count);
        Assert.Equal(Enumerable.Range(0, Senders * Each), received.Order());
        // Each sender's messages arrive in the order it sent them.
        foreach (var s in Enumerable.Range(0, Senders))
            Assert.Equal(Enumerable.Range(s * Each, Each), received.Where(n => n / Each == s));
    }

    [Fact]
    public void A_small_change_of_devices_never_asks_for_a_collection()
    {
        var policy = new HeapTrimPolicy(1000, TimeSpan.FromSeconds(10));
        policy.Changed(TimeSpan.FromSeconds(1), devices: 999);
        Assert.Equal(HeapTrimDecision.Nothing, policy.Decide(TimeSpan.FromMinutes(5)));
    }

    [Fact]
    public void A_large_change_waits_until_devices_have_been_quiet_then_collects_once()
    {
        var policy = new HeapTrimPolicy(1000, TimeSpan.FromSeconds(10));
        policy.Changed(TimeSpan.FromSeconds(1), devices: 10_000);
        policy.Changed(TimeSpan.FromSeconds(5), devices: 6_000); // still leaving
        Assert.Equal(HeapTrimDecision.WaitForQuiet, policy.Decide(TimeSpan.FromSeconds(14)));
        Assert.Equal(TimeSpan.FromSeconds(1), policy.QuietLeft(TimeSpan.FromSeconds(14)));

        Assert.Equal(HeapTrimDecision.Trim, policy.Decide(TimeSpan.FromSeconds(15)));
        policy.Trimmed();
        Assert.Equal(HeapTrimDecision.Nothing, policy.Decide(TimeSpan.FromSeconds(60)));
    }

    [Fact]
    public void Devices_that_came_and_went_count_although_the_number_present_is_back_where_it_was()
    {
        var policy = new HeapTrimPolicy(1000, TimeSpan.FromSeconds(10));
        for (var i = 0; i < 600; i++) policy.Changed(TimeSpan.FromSeconds(1)); // 600 came
        for (var i = 0; i < 600; i++) policy.Changed(TimeSpan.FromSeconds(2)); // and went
        Assert.Equal(HeapTrimDecision.Trim, policy.Decide(TimeSpan.FromSeconds(12)));
    }
}
