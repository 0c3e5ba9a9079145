using Npgsql;

namespace Replug.Harness;

/// <summary>
/// Where the coordinators keep their journal for one run: a fresh PostgreSQL schema (the product's
/// production choice for several coordinator nodes), or, when no server answers, one SQLite file
/// both coordinator processes share.
/// </summary>
public sealed class Journal : IAsyncDisposable
{
    public const string EnvironmentVariable = "REPLUG_TEST_POSTGRES";
    public const string DefaultConnectionString = "Host=127.0.0.1;Port=5432;Username=replug;Password=replug;Database=replug_test";

    private Journal(string description, IReadOnlyList<string> arguments, string? connectionString, string? schema)
    {
        Description = description;
        Arguments = arguments;
        _connectionString = connectionString;
        _schema = schema;
    }

    private readonly string? _connectionString;
    private readonly string? _schema;

    /// <summary>"PostgreSQL schema X on host:port/db" or "SQLite file PATH", for the run's output.</summary>
    public string Description { get; }
    /// <summary>The coordinator's Replug:Coordinator:Persistence settings.</summary>
    public IReadOnlyList<string> Arguments { get; }
    public bool IsPostgreSql => _schema is not null;

    /// <param name="choice">"auto", "postgresql" or "sqlite" (<see cref="HarnessOptions.Persistence"/>).</param>
    public static async Task<Journal> CreateAsync(RunId run, string runDirectory, string choice, Action<string>? log)
    {
        var configured = Environment.GetEnvironmentVariable(EnvironmentVariable);
        var connectionString = string.IsNullOrEmpty(configured) ? DefaultConnectionString : configured;
        if (choice != "sqlite")
        {
            string? problem = null;
            try
            {
                await RemoveStaleSchemasAsync(connectionString, log);
                var schema = run.Name;
                await ExecuteAsync(connectionString, $"CREATE SCHEMA \"{schema}\"");
                var b = new NpgsqlConnectionStringBuilder(connectionString);
                return new Journal($"PostgreSQL, schema {schema} of {b.Host}:{b.Port}/{b.Database}",
                [
                    "--Replug:Coordinator:Persistence:Provider=postgresql",
                    $"--Replug:Coordinator:Persistence:ConnectionString={connectionString}",
                    $"--Replug:Coordinator:Persistence:Schema={schema}",
                ], connectionString, schema);
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException or ArgumentException or TimeoutException)
            {
                problem = e.Message;
            }
            if (choice == "postgresql" || !string.IsNullOrEmpty(configured))
                throw new InvalidOperationException($"PostgreSQL at {(string.IsNullOrEmpty(configured) ? "the default" : EnvironmentVariable)} does not answer: {problem}");
            log?.Invoke($"no PostgreSQL ({problem}): the coordinators share one SQLite file");
        }
        var data = Path.Combine(runDirectory, "journal");
        Directory.CreateDirectory(data);
        return new Journal($"SQLite, one file shared by the coordinators: {Path.Combine(data, "replug.db")}",
        [
            "--Replug:Coordinator:Persistence:Provider=sqlite",
            $"--Replug:Coordinator:Persistence:DataDirectory={data}",
        ], null, null);
    }

    /// <summary>Schemas of runs whose owner is gone.</summary>
    private static async Task RemoveStaleSchemasAsync(string connectionString, Action<string>? log)
    {
        var stale = new List<string>();
        await using (var connection = await OpenAsync(connectionString))
        await using (var command = new NpgsqlCommand("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'rh%x%'", connection))
        await using (var reader = await command.ExecuteReaderAsync())
            while (await reader.ReadAsync())
                if (RunId.Of(reader.GetString(0)) is { IsStale: true } && reader.GetString(0) == RunId.Of(reader.GetString(0))!.Name)
                    stale.Add(reader.GetString(0));
        foreach (var schema in stale)
        {
            await ExecuteAsync(connectionString, $"DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
            log?.Invoke($"dropped schema {schema} of an earlier, killed run");
        }
    }

    private static async Task<NpgsqlConnection> OpenAsync(string connectionString)
    {
        var b = new NpgsqlConnectionStringBuilder(connectionString) { Timeout = 3, Pooling = false };
        var connection = new NpgsqlConnection(b.ToString());
        await connection.OpenAsync();
        return connection;
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = await OpenAsync(connectionString);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_schema is null || _connectionString is null) return;
        try { await ExecuteAsync(_connectionString, $"DROP SCHEMA IF EXISTS \"{_schema}\" CASCADE"); }
        catch (NpgsqlException) { } // the next run removes it
    }
}
