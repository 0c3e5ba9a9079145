using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using Replug.Coordinator.Singleton;
using Replug.Coordinator.Tests.Support;

namespace Replug.Coordinator.Tests;

/// <summary>
/// The coordinator singleton's hand-over with real processes: three coordinator processes in one
/// cluster on one PostgreSQL journal (three, so that the two left keep a majority), the first of
/// them the oldest and so the singleton's node. The test is the observer: it polls the others'
/// APIs.
/// </summary>
public sealed partial class CoordinatorHostTests
{
    private const string HandoverToken = "handover-test-token-0123456789abcdef";

    private sealed record Coordinators(RunningProgram Process, Uri Api, HttpClient Http);

    /// <summary>
    /// c1 founds the cluster and takes the journal lock; c2, then c3, join it (c2 is older than c3,
    /// so the singleton moves to c2). Every event is replayed by a new instance (no snapshots).
    /// </summary>
    private async Task<Coordinators[]> StartThreeCoordinators(PostgresTestSchema schema)
    {
        string[] Settings(string name) =>
        [
            "--Replug:Cluster:Port=0",
            "--Replug:Coordinator:ApiUrls=http://127.0.0.1:0",
            $"--Replug:Coordinator:Persistence:DataDirectory={Path.Combine(_data.Path, name)}",
            "--Replug:Coordinator:Persistence:Provider=postgresql",
            $"--Replug:Coordinator:Persistence:ConnectionString={schema.ConnectionString}",
            $"--Replug:Coordinator:Persistence:Schema={schema.Name}",
            "--Replug:Coordinator:Persistence:SnapshotEvery=1000000",
            "--Replug:Coordinator:Api:Tokens:0:Name=test",
            $"--Replug:Coordinator:Api:Tokens:0:Value={HandoverToken}",
            "--Replug:Coordinator:Api:Tokens:0:Scope=Write",
            "--Replug:Coordinator:Api:RateLimit:PermitsPerSecond=100000",
            "--Replug:Coordinator:Api:RateLimit:Burst=100000",
        ];
        var nodes = new List<Coordinators>();
        string? seed = null;
        foreach (var name in new[] { "c1", "c2", "c3" })
        {
            var program = StartProgram(name, [Path.Combine(AppContext.BaseDirectory, "replug-coordinator.dll"), .. Settings(name),
                .. seed is null ? Array.Empty<string>() : [$"--Replug:Cluster:SeedNodes:0={seed}"]]);
            seed ??= await program.Remoting.Task.WaitAsync(TimeSpan.FromSeconds(90));
            var api = await program.Listening.Task.WaitAsync(TimeSpan.FromSeconds(90));
            // Ready: an Up member whose proxy reaches a recovered coordinator. The next node joins after: it is younger.
            await Ready(api);
            var http = new HttpClient { BaseAddress = api, Timeout = TimeSpan.FromSeconds(120) };
            http.DefaultRequestHeaders.Authorization = new("Bearer", HandoverToken);
            nodes.Add(new Coordinators(program, api, http));
        }
        Assert.Contains(nodes[0].Process.Output, l => l.Contains("Took the coordinator's journal lock"));
        return [.. nodes];
    }

