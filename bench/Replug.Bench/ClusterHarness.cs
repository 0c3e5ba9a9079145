using Akka.Hosting;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Replug.Coordinator.Hosting;
using Replug.Coordinator.Tests.Support;
using Replug.Shared.Hosting;

namespace Replug.Bench;

/// <summary>
/// The benchmarks' cluster settings over the tests' harness (TestNode, FakeHost, Wait in
/// tests/Coordinator.Tests/Support/TestCluster.cs, linked in): production options rather than
/// the tests' fast ones, and Akka's log dropped unless REPLUG_BENCH_VERBOSE is set (then
/// warnings go to stderr; "info": info too).
/// </summary>
internal static class BenchCluster
{
    private static readonly string? VerboseSetting = Environment.GetEnvironmentVariable("REPLUG_BENCH_VERBOSE");
    private static readonly bool Verbose = VerboseSetting is { Length: > 0 };
    private static readonly bool VerboseInfo = VerboseSetting == "info";

    /// <summary>Makes every node the harness starts log as a benchmark wants (call once, before any node).</summary>
    public static void UseBenchLogging() => TestNode.ConfigureLogging = (akka, logging) =>
    {
        if (Verbose)
            logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace).SetMinimumLevel(VerboseInfo ? LogLevel.Information : LogLevel.Warning);
        akka.ConfigureLoggers(l =>
        {
            l.LogLevel = VerboseInfo ? Akka.Event.LogLevel.InfoLevel : Verbose ? Akka.Event.LogLevel.WarningLevel : Akka.Event.LogLevel.ErrorLevel;
            l.ClearLoggers();
            l.AddLoggerFactory();
        });
        akka.AddHocon("akka.stdout-loglevel = OFF", HoconAddMode.Prepend);
    };

    /// <summary>The figures the README claims: ClusterNodeOptions' own defaults, on a free port.</summary>
    public static ClusterNodeOptions Production() => new() { Port = 0 };

    /// <summary>Akka's own failure detector defaults (heartbeat 1 s, acceptable pause 3 s); Replug's lease and margin.</summary>
    public static ClusterNodeOptions AkkaDefaults() => new()
    {
        Port = 0, HeartbeatInterval = TimeSpan.FromSeconds(1), AcceptableHeartbeatPause = TimeSpan.FromSeconds(3),
    };

    /// <summary>The coordinator's production options, its journal in <paramref name="dataDirectory"/>.</summary>
    public static CoordinatorOptions Coordinator(string dataDirectory, int? snapshotEvery = null)
    {
        var options = new CoordinatorOptions { Persistence = new PersistenceOptions { DataDirectory = dataDirectory } };
        if (snapshotEvery is { } every) options.Persistence.SnapshotEvery = every;
        return options;
    }
}

