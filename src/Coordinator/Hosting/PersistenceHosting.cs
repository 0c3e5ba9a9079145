using Akka.Hosting;
using Akka.Persistence.Sql.Hosting;

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
    public static AkkaConfigurationBuilder WithReplugPersistence(this AkkaConfigurationBuilder builder, PersistenceOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0)
            throw new ArgumentException($"bad persistence configuration: {string.Join("; ", errors)}", nameof(options));

        if (options.IsSqlite) Directory.CreateDirectory(Path.GetDirectoryName(options.SqliteDatabasePath)!);

        var connectionString = options.EffectiveConnectionString;
        var providerName = options.ProviderName;
        var schema = options.IsPostgreSql ? options.Schema : null;

        var journal = new SqlJournalOptions(isDefaultPlugin: true, identifier: PluginIdentifier)
        {
            ConnectionString = connectionString,
            ProviderName = providerName,
            AutoInitialize = true,
        };
        var snapshots = new SqlSnapshotOptions(isDefaultPlugin: true, identifier: PluginIdentifier)
        {
            ConnectionString = connectionString,
            ProviderName = providerName,
            AutoInitialize = true,
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
            journalBuilder: j => j.WithHealthCheck(),
            snapshotBuilder: s => s.WithHealthCheck());

        // SQLite has one writer at a time: more than one concurrent write batch only queues on the
        // database lock (and can time out). No typed option for this setting, hence the HOCON line.
        if (options.IsSqlite)
            builder.AddHocon($"{journal.PluginId}.parallelism = 1", HoconAddMode.Prepend);

        return builder;
    }
}
