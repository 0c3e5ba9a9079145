using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Npgsql;
using Replug.Coordinator.Locking;

namespace Replug.Coordinator.Hosting;

/// <summary>
/// Where the coordinator's event journal and snapshots live (section "Replug:Coordinator:Persistence").
/// One code path for both providers: Akka.Persistence.Sql over linq2db, only the provider name and
/// connection string differ. Tables are created on first start.
/// </summary>
public sealed partial class PersistenceOptions
{
    public const string Section = "Replug:Coordinator:Persistence";
    public const string Sqlite = "sqlite";
    public const string PostgreSql = "postgresql";
    public const string DatabaseFileName = "replug.db";

    /// <summary>"sqlite" (embedded, the default) or "postgresql".</summary>
    public string Provider { get; set; } = Sqlite;

    /// <summary>For "postgresql": an Npgsql connection string. Not used by "sqlite".</summary>
    public string? ConnectionString { get; set; }

    /// <summary>For "postgresql": the schema that holds the tables (it must exist); the connection's search path when not set. Not used by "sqlite".</summary>
    public string? Schema { get; set; }

    /// <summary>For "sqlite": the folder of the database file (DataDirectory/replug.db), created when missing; relative to the working directory.</summary>
    public string DataDirectory { get; set; } = "./data";

    /// <summary>
    /// The fewest events between two snapshots. The coordinator also waits for as many events as its state
    /// holds records (<see cref="Singleton.SnapshotSchedule"/>), so a large state is not rewritten every few events.
    /// </summary>
    public int SnapshotEvery { get; set; } = 100;

    public bool IsSqlite => string.Equals(Provider, Sqlite, StringComparison.OrdinalIgnoreCase);
    public bool IsPostgreSql => string.Equals(Provider, PostgreSql, StringComparison.OrdinalIgnoreCase);

    /// <summary>The linq2db provider name for <see cref="Provider"/>.</summary>
    public string ProviderName => IsSqlite ? LinqToDB.ProviderName.SQLiteMS
        : IsPostgreSql ? LinqToDB.ProviderName.PostgreSQL15
        : throw new InvalidOperationException($"{Section}:{nameof(Provider)}: '{Provider}' is not a provider ({Sqlite}, {PostgreSql})");

    /// <summary>The SQLite database file's full path.</summary>
    public string SqliteDatabasePath => Path.GetFullPath(Path.Combine(DataDirectory, DatabaseFileName));

    /// <summary>The connection string handed to the journal and the snapshot store.</summary>
    public string EffectiveConnectionString => IsSqlite
        ? new SqliteConnectionStringBuilder { DataSource = SqliteDatabasePath, Mode = SqliteOpenMode.ReadWriteCreate }.ToString()
        : ConnectionString ?? throw new InvalidOperationException($"{Section}:{nameof(ConnectionString)}: required for {PostgreSql}");

    /// <summary>
    /// The journal lock for an owner (<see cref="JournalLease.OwnerName"/>): a lock file next to the
    /// SQLite database, or an advisory lock on PostgreSQL keyed by <see cref="Schema"/>.
    /// </summary>
    public IJournalLock JournalLock(string owner, JournalLockSettings settings) => IsSqlite
        ? new FileJournalLock(SqliteDatabasePath + ".lock", owner)
        : new PostgresJournalLock(EffectiveConnectionString, Schema, owner, settings);

    /// <summary>Every problem, each naming its configuration key; empty when the options are usable.</summary>
    /// <summary>Why the journal's folder cannot be created or written (null: it can): checked before anything starts, not by a crash later.</summary>
    private static string? WhyNotWritable(string folder)
    {
        try
        {
            Directory.CreateDirectory(folder);
            var probe = Path.Combine(folder, $".replug-write-check-{Environment.ProcessId}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            return e.Message;
        }
    }

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        void Check(bool ok, string key, string problem) { if (!ok) errors.Add($"{Section}:{key}: {problem}"); }

        Check(IsSqlite || IsPostgreSql, nameof(Provider), $"'{Provider}' is not a provider ({Sqlite}, {PostgreSql})");
        Check(SnapshotEvery > 0, nameof(SnapshotEvery), $"{SnapshotEvery} must be positive");

        if (IsSqlite)
        {
            Check(!string.IsNullOrWhiteSpace(DataDirectory), nameof(DataDirectory), "must not be empty");
            Check(string.IsNullOrWhiteSpace(DataDirectory) || DataDirectory.IndexOfAny(Path.GetInvalidPathChars()) < 0,
                nameof(DataDirectory), $"'{DataDirectory}' is not a path");
            Check(string.IsNullOrWhiteSpace(DataDirectory) || !File.Exists(DataDirectory),
                nameof(DataDirectory), $"'{DataDirectory}' is a file, not a folder");
            if (!string.IsNullOrWhiteSpace(DataDirectory) && !File.Exists(DataDirectory) && WhyNotWritable(DataDirectory) is { } why)
                Check(false, nameof(DataDirectory), $"'{DataDirectory}' cannot hold the journal: {why}");
        }

        if (IsPostgreSql)
        {
            if (string.IsNullOrWhiteSpace(ConnectionString))
                Check(false, nameof(ConnectionString), $"required for {PostgreSql} (e.g. \"Host=127.0.0.1;Port=5432;Username=replug;Password=...;Database=replug\")");
            else
            {
                string? problem = null;
                try
                {
                    var parsed = new NpgsqlConnectionStringBuilder(ConnectionString);
                    if (string.IsNullOrWhiteSpace(parsed.Host)) problem = "names no Host";
                }
                catch (Exception e) when (e is ArgumentException or FormatException or KeyNotFoundException)
                {
                    problem = $"is not a PostgreSQL connection string ({e.Message})";
                }
                Check(problem is null, nameof(ConnectionString), problem ?? "");
            }
            Check(Schema is null || SchemaName().IsMatch(Schema), nameof(Schema),
                $"'{Schema}' is not a schema name (letters, digits and '_', not starting with a digit, at most 63)");
        }
        return errors;
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,62}$")]
    private static partial Regex SchemaName();
}
