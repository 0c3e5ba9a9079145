using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Replug.Coordinator.Api;
using Replug.Coordinator.Singleton;

namespace Replug.Coordinator.Tests.Api;

/// <summary>
/// <c>GET /events/stream</c> against a real coordinator node with two agents: events as they happen,
/// resumed after Last-Event-ID; and the OpenAPI document of the whole API.
/// </summary>
[Collection(RealNodes.Name)]
public sealed class EventStreamTests(ApiClusterFixture cluster) : IClassFixture<ApiClusterFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private ApiTestHost Api => cluster.Coordinator;

    [Fact]
    public async Task A_drain_reaches_an_open_stream_as_an_event_with_its_sequence_number_and_JSON()
    {
        await using var stream = await SseClient.Open(Api.Http, lastEventId: null);
        await Drain("host-b", true);

        var drained = await stream.Until(e => e.Type == "HostDrainChanged", Patience);
        await Drain("host-b", false);

        Assert.NotNull(drained.Id);
        var data = JsonDocument.Parse(drained.Data).RootElement;
        Assert.Equal(drained.Id, data.GetProperty("sequence").GetInt64());
        Assert.Equal("HostDrainChanged", data.GetProperty("type").GetString());
        Assert.Contains("Host=host-b", data.GetProperty("summary").GetString());
        Assert.Contains("Drained=true", data.GetProperty("summary").GetString());
        Assert.Equal(DateTimeOffset.UtcNow, data.GetProperty("at").GetDateTimeOffset(), TimeSpan.FromMinutes(1));
    }

    [Fact]
    public async Task Reconnecting_with_Last_Event_ID_resumes_with_the_next_event_after_it()
    {
        long first, second;
        await using (var stream = await SseClient.Open(Api.Http, lastEventId: null))
        {
            await Drain("host-b", true);
            first = (await stream.Until(e => e.Type == "HostDrainChanged", Patience)).Id!.Value;
            await Drain("host-b", false);
            second = (await stream.Until(e => e.Type == "HostDrainChanged", Patience)).Id!.Value;
        }

        await using var resumed = await SseClient.Open(Api.Http, lastEventId: first);
        var next = await resumed.Until(e => e.Id is not null, Patience);

        Assert.True(second > first);
        Assert.Equal(first + 1, next.Id);
        var replayed = next;
        while (replayed.Id < second) replayed = await resumed.Until(e => e.Id is not null, Patience);
        Assert.Equal(second, replayed.Id);
        Assert.Equal("HostDrainChanged", replayed.Type);
    }

    [Theory]
    [InlineData("soon")]
    [InlineData("-1")]
    public async Task A_Last_Event_ID_that_is_not_an_event_id_is_a_400_with_the_reason(string header)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, EventStream.Path);
        request.Headers.TryAddWithoutValidation("Last-Event-ID", header);
        using var response = await Api.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Contains("Last-Event-ID", body.GetProperty("error").GetString());
    }

    [Fact]
    public async Task The_OpenAPI_document_lists_every_path_the_API_maps()
    {
        var (status, document) = await Api.Get("/openapi/v1.json");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.StartsWith("3.", document.GetProperty("openapi").GetString());
        var documented = document.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToHashSet();
        var mapped = Api.Services.GetServices<EndpointDataSource>().SelectMany(s => s.Endpoints).OfType<RouteEndpoint>()
            .Select(e => "/" + e.RoutePattern.RawText!.TrimStart('/'))
            .Where(p => !p.StartsWith("/openapi/", StringComparison.Ordinal))
            .ToHashSet();
        Assert.Contains("/events/stream", mapped);
        Assert.Contains("/hosts/{id}/devices/{device}/detach", mapped);
        Assert.Empty(mapped.Except(documented));
    }

    private async Task Drain(string host, bool drained)
    {
        var (status, _) = await Api.Post($"/hosts/{host}/{(drained ? "drain" : "undrain")}");
        Assert.Equal(HttpStatusCode.OK, status);
    }
}

/// <summary>The stream's loop on its own, with a coordinator that answers as each test says.</summary>
public sealed class EventStreamFeedTests
{
    private static readonly EventStreamOptions Quick = new(TimeSpan.FromMilliseconds(1), TimeSpan.FromHours(1), TimeSpan.FromHours(1), 10);

    private static EventFeed.SequencedEvent Event(long sequence) =>
        new(sequence, new CoordinatorQueries.EventRecord("HostDrainChanged", DateTimeOffset.UnixEpoch, $"n={sequence}"));