    /// <summary>The epoch of the coordinator that answers through <paramref name="api"/>'s node, once ready; null while it is not.</summary>
    private static async Task<long?> ReadyEpoch(Uri api)
    {
        using var http = new HttpClient { BaseAddress = api, Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            using var response = await http.GetAsync("/health/ready");
            if (response.StatusCode != HttpStatusCode.OK) return null;
            return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("epoch").GetInt64();
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    /// <summary>Polls <paramref name="api"/> until a coordinator newer than <paramref name="epochBefore"/> answers; the time from <paramref name="since"/>.</summary>
    private static async Task<(long Epoch, TimeSpan After)> UntilNewEpochAnswers(Uri api, long epochBefore, long since)
    {
        long epoch = 0;
        await Wait.Until(async () => await ReadyEpoch(api) is { } e && (epoch = e) > epochBefore,
            $"a coordinator of an epoch above {epochBefore} answering at {api}", TimeSpan.FromSeconds(90), pollMs: 50);
        return (epoch, Stopwatch.GetElapsedTime(since));
    }

    /// <summary>Sets the power-saving level (one journal event each); true when the coordinator acknowledged it.</summary>
    private static async Task<bool> ChangePolicy(HttpClient http, int level)
    {
        try
        {
            using var response = await http.PutAsJsonAsync("/policies/power-saving", new { mode = "Advise", level });
            return response.StatusCode == HttpStatusCode.OK;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    /// <summary>What a coordinator shows of its state: its policies and every change journaled.</summary>
    private static async Task<(string Policies, int Changes)> StateSeenThrough(HttpClient http)
    {
        var policies = await http.GetStringAsync("/policies");
        using var events = JsonDocument.Parse(await http.GetStringAsync("/events?max=1000"));
        return (policies, events.RootElement.GetProperty("events").EnumerateArray().Count(e => e.GetProperty("type").GetString() == "PoliciesConfigured"));
    }

    /// <summary>
    /// Which coordinator instance wrote each stretch of the journal, in the order the database
    /// took the rows (ordering): each instance has a writer id of its own.
    /// </summary>
    private static async Task<IReadOnlyList<(string Writer, long First, long Last, long Rows)>> JournalWriters(PostgresTestSchema schema)
    {
        await using var connection = new NpgsqlConnection(schema.ConnectionString);
        await connection.OpenAsync();
        await using var query = new NpgsqlCommand(
            $"SELECT writer_uuid, min(ordering), max(ordering), count(*) FROM \"{schema.Name}\".journal " +
            "WHERE persistence_id = @id GROUP BY writer_uuid ORDER BY min(ordering)", connection);
        query.Parameters.AddWithValue("id", CoordinatorActor.PersistenceIdValue);
        var writers = new List<(string, long, long, long)>();
        await using var reader = await query.ExecuteReaderAsync();
        while (await reader.ReadAsync()) writers.Add((reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3)));
        return writers;
    }

    /// <summary>No instance wrote after the next one had started writing: the writers' stretches of the journal do not overlap.</summary>
    private static void AssertOneWriterAtATime(IReadOnlyList<(string Writer, long First, long Last, long Rows)> writers)
    {
        for (var i = 1; i < writers.Count; i++)
            Assert.True(writers[i - 1].Last < writers[i].First,
                $"writer {writers[i - 1].Writer} wrote row {writers[i - 1].Last} after writer {writers[i].Writer} had written row {writers[i].First}:\n" +
                string.Join("\n", writers));
    }

    private static async Task Signal(RunningProgram program, string signal)
    {
        using var kill = Process.Start("kill", $"-{signal} {program.Process.Id}")!;
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>
    /// kill -9 of the singleton's node: the next oldest node's coordinator takes the journal lock
    /// (freed by the server with the killed process's connection), recovers, and answers with
    /// everything the old one acknowledged, under a new epoch.
    /// </summary>
    [PostgresFact]
    public async Task After_kill_9_of_the_singletons_node_the_next_coordinator_answers_with_the_whole_state_under_a_new_epoch()
    {
        if (!OperatingSystem.IsLinux()) return; // kill -9
        await using var schema = await PostgresFixture.CreateSchemaAsync();
        var nodes = await StartThreeCoordinators(schema);
        var (c1, c2, c3) = (nodes[0], nodes[1], nodes[2]);
        for (var i = 0; i < 30; i++) Assert.True(await ChangePolicy(c1.Http, 1 + i % 5), $"change {i} not acknowledged");
        var before = await StateSeenThrough(c1.Http);
        var epochBefore = (await ReadyEpoch(c1.Api))!.Value;

        var killedAt = Stopwatch.GetTimestamp();
        c1.Process.Process.Kill(); // SIGKILL: no stop of any kind runs, the lock goes with the process's connection
        var (epoch, after) = await UntilNewEpochAnswers(c2.Api, epochBefore, killedAt);
        output.WriteLine($"hand-over: the new coordinator answered through c2's API {after.TotalSeconds:0.00} s after the kill -9 (epoch {epochBefore} -> {epoch})");

        Assert.Equal(before, await StateSeenThrough(c2.Http));
        Assert.Equal(before, await StateSeenThrough(c3.Http));
        Assert.Contains(c2.Process.Output, l => l.Contains("Took the coordinator's journal lock"));
        Assert.DoesNotContain(c3.Process.Output, l => l.Contains("Took the coordinator's journal lock"));
        AssertOneWriterAtATime(await JournalWriters(schema));
    }

    /// <summary>
    /// The singleton's process is stopped (SIGSTOP: a paused VM, a hung process) in the middle of a
    /// burst of changes and resumed only after its successor answers. The server ended the stopped
    /// process's lock session (idle_session_timeout) and the successor took the lock, recovered and
    /// wrote its epoch. On waking, the old instance's hold is unconfirmed: any write it still tries
    /// is refused before it is made, and nothing of it is acknowledged; the node learns it was
    /// removed and exits with code 4. The journal shows one writer at a time, and every change any
    /// node acknowledged is in the successor's state.
    /// </summary>
    [PostgresFact]
    public async Task A_stopped_singleton_resumed_after_the_hand_over_writes_nothing_more_and_no_acknowledged_change_is_lost()
    {
        if (!OperatingSystem.IsLinux()) return; // SIGSTOP, SIGCONT
        await using var schema = await PostgresFixture.CreateSchemaAsync();
        var nodes = await StartThreeCoordinators(schema);
        var (c1, c2, c3) = (nodes[0], nodes[1], nodes[2]);
        var epochBefore = (await ReadyEpoch(c1.Api))!.Value;
        var acknowledged = 0;
        using var stopCallers = new CancellationTokenSource();
        // Eight callers changing the policy through c1 until told to stop: requests are in flight, and
        // decisions in the coordinator's mailbox, when the process is stopped.
        async Task Caller(int lane)
        {
            for (var i = 0; !stopCallers.IsCancellationRequested; i++)
                if (await ChangePolicy(c1.Http, 1 + (lane + i) % 5)) Interlocked.Increment(ref acknowledged);
        }
        var callers = Enumerable.Range(0, 8).Select(lane => Task.Run(() => Caller(lane))).ToArray();
        await Wait.Until(() => Volatile.Read(ref acknowledged) >= 50, "a burst of acknowledged changes", TimeSpan.FromSeconds(60));

        var stoppedAt = Stopwatch.GetTimestamp();
        await Signal(c1.Process, "STOP");
        var (epoch, after) = await UntilNewEpochAnswers(c2.Api, epochBefore, stoppedAt);
        output.WriteLine($"hand-over: the new coordinator answered through c2's API {after.TotalSeconds:0.00} s after SIGSTOP (epoch {epochBefore} -> {epoch})");
        var writersBeforeResume = await JournalWriters(schema);
        await Signal(c1.Process, "CONT");

        Assert.True(c1.Process.Process.WaitForExit(90_000), "the resumed old singleton's node did not stop");
        Assert.Equal(Replug.Shared.Hosting.ExitCodes.Downed, c1.Process.Process.ExitCode);
        stopCallers.Cancel();
        await Task.WhenAll(callers).WaitAsync(TimeSpan.FromSeconds(150));
        var refused = c1.Process.Output.Where(l => l.Contains("not writing") || l.Contains("Failed to persist")).ToList();
        output.WriteLine($"the resumed old singleton refused {refused.Count} write(s): {string.Join(" | ", refused.Take(3))}");

        // The old instance's writer wrote nothing after the successor's first row, nor after the resume.
        var writers = await JournalWriters(schema);
        AssertOneWriterAtATime(writers);
        Assert.Equal(writersBeforeResume.Take(writersBeforeResume.Count - 1), writers.Take(writersBeforeResume.Count - 1));
        var (_, changes) = await StateSeenThrough(c2.Http);
        Assert.True(changes >= Volatile.Read(ref acknowledged),
            $"{Volatile.Read(ref acknowledged)} changes were acknowledged, the new coordinator's journal holds {changes}");
        Assert.Equal(await StateSeenThrough(c2.Http), await StateSeenThrough(c3.Http));
    }
}
