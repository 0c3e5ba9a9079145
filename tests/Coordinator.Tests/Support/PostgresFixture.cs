using Npgsql;

namespace Replug.Coordinator.Tests.Support;

/// <summary>
/// The PostgreSQL server the tests use: <see cref="EnvironmentVariable"/> (set by .ci/run), or the
/// same default .ci/run creates. Each test gets its own schema (<see cref="CreateSchemaAsync"/>),
/// dropped afterwards, so tests are isolated and run in parallel.
/// </summary>
public static class PostgresFixture
{
    public const string EnvironmentVariable = "REPLUG_TEST_POSTGRES";
    public const string DefaultConnectionString = "Host=127.0.0.1;Port=5432;Username=replug;Password=replug;Database=replug_test";

    public static string ConnectionString =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } configured ? configured : DefaultConnectionString;

    /// <summary>When the server was named explicitly (the variable is set) or this is CI, an unreachable server fails the tests instead of skipping them.</summary>
    public static bool Required =>
        !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(EnvironmentVariable))
        || string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    private static readonly Lazy<string?> Unreachable = new(Probe);

    /// <summary>Why the server cannot be used, or null when it answers.</summary>
    public static string? UnreachableReason => Unreachable.Value;

    private static string? Probe()
    {
        try
        {
            var builder = new NpgsqlConnectionStringBuilder(ConnectionString) { Timeout = 3, Pooling = false };
            using var connection = new NpgsqlConnection(builder.ToString());
            connection.Open();
            using var command = new NpgsqlCommand("SELECT 1", connection);
            command.ExecuteScalar();
            return null;
        }
        catch (Exception e)
        {
            return $"{e.GetType().Name}: {e.Message}";
        }
    }

    /// <summary>A new, empty schema for one test; disposing it drops the schema and everything in it.</summary>
    public static async Task<PostgresTestSchema> CreateSchemaAsync()
    {
        var name = $"t_{Guid.NewGuid():N}";
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"CREATE SCHEMA \"{name}\"", connection);
        await command.ExecuteNonQueryAsync();
        return new PostgresTestSchema(name, ConnectionString);
    }
}

public sealed class PostgresTestSchema(string name, string connectionString) : IAsyncDisposable
{
    public string Name { get; } = name;
    public string ConnectionString { get; } = connectionString;

    /// <summary>The tables in this schema, sorted.</summary>
    public async Task<IReadOnlyList<string>> TablesAsync()
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = @schema ORDER BY table_name", connection);
        command.Parameters.AddWithValue("schema", Name);
        var tables = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) tables.Add(reader.GetString(0));
        return tables;
    }

    public async Task<long> CountAsync(string table)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"SELECT count(*) FROM \"{Name}\".\"{table}\"", connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync());
    }

    public async ValueTask DisposeAsync()
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP SCHEMA IF EXISTS \"{Name}\" CASCADE", connection);
        await command.ExecuteNonQueryAsync();
    }
}

/// <summary>A fact that needs PostgreSQL: skipped, with the reason, when the server does not answer — except in CI or when <see cref="PostgresFixture.EnvironmentVariable"/> is set, where it runs (and fails).</summary>
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        if (!PostgresFixture.Required && PostgresFixture.UnreachableReason is { } reason)
            Skip = $"PostgreSQL is not reachable at the default 127.0.0.1:5432, database replug_test ({reason}); " +
                   $"run .ci/run's PostgreSQL part or set {PostgresFixture.EnvironmentVariable} to a connection string";
    }
}
