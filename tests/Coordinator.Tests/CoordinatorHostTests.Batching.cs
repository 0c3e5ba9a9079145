using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Replug.Coordinator.Tests.Support;

namespace Replug.Coordinator.Tests;

/// <summary>The coordinator writes a burst's decisions in batches: an answer still leaves only once its change is in the journal.</summary>
public sealed partial class CoordinatorHostTests
{
    [Fact]
    public async Task No_acknowledged_change_is_lost_when_the_coordinator_is_killed_with_SIGKILL_in_the_middle_of_a_burst_on_a_journal_in_WAL_mode()
    {
        // No snapshot (and so no compaction): the restarted coordinator replays, and lists, every event written.
        string[] settings = [.. Isolated(), "--Replug:Coordinator:Api:RateLimit:PermitsPerSecond=100000", "--Replug:Coordinator:Api:RateLimit:Burst=100000",
            "--Replug:Coordinator:Persistence:SnapshotEvery=1000000"];
        using var first = Start(settings);
        var api = await first.Listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
        await Ready(api);
        using var http = ApiClient(api);
        var acknowledged = 0;
        // Sixteen callers at once, each changing the power-saving level (one event per request) until the coordinator is gone.
        async Task Caller(int lane)
        {
            for (var i = 0; ; i++)
            {
                try
                {
                    using var response = await http.PutAsJsonAsync("/policies/power-saving", new { mode = "Advise", level = 1 + (lane + i) % 5 });
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                    Interlocked.Increment(ref acknowledged);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    return;
                }
            }
        }
        var callers = Enumerable.Range(0, 16).Select(Caller).ToArray();
        await Wait.Until(() => Volatile.Read(ref acknowledged) >= 150, "a burst of acknowledged changes", TimeSpan.FromSeconds(60));

        first.Process.Kill(); // SIGKILL, mid-burst: no stop of any kind runs
        await first.Process.WaitForExitAsync();
        // The acknowledged writes of the killed process sit in SQLite's write-ahead log, not yet checkpointed into the database file.
        var database = Path.Combine(_data.Path, Hosting.PersistenceOptions.DatabaseFileName);
        Assert.True(File.Exists(database + "-wal"), "the killed coordinator left no write-ahead log: the journal does not run in WAL mode");
        await Task.WhenAll(callers).WaitAsync(TimeSpan.FromSeconds(60));
        var acknowledgedBeforeTheKill = Volatile.Read(ref acknowledged);

        using var second = Start(settings);
        var secondApi = await second.Listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
        await Ready(secondApi);
        using var secondHttp = ApiClient(secondApi);
        using var events = JsonDocument.Parse(await secondHttp.GetStringAsync("/events?max=1000"));
        var configured = events.RootElement.GetProperty("events").EnumerateArray().Count(e => e.GetProperty("type").GetString() == "PoliciesConfigured");

        Assert.True(configured >= acknowledgedBeforeTheKill,
            $"{acknowledgedBeforeTheKill} changes were acknowledged before the kill, the journal holds {configured}");
        Assert.Equal("wal", JournalMode(database));
        Assert.Equal(0, await second.Terminate());
    }

    private static string? JournalMode(string database)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection(new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder { DataSource = database, Pooling = false }.ToString());
        connection.Open();
        using var command = new Microsoft.Data.Sqlite.SqliteCommand("PRAGMA journal_mode", connection);
        return command.ExecuteScalar() as string;
    }
}