    /// <summary>Runs the feed over <paramref name="answers"/> (null: no answer in time) until they are used up, and returns what it wrote.</summary>
    private static async Task<string> Run(long? lastEventId, EventStreamOptions options, params EventFeed.EventPage?[] answers)
    {
        var written = new System.Text.StringBuilder();
        var asked = new Queue<EventFeed.EventPage?>(answers);
        using var done = new CancellationTokenSource();
        var feed = new EventStreamFeed((_, _) =>
        {
            // Answers used up: the client goes.
            if (asked.Count == 0) done.Cancel();
            done.Token.ThrowIfCancellationRequested();
            return Task.FromResult(asked.Dequeue());
        }, options);
        try { await feed.Run(lastEventId, (text, _) => { written.Append(text); return Task.CompletedTask; }, done.Token); }
        catch (OperationCanceledException) { }
        return written.ToString();
    }

    [Fact]
    public async Task Without_Last_Event_ID_the_stream_starts_after_the_newest_event()
    {
        var text = await Run(null, Quick, new EventFeed.EventPage([], 1, 7), new EventFeed.EventPage([Event(8)], 1, 8));

        Assert.Contains("event: HostDrainChanged\nid: 8\ndata: {\"sequence\":8,", text);
        Assert.DoesNotContain("id: 7", text);
    }

    [Fact]
    public async Task Without_Last_Event_ID_the_start_is_fixed_before_the_retry_hint_so_an_event_made_after_it_is_sent()
    {
        var written = new System.Text.StringBuilder();
        var journalEnd = 7L;
        using var done = new CancellationTokenSource();
        var asked = 0;
        var feed = new EventStreamFeed((after, _) =>
        {
            done.Token.ThrowIfCancellationRequested();
            if (++asked == 3) done.Cancel(); // the client goes after this answer
            var events = new List<EventFeed.SequencedEvent>();
            for (var n = after + 1; after < journalEnd && n <= journalEnd; n++) events.Add(Event(n));
            return Task.FromResult<EventFeed.EventPage?>(new EventFeed.EventPage(events, 1, journalEnd));
        }, Quick);

        // A client that sees the retry hint and then makes a change (journaled as 8).
        try
        {
            await feed.Run(null, (text, _) =>
            {
                written.Append(text);
                if (text.StartsWith("retry:", StringComparison.Ordinal)) journalEnd = 8;
                return Task.CompletedTask;
            }, done.Token);
        }
        catch (OperationCanceledException) { }

        Assert.Contains("id: 8", written.ToString());
    }

