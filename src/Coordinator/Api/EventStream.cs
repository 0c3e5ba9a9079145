using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Replug.Coordinator.Singleton;

namespace Replug.Coordinator.Api;

/// <summary>How <c>GET /events/stream</c> polls and when it gives up.</summary>
/// <param name="Poll">How often the singleton is asked for events after the last one sent.</param>
/// <param name="KeepAlive">A comment line after this long without a write, so proxies and clients see the stream alive.</param>
/// <param name="GiveUpAfter">A coordinator silent for this long (longer than a singleton hand-over) ends the stream with an <c>end</c> event.</param>
/// <param name="PageSize">Events asked for at a time; a full page is followed at once by the next.</param>
public sealed record EventStreamOptions(TimeSpan Poll, TimeSpan KeepAlive, TimeSpan GiveUpAfter, int PageSize)
{
    public static readonly EventStreamOptions Default = new(TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(60), 200);
}

/// <summary>One coordinator event as the stream's <c>data:</c> carries it: <c>GET /events</c>' entry with its sequence number.</summary>
public sealed record StreamedEvent(long Sequence, string Type, DateTimeOffset At, string Summary);

/// <summary>
/// <c>GET /events/stream</c>: every new coordinator event as a server-sent event (<c>event:</c> its
/// type, <c>id:</c> its journal sequence number, <c>data:</c> one line of JSON).
/// <para>
/// Design: the stream polls the singleton (<see cref="EventFeed.GetEventsAfter"/>, every
/// <see cref="EventStreamOptions.Poll"/>) through the node's proxy like every other request, rather
/// than subscribing to a publication. The API runs on every coordinator node and the singleton on one
/// of them, and moves: a subscription would need distributed pub-sub, re-subscription after each
/// hand-over, and a way to fill what was published while nobody listened. Polling by the journal's
/// sequence number needs none of that: the numbers are the journal's, so a new singleton numbers the
/// same events the same way, and the stream resumes after a hand-over (or a client's reconnection
/// with <c>Last-Event-ID</c>) exactly where it stopped. The cost is one small ask per stream per poll.
/// </para>
/// Control events: <c>gap</c> (events after Last-Event-ID are no longer kept), <c>reset</c> (the
/// journal ends before Last-Event-ID: restored or emptied), <c>unavailable</c> (the coordinator stopped
/// answering, e.g. during a hand-over; the stream goes on), <c>end</c> (the last one: the node is
/// stopping, or the coordinator was silent for <see cref="EventStreamOptions.GiveUpAfter"/>).
/// </summary>
public static class EventStream
{
    public const string Path = "/events/stream";
    public const string ContentType = "text/event-stream";

    // One line per data: field: SSE ends a field at a newline, so the JSON is not indented.
    private static readonly JsonSerializerOptions Json = new(CoordinatorApi.Json) { WriteIndented = false };

    /// <summary>Maps <see cref="Path"/>; <paramref name="ask"/> asks the singleton and gives null when it did not answer in time.</summary>
    public static IEndpointRouteBuilder MapEventStream(this IEndpointRouteBuilder endpoints,
        Func<object, CancellationToken, Task<EventFeed.EventPage?>> ask, EventStreamOptions? options = null)
    {
        var settings = options ?? EventStreamOptions.Default;
        // A Delegate, not a RequestDelegate: so that OpenAPI describes it like the other routes.
        endpoints.MapGet(Path, (Delegate)Stream).Produces(StatusCodes.Status200OK, contentType: ContentType).Produces<ApiError>(StatusCodes.Status400BadRequest);
        return endpoints;

        async Task Stream(HttpContext context)
        {
            var lastEventId = LastEventId(context.Request.Headers["Last-Event-ID"]);
            if (!lastEventId.Ok)
            {
                await Results.Json(new ApiError(lastEventId.Error!), CoordinatorApi.Json, statusCode: StatusCodes.Status400BadRequest).ExecuteAsync(context);
                return;
            }
            var response = context.Response;
            response.ContentType = ContentType;
            response.Headers.CacheControl = "no-cache";
            response.Headers["X-Accel-Buffering"] = "no"; // nginx would otherwise hold the events back
            context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

            var stopping = context.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
            using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
            var feed = new EventStreamFeed((after, ct) => ask(new EventFeed.GetEventsAfter(after, settings.PageSize), ct), settings);
            try
            {
                await feed.Run(lastEventId.Value, async (text, ct) =>
                {
                    await response.WriteAsync(text, ct);
                    await response.Body.FlushAsync(ct);
                }, ended.Token, stopping);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException && context.RequestAborted.IsCancellationRequested)
            {
                // The client went: nothing left to tell it.
            }
        }
    }

    /// <summary>The <c>Last-Event-ID</c> header: absent or empty means "from now on"; else a sequence number this stream sent.</summary>
    public static Parsed<long?> LastEventId(string? header)
    {
        if (string.IsNullOrWhiteSpace(header)) return Parsed<long?>.Valid(null);
        return long.TryParse(header.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var id)
            ? Parsed<long?>.Valid(id)
            : Parsed<long?>.Invalid($"Last-Event-ID: '{header}' is not an event id of this stream (a whole number from 0)");
    }

