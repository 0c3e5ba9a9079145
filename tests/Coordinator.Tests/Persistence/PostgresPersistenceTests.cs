using Replug.Coordinator.Hosting;
using Replug.Coordinator.Tests.Support;

namespace Replug.Coordinator.Tests.Persistence;

/// <summary>The same code path against a real PostgreSQL server (started by .ci/run); each test in its own schema, dropped afterwards.</summary>
public sealed class PostgresPersistenceTests
{
    private static PersistenceOptions Options(PostgresTestSchema schema) => new()
    {
        Provider = PersistenceOptions.PostgreSql,
        ConnectionString = schema.ConnectionString,
        Schema = schema.Name,
    };

    [PostgresFact]
    public async Task State_survives_a_restart_on_the_same_postgresql_database_from_snapshot_and_events()
    {
        await using var schema = await PostgresFixture.CreateSchemaAsync();
        await PersistenceScenarios.State_survives_a_restart_from_snapshot_and_events(Options(schema));

        Assert.Equal(13, await schema.CountAsync("journal"));
        Assert.Equal(2, await schema.CountAsync("snapshot"));
    }

    [PostgresFact]
    public async Task First_start_creates_the_tables_in_a_fresh_schema()
    {
        await using var schema = await PostgresFixture.CreateSchemaAsync();
        Assert.Empty(await schema.TablesAsync());

        var options = Options(schema);
        await PersistenceScenarios.Start_write_one_event_and_stop(options, host =>
        {
            var config = host.System.Settings.Config;
            Assert.Equal("akka.persistence.journal.sql", config.GetString("akka.persistence.journal.plugin"));
            Assert.Equal("akka.persistence.snapshot-store.sql", config.GetString("akka.persistence.snapshot-store.plugin"));
            Assert.Equal(LinqToDB.ProviderName.PostgreSQL15, config.GetString("akka.persistence.journal.sql.provider-name"));
            // parallelism 1 is for SQLite's single writer only
            Assert.NotEqual(1, config.GetInt("akka.persistence.journal.sql.parallelism"));
            return Task.CompletedTask;
        });

        var tables = await schema.TablesAsync();
        Assert.Contains("journal", tables);
        Assert.Contains("snapshot", tables);
        Assert.Equal(1, await schema.CountAsync("journal"));
    }
}