    [Fact]
    public async Task A_coordinator_that_stops_answering_is_announced_once_and_the_stream_goes_on_when_it_answers_again()
    {
        var text = await Run(5, Quick, null, null, null, new EventFeed.EventPage([Event(6)], 1, 6));

        Assert.Equal(1, text.Split("event: unavailable").Length - 1);
        Assert.True(text.IndexOf("event: unavailable", StringComparison.Ordinal) < text.IndexOf("id: 6", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_coordinator_silent_for_longer_than_the_limit_ends_the_stream_with_an_end_event()
    {
        var text = await Run(5, Quick with { GiveUpAfter = TimeSpan.Zero }, null, null, new EventFeed.EventPage([Event(6)], 1, 6));

        Assert.EndsWith("\n\n", text);
        Assert.Contains("event: end\ndata: {\"error\":\"the coordinator did not answer", text);
        Assert.DoesNotContain("id: 6", text);
    }

    [Fact]
    public async Task Events_no_longer_kept_are_named_in_a_gap_event_before_the_ones_that_are()
    {
        var text = await Run(2, Quick, new EventFeed.EventPage([Event(10), Event(11)], 10, 11));

        Assert.Contains("event: gap\ndata: {\"from\":3,\"to\":9,", text);
        Assert.True(text.IndexOf("event: gap", StringComparison.Ordinal) < text.IndexOf("id: 10", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_Last_Event_ID_past_the_journal_s_end_is_a_reset_and_the_stream_goes_on_from_the_end()
    {
        var text = await Run(50, Quick, new EventFeed.EventPage([], 1, 20), new EventFeed.EventPage([Event(21)], 1, 21));

        Assert.Contains("event: reset\ndata: {\"lastEventId\":50,\"newest\":20,", text);
        Assert.Contains("id: 21", text);
    }

    [Fact]
    public async Task A_node_that_stops_ends_the_stream_with_an_end_event()
    {
        var written = new System.Text.StringBuilder();
        using var stopping = new CancellationTokenSource();
        var feed = new EventStreamFeed((_, _) =>
        {
            stopping.Cancel();
            return Task.FromResult<EventFeed.EventPage?>(new EventFeed.EventPage([], 1, 1));
        }, Quick);

        await feed.Run(1, (text, _) => { written.Append(text); return Task.CompletedTask; }, stopping.Token, stopping.Token);

        Assert.Contains("event: end\ndata: {\"error\":\"the coordinator node is stopping", written.ToString());
    }
}

/// <summary>The events kept for the stream, numbered by the journal.</summary>
public sealed class RecentEventsTests
{
    private static ICoordinatorEvent Drained(string host) =>
        new CoordinatorEvents.HostDrainChanged(new Shared.Devices.HostId(host), true, DateTimeOffset.UnixEpoch);

    [Fact]
    public void Events_after_a_sequence_number_come_oldest_first_with_the_range_still_kept()
    {
        var recent = new RecentEvents(kept: 3);
        for (var n = 1; n <= 5; n++) recent.Remember(n, Drained($"h{n}"));

        var page = recent.After(3, max: 10, newest: 5);

        Assert.Equal([4L, 5L], page.Events.Select(e => e.Sequence));
        Assert.Equal((3L, 5L), (page.Oldest, page.Newest));
        Assert.Equal(3, recent.Newest(10).Count());
    }

    [Fact]
    public void The_stream_s_query_and_its_answer_cross_between_nodes_unchanged()
    {
        using var system = Akka.Actor.ActorSystem.Create("event-feed-serialization");
        var serializer = new CoordinatorEventSerializer((Akka.Actor.ExtendedActorSystem)system);
        var recent = new RecentEvents(kept: 3);
        recent.Remember(9, Drained("h9"));
        var page = recent.After(8, max: 10, newest: 9);
        var query = new EventFeed.GetEventsAfter(8, 200);

        var read = Assert.IsType<EventFeed.EventPage>(serializer.FromBinary(serializer.ToBinary(page), serializer.Manifest(page)));

        Assert.Equal(query, serializer.FromBinary(serializer.ToBinary(query), serializer.Manifest(query)));
        Assert.Equal((page.Oldest, page.Newest), (read.Oldest, read.Newest));
        Assert.Equal(page.Events, read.Events);
    }

    [Fact]
    public void With_nothing_kept_the_oldest_is_past_the_newest()
    {
        var page = new RecentEvents(kept: 3).After(0, max: 10, newest: 40);

        Assert.Empty(page.Events);
        Assert.Equal((41L, 40L), (page.Oldest, page.Newest));
    }
}

/// <summary>Reads server-sent events from one open response.</summary>
internal sealed class SseClient : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;

    private SseClient(HttpResponseMessage response, StreamReader reader)
    {
        _response = response;
        _reader = reader;
    }

    public sealed record Event(string Type, long? Id, string Data);

    public static async Task<SseClient> Open(HttpClient http, long? lastEventId)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, EventStream.Path);
        if (lastEventId is { } id) request.Headers.Add("Last-Event-ID", id.ToString());
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(EventStream.ContentType));
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(EventStream.ContentType, response.Content.Headers.ContentType?.MediaType);
        var client = new SseClient(response, new StreamReader(await response.Content.ReadAsStreamAsync()));
        // The stream has begun once its retry hint came: events after this are seen.
        Assert.Equal("retry: 1000", await client._reader.ReadLineAsync());
        return client;
    }

    /// <summary>The next event that <paramref name="wanted"/> accepts (others are skipped).</summary>
    public async Task<Event> Until(Func<Event, bool> wanted, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            var e = await Next(cts.Token) ?? throw new EndOfStreamException("the stream ended");
            if (wanted(e)) return e;
        }
    }

    private async Task<Event?> Next(CancellationToken ct)
    {
        string? type = null, data = null;
        long? id = null;
        while (await _reader.ReadLineAsync(ct) is { } line)
        {
            if (line.Length == 0)
            {
                if (type is not null) return new Event(type, id, data ?? "");
                continue;
            }
            if (line.StartsWith("event: ", StringComparison.Ordinal)) type = line[7..];
            else if (line.StartsWith("id: ", StringComparison.Ordinal)) id = long.Parse(line[4..]);
            else if (line.StartsWith("data: ", StringComparison.Ordinal)) data = line[6..];
        }
        return null;
    }

    public ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _response.Dispose();
        return ValueTask.CompletedTask;
    }
}
