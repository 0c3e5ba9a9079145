using Npgsql;
using Replug.Coordinator.Tests.Support;

namespace Replug.Coordinator.Tests;

public sealed partial class PackagingTests
{
    /// <summary>
    /// The compose file keeps PostgreSQL's password out of the connection string: Npgsql reads it
    /// from a pgpass file, mounted as a secret world-readable (Compose without Swarm cannot chown it).
    /// </summary>
    [PostgresFact]
    public async Task A_connection_string_naming_a_pgpass_file_reaches_PostgreSQL()
    {
        var server = new NpgsqlConnectionStringBuilder(PostgresFixture.ConnectionString);
        using var secrets = new TempDirectory();
        var pgpass = secrets.Combine("replug-pgpass");
        await File.WriteAllTextAsync(pgpass, $"{server.Host}:{server.Port}:{server.Database}:{server.Username}:{server.Password}\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(pgpass, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var withoutPassword = $"Host={server.Host};Port={server.Port};Username={server.Username};Database={server.Database};Passfile={pgpass};Pooling=false";

        await using var connection = new NpgsqlConnection(withoutPassword);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT 1", connection);

        Assert.Equal(1, await command.ExecuteScalarAsync());
    }
}
