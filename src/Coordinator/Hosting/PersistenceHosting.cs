using Akka.Hosting;
using Akka.Persistence.Sql.Hosting;
using Microsoft.Data.Sqlite;

namespace Replug.Coordinator.Hosting;

public static class PersistenceHosting
{
    /// <summary>Plugin identifier: the journal is "akka.persistence.journal.sql", the snapshot store "akka.persistence.snapshot-store.sql".</summary>
    public const string PluginIdentifier = "sql";

    /// <summary>
    /// Makes Akka.Persistence.Sql the default journal and snapshot store, on SQLite (DataDirectory/replug.db,
    /// the folder created here) or PostgreSQL, with the same code path; tables are created on first start
    /// (auto-initialize, from the write side). Registers the journal's and the snapshot store's health
    /// checks (tags "akka", "persistence", and "journal" or "snapshot-store").
    /// </summary>
    /// <exception cref="ArgumentException">The options are not valid; the message names every bad key.</exception>
    /// <param name="abortSilentTransactionsAfter">
    /// PostgreSQL only: the server aborts a journal transaction whose writer has been silent this long
    /// (<c>idle_in_transaction_session_timeout</c>). A coordinator process stopped in the middle of a
    /// write (SIGSTOP, a paused VM) would otherwise keep its open transaction, and with it the row its
    /// successor must write next: the successor's write would wait on it until the process died or woke.
    /// A coordinator node passes its journal lock's timeout: silent that long, a writer has lost both.
    /// </param>
    public static AkkaConfigurationBuilder WithReplugPersistence(this AkkaConfigurationBuilder builder, PersistenceOptions options,
        TimeSpan? abortSilentTransactionsAfter = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0)
            throw new ArgumentException($"bad persistence configuration: {string.Join("; ", errors)}", nameof(options));

        if (options.IsSqlite) Directory.CreateDirectory(Path.GetDirectoryName(options.SqliteDatabasePath)!);

        var connectionString = options.EffectiveConnectionString;
        if (options.IsPostgreSql && abortSilentTransactionsAfter is { } silent)
            connectionString = Locking.PostgresJournalLock.AbortingSilentTransactions(connectionString, silent);
        var autoInitialize = !options.IsSqlite || SqliteNeedsTables(options.SqliteDatabasePath);
        if (options.IsSqlite) UseWriteAheadLog(options.SqliteDatabasePath);
        var providerName = options.ProviderName;
        var schema = options.IsPostgreSql ? options.Schema : null;

        var journal = new SqlJournalOptions(isDefaultPlugin: true, identifier: PluginIdentifier)
        {
            ConnectionString = connectionString,
            ProviderName = providerName,
            AutoInitialize = autoInitialize,
        };
        var snapshots = new SqlSnapshotOptions(isDefaultPlugin: true, identifier: PluginIdentifier)
        {
            ConnectionString = connectionString,
            ProviderName = providerName,
            AutoInitialize = autoInitialize,
        };
        if (schema is not null)
        {
            journal.DatabaseOptions = new JournalDatabaseOptions(DatabaseMapping.Default) { SchemaName = schema };
            snapshots.DatabaseOptions = new SnapshotDatabaseOptions(DatabaseMapping.Default) { SchemaName = schema };
        }

        // Not WithConnectivityCheck(): in Sql.Hosting 1.5.70 it is built against an older linq2db and reports
        // Unhealthy ("Could not load type 'LinqToDB.Data.DataConnectionExtensions'") with linq2db 6.5.1.
        builder.WithSqlPersistence(
            journal,
            snapshots,
            // Unhealthy, not Akka's default Degraded: a journal that fails its check makes the node not ready.
            journalBuilder: j => j.WithHealthCheck(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy),
            snapshotBuilder: s => s.WithHealthCheck(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy));

        // SQLite has one writer at a time: more than one concurrent write batch only queues on the
        // database lock (and can time out). No typed option for this setting, hence the HOCON line.
        if (options.IsSqlite)
            builder.AddHocon($"{journal.PluginId}.parallelism = 1", HoconAddMode.Prepend);

        return builder;
    }

    /// <summary>
    /// Puts the SQLite file in write-ahead-log mode (<c>journal_mode=WAL</c>, kept in the file, so every
    /// later connection of the journal and the snapshot store uses it; a new file is created here).
    /// In WAL mode a commit appends to the -wal file and, with <c>synchronous=FULL</c>, costs one fsync of
    /// it, where the rollback journal cost several (journal, database, folder); readers do not block the
    /// writer. <c>synchronous</c> is a per-connection setting that no connection-string key sets: the plugins'
    /// connections run with SQLite's compiled default, FULL (<see cref="SqliteSynchronousFull"/>, checked by a
    /// test), so a write the journal acknowledged survives a process kill and a power loss. NORMAL would skip
    /// that fsync and survive a kill but not a power loss: a lease or an epoch already announced to the agents
    /// could then be forgotten, so Replug keeps FULL; batching makes its cost one fsync per burst.
    /// A file SQLite cannot read is left alone (its damage surfaces as the coordinator's recovery failure).
    /// </summary>
    /// <returns>The journal mode the file is in afterwards ("wal"), or null when SQLite could not read it.</returns>
    public static string? UseWriteAheadLog(string databasePath)
    {
        try
        {
            using var connection = new SqliteConnection(new SqliteConnectionStringBuilder
            {
                DataSource = databasePath,
                Mode = SqliteOpenMode.ReadWriteCreate,
                Pooling = false,
            }.ToString());
            connection.Open();
            using var command = new SqliteCommand("PRAGMA journal_mode=WAL", connection);
            return command.ExecuteScalar() as string;
        }
        catch (SqliteException)
        {
            return null;
        }
    }

    /// <summary><c>PRAGMA synchronous</c>'s value for FULL: what the journal's connections must report (see <see cref="UseWriteAheadLog"/>).</summary>
    public const long SqliteSynchronousFull = 2;

    /// <summary>The tables Akka.Persistence.Sql creates in a new database.</summary>
    public static readonly IReadOnlyList<string> SqliteTables = ["journal", "snapshot", "tags"];

    /// <summary>
    /// Whether the plugins must create their tables in the SQLite file: when it is new, or readable
    /// and without them. A file that has them, or that SQLite cannot read, is left alone: the SQL
    /// plugins crash at every start while creating tables in a damaged file, and Akka restarts them
    /// at once, forever (a log flood, and the coordinator never hears why). Without that step the
    /// damage surfaces once, as the coordinator's recovery failure, with SQLite's own words.
    /// </summary>
    public static bool SqliteNeedsTables(string databasePath)
    {
        if (!File.Exists(databasePath) || new FileInfo(databasePath).Length == 0) return true;
        try
        {
            using var connection = new SqliteConnection(new SqliteConnectionStringBuilder
            {
                DataSource = databasePath,
                Mode = SqliteOpenMode.ReadOnly,
                Pooling = false,
            }.ToString());
            connection.Open();
            using var command = new SqliteCommand("SELECT name FROM sqlite_master WHERE type = 'table'", connection);
            using var reader = command.ExecuteReader();
            var tables = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            while (reader.Read()) tables.Add(reader.GetString(0));
            return !SqliteTables.All(tables.Contains);
        }
        catch (SqliteException)
        {
            return false;
        }
    }
}