/// <summary>A temporary folder for a coordinator's SQLite file, removed on Dispose.</summary>
internal sealed class BenchTempDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("replug-bench-").FullName;

    public string Database => System.IO.Path.Combine(Path, PersistenceOptions.DatabaseFileName);

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        if (Environment.GetEnvironmentVariable("REPLUG_BENCH_KEEP") is { Length: > 0 })
        {
            Console.Error.WriteLine($"kept {Path}");
            return;
        }
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>What the coordinator's journal holds (read straight from its SQLite file).</summary>
internal sealed record JournalFacts(long Events, long HighestSequenceNr, long? SnapshotSequenceNr, long SnapshotBytes,
    IReadOnlyDictionary<string, long> ByManifest, string JournalMode, long SnapshotRows, long Pages, long FreePages, long PageSize)
{
    public static JournalFacts Read(string database)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = database, Mode = SqliteOpenMode.ReadOnly }.ToString());
        connection.Open();
        Dictionary<string, long> byManifest;
        long events, highest;
        using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT manifest, COUNT(*), MAX(sequence_number) FROM journal WHERE persistence_id = $id GROUP BY manifest";
            command.Parameters.AddWithValue("$id", Coordinator.Singleton.CoordinatorActor.PersistenceIdValue);
            using var reader = command.ExecuteReader();
            (byManifest, events, highest) = CountByManifest(reader);
        }
        long? snapshot = null;
        long bytes = 0;
        using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT sequence_number, LENGTH(snapshot) FROM snapshot WHERE persistence_id = $id ORDER BY sequence_number DESC LIMIT 1";
            command.Parameters.AddWithValue("$id", Coordinator.Singleton.CoordinatorActor.PersistenceIdValue);
            using var reader = command.ExecuteReader();
            if (reader.Read())
            {
                snapshot = reader.GetInt64(0);
                bytes = reader.IsDBNull(1) ? 0 : reader.GetInt64(1);
            }
        }
        object? Scalar(string sql)
        {
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            return command.ExecuteScalar();
        }
        return new JournalFacts(events, highest, snapshot, bytes, byManifest, Scalar("PRAGMA journal_mode") as string ?? "?",
            (long)Scalar("SELECT COUNT(*) FROM snapshot")!, (long)Scalar("PRAGMA page_count")!, (long)Scalar("PRAGMA freelist_count")!,
            (long)Scalar("PRAGMA page_size")!);
    }

    /// <summary>Rows of (manifest, count, highest sequence number), as both stores answer them: events by manifest, in all, and the highest.</summary>
    private static (Dictionary<string, long> ByManifest, long Events, long Highest) CountByManifest(System.Data.Common.DbDataReader reader)
    {
        var byManifest = new Dictionary<string, long>(StringComparer.Ordinal);
        long events = 0, highest = 0;
        while (reader.Read())
        {
            var count = reader.GetInt64(1);
            byManifest[reader.IsDBNull(0) ? "" : reader.GetString(0)] = count;
            events += count;
            highest = Math.Max(highest, reader.GetInt64(2));
        }
        return (byManifest, events, highest);
    }

    /// <summary>The same facts from a PostgreSQL schema (no file: pages and journal mode are SQLite's).</summary>
    public static JournalFacts ReadPostgres(string connectionString, string schema)
    {
        using var connection = new Npgsql.NpgsqlConnection(connectionString);
        connection.Open();
        Npgsql.NpgsqlCommand Command(string sql)
        {
            var command = new Npgsql.NpgsqlCommand(sql.Replace("{schema}", $"\"{schema}\"", StringComparison.Ordinal), connection);
            command.Parameters.AddWithValue("id", Coordinator.Singleton.CoordinatorActor.PersistenceIdValue);
            return command;
        }
        Dictionary<string, long> byManifest;
        long events, highest;
        using (var command = Command("SELECT manifest, COUNT(*), MAX(sequence_number) FROM {schema}.journal WHERE persistence_id = @id GROUP BY manifest"))
        using (var reader = command.ExecuteReader())
            (byManifest, events, highest) = CountByManifest(reader);
        long? snapshot = null;
        long bytes = 0;
        using (var command = Command("SELECT sequence_number, octet_length(snapshot) FROM {schema}.snapshot WHERE persistence_id = @id ORDER BY sequence_number DESC LIMIT 1"))
        using (var reader = command.ExecuteReader())
            if (reader.Read())
            {
                snapshot = reader.GetInt64(0);
                bytes = reader.IsDBNull(1) ? 0 : reader.GetInt32(1);
            }
        long rows;
        using (var command = Command("SELECT COUNT(*) FROM {schema}.snapshot WHERE persistence_id = @id"))
            rows = (long)command.ExecuteScalar()!;
        return new JournalFacts(events, highest, snapshot, bytes, byManifest, "postgresql", rows, 0, 0, 0);
    }

    public long Count(string manifestPrefix) => ByManifest.Where(m => m.Key.StartsWith(manifestPrefix, StringComparison.Ordinal)).Sum(m => m.Value);
}

/// <summary>Median and range of a few runs, and a compact table.</summary>
internal static class BenchStats
{
    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToList();
        var mid = sorted.Count / 2;
        return sorted.Count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>"1.23 (1.10–1.40)" in seconds, from milliseconds.</summary>
    public static string Seconds(IReadOnlyList<double> ms)
    {
        var valid = ms.Where(v => !double.IsNaN(v)).ToList();
        if (valid.Count == 0) return "n/a";
        return valid.Count == 1 ? $"{valid[0] / 1000:0.00}" : $"{Median(valid) / 1000:0.00} ({valid.Min() / 1000:0.00}-{valid.Max() / 1000:0.00})";
    }

    /// <summary>"1.23" s median only.</summary>
    public static string MedianSeconds(IReadOnlyList<double> ms)
    {
        var valid = ms.Where(v => !double.IsNaN(v)).ToList();
        return valid.Count == 0 ? "n/a" : $"{Median(valid) / 1000:0.00}";
    }

    public static void Table(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        var all = rows.ToList();
        var widths = headers.Select((h, i) => Math.Max(h.Length, all.Count == 0 ? 0 : all.Max(r => r[i].Length))).ToArray();
        Console.WriteLine("  " + string.Join("  ", headers.Select((h, i) => i == 0 ? h.PadRight(widths[i]) : h.PadLeft(widths[i]))));
        Console.WriteLine("  " + string.Join("  ", widths.Select(w => new string('-', w))));
        foreach (var row in all)
            Console.WriteLine("  " + string.Join("  ", row.Select((c, i) => i == 0 ? c.PadRight(widths[i]) : c.PadLeft(widths[i]))));
    }
}