    /// <summary>One server-sent event: its type, its id when it has one, and its data as one line of JSON.</summary>
    public static string Format(string type, long? id, object data)
    {
        var text = new StringBuilder();
        text.Append("event: ").Append(type).Append('\n');
        if (id is { } value) text.Append("id: ").Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        text.Append("data: ").Append(JsonSerializer.Serialize(data, data.GetType(), Json)).Append("\n\n");
        return text.ToString();
    }
}

/// <summary>
/// The stream's loop, apart from HTTP: asks for events after the last one sent, writes them, and
/// says what happened when it cannot (gap, reset, unavailable, end). Every ask has its own timeout
/// (the fetch gives null), so the loop never waits on the coordinator for longer than that.
/// </summary>
public sealed class EventStreamFeed(Func<long, CancellationToken, Task<EventFeed.EventPage?>> fetch, EventStreamOptions options)
{
    /// <summary>
    /// Runs until <paramref name="ct"/> is cancelled (the client went, or <paramref name="stopping"/>:
    /// then an <c>end</c> event is written first) or the coordinator was silent for too long.
    /// </summary>
    public async Task Run(long? lastEventId, Func<string, CancellationToken, Task> write, CancellationToken ct, CancellationToken stopping = default)
    {
        var sinceWrite = Stopwatch.StartNew();
        Stopwatch? silent = null;
        long? after = lastEventId;
        try
        {
            // "From now on" starts at the journal's end as it is before the first byte goes out: a client that
            // makes a change once the stream has begun (its retry hint came) sees the change's event.
            if (after is null) after = (await FetchOrNull(long.MaxValue))?.Newest;
            // The retry hint: a browser's EventSource reconnects after 1 s (with Last-Event-ID) instead of its default 3 s.
            await Write("retry: 1000\n\n");
            while (!ct.IsCancellationRequested)
            {
                // No id yet (the coordinator did not answer at the start): ask past every event for the journal's last number, and start from there.
                var page = await FetchOrNull(after ?? long.MaxValue);
                if (page is null)
                {
                    if (silent is null)
                    {
                        silent = Stopwatch.StartNew();
                        await Write(EventStream.Format("unavailable", null, new ApiError(
                            "the coordinator does not answer (a hand-over, or it is recovering): the stream resumes when it does")));
                    }
                    else if (silent.Elapsed >= options.GiveUpAfter)
                    {
                        await Write(EventStream.Format("end", null, new ApiError(
                            $"the coordinator did not answer for {options.GiveUpAfter.TotalSeconds:0} s: reconnect with Last-Event-ID to resume")));
                        return;
                    }
                }
                else
                {
                    silent = null;
                    var full = await Send(page);
                    if (full) continue;
                }
                if (sinceWrite.Elapsed >= options.KeepAlive) await Write(": keep-alive\n\n");
                await Task.Delay(options.Poll, ct);
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            await Write(EventStream.Format("end", null, new ApiError("the coordinator node is stopping: reconnect (to another node) with Last-Event-ID to resume")), CancellationToken.None);
        }

        async Task<EventFeed.EventPage?> FetchOrNull(long afterSequence)
        {
            try { return await fetch(afterSequence, ct); }
            catch (Exception e) when (e is not OperationCanceledException) { return null; }
        }

        async Task<bool> Send(EventFeed.EventPage page)
        {
            if (after is not { } last)
            {
                after = page.Newest;
                return false;
            }
            if (last > page.Newest)
            {
                await Write(EventStream.Format("reset", null, new StreamReset(last, page.Newest,
                    "the journal ends before Last-Event-ID (restored or emptied): events continue from its end")));
                after = page.Newest;
                return false;
            }
            if (page.Oldest > last + 1 && page.Newest > last)
            {
                var missedTo = Math.Min(page.Oldest - 1, page.Newest);
                await Write(EventStream.Format("gap", null, new StreamGap(last + 1, missedTo,
                    "these events are no longer kept by the coordinator (GET /failovers and /hosts show the state they led to)")));
                after = missedTo;
            }
            foreach (var e in page.Events)
            {
                await Write(EventStream.Format(e.Event.Type, e.Sequence, new StreamedEvent(e.Sequence, e.Event.Type, e.Event.At, e.Event.Summary)));
                after = e.Sequence;
            }
            return page.Events.Count >= options.PageSize;
        }

        async Task Write(string text, CancellationToken? token = null)
        {
            await write(text, token ?? ct);
            sinceWrite.Restart();
        }
    }
}

/// <summary>The data of a <c>gap</c> event: sequence numbers <paramref name="From"/> to <paramref name="To"/> cannot be sent.</summary>
public sealed record StreamGap(long From, long To, string Reason);

/// <summary>The data of a <c>reset</c> event: the client's last id is past the journal's end.</summary>
public sealed record StreamReset(long LastEventId, long Newest, string Reason);
