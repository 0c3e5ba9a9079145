using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Replug.Ctl;

public sealed partial class Ctl
{
    private static readonly TimeSpan Reconnect = TimeSpan.FromSeconds(1);

    /// <summary>
    /// One request: the answer printed (a table, or its JSON as it came), or its refusal on stderr,
    /// each with its exit code. <paramref name="transform"/> changes a successful answer's JSON before it
    /// is printed; <paramref name="refusal"/> may give a refusal a clearer message than the API's.
    /// </summary>
    private async Task<int> Call(ParseResult p, CancellationToken ct, Func<ReplugClient, Task<ApiResponse>> send, Func<JsonElement, IRenderable> view,
        Func<string, string>? transform = null, Func<ApiResponse, string?>? refusal = null)
    {
        if (!Connect(p, out var client)) return ExitCodes.Usage;
        using (client)
        {
            try
            {
                var answer = await send(client);
                if (!answer.Success) return await Refuse(p, answer, refusal?.Invoke(answer));
                await Print(p, transform is null ? answer.Body : transform(answer.Body), view);
                return ExitCodes.Ok;
            }
            catch (ApiUnreachableException e)
            {
                await error.WriteLineAsync($"{Name}: {e.Message}");
                return ExitCodes.Unreachable;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return ExitCodes.Interrupted;
            }
        }
    }

    /// <summary>
    /// <c>PUT /policies/NAME</c> takes the whole of one policy's settings: the current ones (from
    /// <c>GET /policies</c>) with the mode and level changed, so the others stay as they are.
    /// </summary>
    private async Task<int> SetPolicy(ParseResult p, string name, string? mode, int? level, CancellationToken ct)
    {
        if (mode is null && level is null)
        {
            await error.WriteLineAsync($"{Name}: policy set {name}: give --mode, --level or both");
            return ExitCodes.Usage;
        }
        var property = name == "load-balancing" ? "loadBalancing" : "powerSaving";
        return await Call(p, ct, async c =>
        {
            var current = await c.Get("/policies", ct);
            if (!current.Success) return current;
            var settings = JsonNode.Parse(current.Body)?["settings"]?[property]?.AsObject()
                ?? throw new ApiUnreachableException($"{c.Connection.BaseUrl} answered GET /policies without settings.{property}");
            if (mode is not null) settings["mode"] = Modes.First(m => m.Equals(mode, StringComparison.OrdinalIgnoreCase));
            if (level is not null) settings["level"] = level;
            return await c.Put($"/policies/{name}", settings.ToJsonString(), ct);
        }, Views.Policies);
    }

    /// <summary>
    /// Follows <c>GET /events/stream</c> until Ctrl-C: each event <paramref name="wanted"/> accepts as a
    /// line on stdout (its JSON with --json); the stream's notices (unavailable, gap, reset, end) on
    /// stderr. A broken or ended stream is opened again after <see cref="Reconnect"/> with the last
    /// event's id, so nothing is missed or repeated; only a first connection that fails is an exit (3).
    /// </summary>
    private async Task<int> Follow(ParseResult p, Func<string, bool> wanted, CancellationToken ct)
    {
        if (!Connect(p, out var client)) return ExitCodes.Usage;
        var json = p.GetValue(_json);
        long? last = null;
        var connected = false;
        var outage = false;
        using (client)
        {
            while (true)
            {
                try
                {
                    var (stream, refusal) = await client.OpenEventStream(last, ct);
                    if (refusal is not null)
                    {
                        // The route missing (an older coordinator) or a token refused: retrying will not help.
                        return await Refuse(p, refusal, refusal.Status == 404 ? $"{client.Connection.BaseUrl} has no event stream (GET /events/stream): update the coordinator" : null);
                    }
                    await error.WriteLineAsync(connected
                        ? $"{Name}: following again after event {last?.ToString() ?? "(none yet)"}"
                        : $"{Name}: following {client.Connection.BaseUrl}events/stream (Ctrl-C to stop)");
                    connected = true;
                    outage = false;
                    using var reader = new StreamReader(stream!);
                    await foreach (var e in ServerSentEvents.Read(reader, ct))
                    {
                        if (e.Type is "unavailable" or "gap" or "reset" or "end")
                        {
                            await error.WriteLineAsync($"{Name}: {e.Type}: {Notice(e.Data)}");
                            continue;
                        }
                        if (e.Id is { } id) last = id;
                        if (!wanted(e.Type)) continue;
                        await output.WriteLineAsync(json ? e.Data : Views.EventLine(JsonDocument.Parse(e.Data).RootElement));
                        await output.FlushAsync(ct);
                    }
                    await error.WriteLineAsync($"{Name}: the stream ended; reconnecting");
                }
                catch (ApiUnreachableException e) when (!connected)
                {
                    await error.WriteLineAsync($"{Name}: {e.Message}");
                    return ExitCodes.Unreachable;
                }
                catch (Exception e) when (e is ApiUnreachableException or IOException or HttpRequestException && !ct.IsCancellationRequested)
                {
                    // Once per outage: a node down for minutes must not fill the terminal with a line a second.
                    if (!outage) await error.WriteLineAsync($"{Name}: {e.Message}; reconnecting every {Reconnect.TotalSeconds:0} s");
                    outage = true;
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    return ExitCodes.Ok;
                }
                try { await Task.Delay(Reconnect, ct); }
                catch (OperationCanceledException) { return ExitCodes.Ok; }
            }
        }
    }

    /// <summary>A stream notice's reason (its data's <c>error</c> or <c>reason</c>), or its data as is.</summary>
    private static string Notice(string data)
    {
        try
        {
            var node = JsonNode.Parse(data);
            return (string?)node?["error"] ?? (string?)node?["reason"] ?? data;
        }
        catch (JsonException)
        {
            return data;
        }
    }

    private bool Connect(ParseResult p, out ReplugClient client)
    {
        var (connection, problem) = Connection.Resolve(p.GetValue(_url), p.GetValue(_tokenFile), environment, currentDirectory);
        if (connection is null)
        {
            error.WriteLine($"{Name}: {problem}");
            client = null!;
            return false;
        }
        client = new ReplugClient(connection);
        return true;
    }

    /// <summary>A refusal on stderr: with --json the API's JSON as it came; else the status and the reason (or <paramref name="message"/>).</summary>
    private async Task<int> Refuse(ParseResult p, ApiResponse answer, string? message)
    {
        var code = ExitCodes.ForStatus(answer.Status);
        if (p.GetValue(_json) && message is null)
        {
            await error.WriteLineAsync(answer.Body.Trim());
            return code;
        }
        var what = code switch
        {
            ExitCodes.Unauthorized => "unauthorized",
            ExitCodes.ServerError => "the API failed",
            _ => "the API refused",
        };
        await error.WriteLineAsync($"{Name}: {what} ({answer.Status}): {message ?? Views.ErrorReason(answer.Body)}");
        if (code == ExitCodes.Unauthorized && answer.Status == 401)
            await error.WriteLineAsync($"{Name}: give the API's token: {Connection.TokenVariable}, --token-file or {Connection.TokenFileVariable} (a coordinator on loopback writes one to ./data/api-token)");
        return code;
    }

    private async Task Print(ParseResult p, string body, Func<JsonElement, IRenderable> view)
    {
        if (p.GetValue(_json))
        {
            await output.WriteLineAsync(body.TrimEnd());
            return;
        }
        using var document = JsonDocument.Parse(body);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        // Not a terminal: no width to fit, so a row is never wrapped across lines (grep finds it whole).
        if (!terminal) console.Profile.Width = 400;
        console.Write(view(document.RootElement));
    }
}
