using Akka.Hosting;
using Microsoft.Extensions.Configuration;
using Replug.Coordinator.Hosting;

namespace Replug.Coordinator.Tests.Persistence;

public sealed class PersistenceOptionsTests
{
    [Fact]
    public void The_defaults_are_sqlite_in_data_with_a_snapshot_every_100_events_and_valid()
    {
        var options = new PersistenceOptions();
        Assert.Equal("sqlite", options.Provider);
        Assert.Equal("./data", options.DataDirectory);
        Assert.Equal(100, options.SnapshotEvery);
        Assert.Empty(options.Validate());
        Assert.Equal(LinqToDB.ProviderName.SQLiteMS, options.ProviderName);
        Assert.Equal(Path.GetFullPath(Path.Combine("data", "replug.db")), options.SqliteDatabasePath);
    }

    [Fact]
    public void An_unknown_provider_fails_validation_naming_the_key()
    {
        var errors = new PersistenceOptions { Provider = "mysql" }.Validate();
        Assert.Equal(["Replug:Coordinator:Persistence:Provider: 'mysql' is not a provider (sqlite, postgresql)"], errors);
    }

    [Fact]
    public void WithReplugPersistence_refuses_invalid_options_with_every_bad_key()
    {
        var options = new PersistenceOptions { Provider = "mysql", SnapshotEvery = 0 };
        var e = Assert.Throws<ArgumentException>(() => new AkkaConfigurationBuilder(new Microsoft.Extensions.DependencyInjection.ServiceCollection(), "test").WithReplugPersistence(options));
        Assert.Contains("Replug:Coordinator:Persistence:Provider: 'mysql' is not a provider (sqlite, postgresql)", e.Message);
        Assert.Contains("Replug:Coordinator:Persistence:SnapshotEvery", e.Message);
    }

    [Fact]
    public void Postgresql_needs_a_usable_connection_string_and_a_plain_schema_name()
    {
        Assert.Equal(["Replug:Coordinator:Persistence:ConnectionString: required for postgresql (e.g. \"Host=127.0.0.1;Port=5432;Username=replug;Password=...;Database=replug\")"],
            new PersistenceOptions { Provider = "postgresql" }.Validate());

        var errors = new PersistenceOptions { Provider = "postgresql", ConnectionString = "Hots=x", Schema = "a;drop" }.Validate();
        Assert.Contains(errors, e => e.StartsWith("Replug:Coordinator:Persistence:ConnectionString: is not a PostgreSQL connection string"));
        Assert.Contains(errors, e => e.StartsWith("Replug:Coordinator:Persistence:Schema: 'a;drop' is not a schema name"));

        var ok = new PersistenceOptions { Provider = "PostgreSQL", ConnectionString = "Host=db;Username=u;Password=p;Database=d", Schema = "replug" };
        Assert.Empty(ok.Validate());
        Assert.Equal(LinqToDB.ProviderName.PostgreSQL15, ok.ProviderName);
        Assert.Equal(ok.ConnectionString, ok.EffectiveConnectionString);
    }

    [Fact]
    public void Sqlite_needs_a_data_directory_that_is_not_a_file()
    {
        Assert.Equal(["Replug:Coordinator:Persistence:DataDirectory: must not be empty"], new PersistenceOptions { DataDirectory = " " }.Validate());

        var file = Path.GetTempFileName();
        try
        {
            Assert.Equal([$"Replug:Coordinator:Persistence:DataDirectory: '{file}' is a file, not a folder"],
                new PersistenceOptions { DataDirectory = file }.Validate());
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void Options_bind_from_the_configuration_section()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Replug:Coordinator:Persistence:Provider"] = "postgresql",
            ["Replug:Coordinator:Persistence:ConnectionString"] = "Host=127.0.0.1;Database=replug",
            ["Replug:Coordinator:Persistence:SnapshotEvery"] = "25",
        }).Build();
        var options = new PersistenceOptions();
        configuration.GetSection(PersistenceOptions.Section).Bind(options, b => b.ErrorOnUnknownConfiguration = true);

        Assert.True(options.IsPostgreSql);
        Assert.Equal("Host=127.0.0.1;Database=replug", options.ConnectionString);
        Assert.Equal(25, options.SnapshotEvery);
        Assert.Empty(options.Validate());
    }
}
