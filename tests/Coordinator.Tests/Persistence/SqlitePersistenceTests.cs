using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Replug.Coordinator.Hosting;
using Replug.Coordinator.Tests.Support;

namespace Replug.Coordinator.Tests.Persistence;

/// <summary>The embedded default: a real SQLite file in a temp folder, deleted afterwards.</summary>
public sealed class SqlitePersistenceTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    private PersistenceOptions Options(string folder = "data") => new()
    {
        Provider = PersistenceOptions.Sqlite,
        DataDirectory = _temp.Combine(folder),
    };

    [Fact]
    public async Task State_survives_a_restart_on_the_same_sqlite_file_from_snapshot_and_events()
    {
        var options = Options();
        await PersistenceScenarios.State_survives_a_restart_from_snapshot_and_events(options);

        Assert.True(File.Exists(_temp.Combine("data", "replug.db")));
        Assert.Equal(13, Count(options, "journal"));
        Assert.Equal(2, Count(options, "snapshot"));
    }

    [Fact]
    public async Task First_start_creates_the_data_directory_and_the_tables_in_a_fresh_file()
    {
        var options = Options(Path.Combine("not", "there", "yet"));
        Assert.False(Directory.Exists(options.DataDirectory));

        await PersistenceScenarios.Start_write_one_event_and_stop(options, host =>
        {
            var config = host.System.Settings.Config;
            Assert.Equal("akka.persistence.journal.sql", config.GetString("akka.persistence.journal.plugin"));
            Assert.Equal("akka.persistence.snapshot-store.sql", config.GetString("akka.persistence.snapshot-store.plugin"));
            Assert.Equal(1, config.GetInt("akka.persistence.journal.sql.parallelism"));
            Assert.Equal(LinqToDB.ProviderName.SQLiteMS, config.GetString("akka.persistence.journal.sql.provider-name"));
            Assert.True(config.GetBoolean("akka.persistence.journal.sql.auto-initialize"));
            return Task.CompletedTask;
        });

        Assert.True(File.Exists(Path.Combine(options.DataDirectory, PersistenceOptions.DatabaseFileName)));
        var tables = Tables(options);
        Assert.Contains("journal", tables);
        Assert.Contains("snapshot", tables);
        Assert.Equal(1, Count(options, "journal"));
    }

    [Fact]
    public async Task The_journal_writes_ahead_to_a_log_with_an_fsync_per_commit()
    {
        var options = Options();
        await PersistenceScenarios.Start_write_one_event_and_stop(options, _ =>
        {
            // While it runs: a connection opened as the plugins open theirs (their connection string) sees WAL and synchronous FULL.
            using var connection = new SqliteConnection(options.EffectiveConnectionString);
            connection.Open();
            Assert.Equal("wal", Pragma(connection, "journal_mode"));
            Assert.Equal(PersistenceHosting.SqliteSynchronousFull, Convert.ToInt64(Pragma(connection, "synchronous")));
            return Task.CompletedTask;
        });

        Assert.Equal(1, Count(options, "journal"));
        using var reopened = Open(options);
        Assert.Equal("wal", Pragma(reopened, "journal_mode"));
    }

    [Fact]
    public void A_file_sqlite_cannot_read_is_not_switched_to_WAL_and_stays_as_it_was()
    {
        var options = Options();
        Directory.CreateDirectory(options.DataDirectory);
        var garbage = Enumerable.Repeat((byte)0x5a, 8192).ToArray();
        File.WriteAllBytes(options.SqliteDatabasePath, garbage);

        Assert.Null(PersistenceHosting.UseWriteAheadLog(options.SqliteDatabasePath));
        Assert.Equal(garbage, File.ReadAllBytes(options.SqliteDatabasePath));
    }

    private static object? Pragma(SqliteConnection connection, string name)
    {
        using var command = new SqliteCommand($"PRAGMA {name}", connection);
        return command.ExecuteScalar();
    }

    [Fact]
    public async Task Events_and_snapshots_are_stored_with_the_explicit_serializer()
    {
        var options = Options();
        options.SnapshotEvery = 1;
        await PersistenceScenarios.Start_write_one_event_and_stop(options);

        Assert.Equal([CounterSerializer.Id], Column(options, "SELECT DISTINCT identifier FROM journal"));
        Assert.Equal([CounterSerializer.Id], Column(options, "SELECT DISTINCT serializer_id FROM snapshot"));
    }

    [Fact]
    public async Task Journal_and_snapshot_store_health_checks_report_healthy()
    {
        await PersistenceScenarios.Start_write_one_event_and_stop(Options(), async host =>
        {
            HealthReport report = await host.HealthAsync();
            var persistence = report.Entries.Where(e => e.Value.Tags.Contains("persistence")).ToList();
            Assert.Contains(persistence, e => e.Value.Tags.Contains("journal"));
            Assert.Contains(persistence, e => e.Value.Tags.Contains("snapshot-store"));
            Assert.All(persistence, e => Assert.True(e.Value.Status == HealthStatus.Healthy, $"{e.Key}: {e.Value.Status} {e.Value.Description}"));
        });
    }

    private static SqliteConnection Open(PersistenceOptions options)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = options.SqliteDatabasePath,
            Mode = SqliteOpenMode.ReadOnly,
            Pooling = false,
        }.ToString());
        connection.Open();
        return connection;
    }

    private static List<string> Tables(PersistenceOptions options)
    {
        using var connection = Open(options);
        using var command = new SqliteCommand("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", connection);
        using var reader = command.ExecuteReader();
        var tables = new List<string>();
        while (reader.Read()) tables.Add(reader.GetString(0));
        return tables;
    }

    private static List<long> Column(PersistenceOptions options, string sql)
    {
        using var connection = Open(options);
        using var command = new SqliteCommand(sql, connection);
        using var reader = command.ExecuteReader();
        var values = new List<long>();
        while (reader.Read()) values.Add(reader.GetInt64(0));
        return values;
    }

    private static long Count(PersistenceOptions options, string table)
    {
        using var connection = Open(options);
        using var command = new SqliteCommand($"SELECT count(*) FROM \"{table}\"", connection);
        return Convert.ToInt64(command.ExecuteScalar());
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools(); // idle pooled connections would keep the deleted file open
        _temp.Dispose();
    }
}
