using Npgsql;

namespace Replug.Coordinator.Locking;

/// <summary>
/// The journal lock on PostgreSQL: a session advisory lock on a connection of its own, keyed by
/// the journal's schema (one lock per journal; advisory locks are per database already). The
/// server ends the session, and so frees the lock, when the holder's process dies (its socket
/// closes) or falls silent for <see cref="JournalLockSettings.ServerTimeout"/>
/// (<c>idle_session_timeout</c>, set for this session only): a paused or cut-off holder cannot
/// keep it. The session's application name is the holder's node, so a waiting node can say who
/// holds it.
/// </summary>
public sealed class PostgresJournalLock : IJournalLock
{
    /// <summary>The advisory lock's first key: "RPLG", Replug's lock class, apart from any other application's locks.</summary>
    public const int LockClass = 0x52504C47;
    /// <summary>PostgreSQL keeps this many bytes of an application name.</summary>
    private const int ApplicationNameLimit = 63;

    private readonly string _connectionString;
    private readonly string _withoutIdleTimeout;
    private bool _serverHasIdleTimeout = true;
    private NpgsqlConnection? _connection;

    public PostgresJournalLock(string connectionString, string? schema, string owner, JournalLockSettings settings)
    {
        Key = KeyOf(schema);
        var builder = new NpgsqlConnectionStringBuilder(connectionString)
        {
            Pooling = false,
            ApplicationName = owner.Length <= ApplicationNameLimit ? owner : owner[..ApplicationNameLimit],
        };
        _withoutIdleTimeout = builder.ToString();
        // Added to the operator's own options (a search path, say), not in their place.
        builder.Options = $"{builder.Options} -c idle_session_timeout={(long)settings.ServerTimeout.TotalMilliseconds}".Trim();
        _connectionString = builder.ToString();
    }

    /// <summary>
    /// False once the server refused <c>idle_session_timeout</c> (PostgreSQL before 14): a crashed
    /// holder's lock still goes with its connection, a silent one's only when the server's TCP
    /// keepalive gives up on it.
    /// </summary>
    public bool ServerEndsSilentSessions => _serverHasIdleTimeout;

    /// <summary>
    /// <paramref name="connectionString"/> with <c>idle_in_transaction_session_timeout</c> added to the
    /// operator's own options: the server aborts a transaction whose client has been silent for
    /// <paramref name="after"/> (the journal's writes: see <c>PersistenceHosting.WithReplugPersistence</c>).
    /// </summary>
    public static string AbortingSilentTransactions(string connectionString, TimeSpan after)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        builder.Options = $"{builder.Options} -c idle_in_transaction_session_timeout={(long)after.TotalMilliseconds}".Trim();
        return builder.ToString();
    }

    /// <summary>The advisory lock's second key: the schema's name, hashed (FNV-1a, stable across processes), non-negative.</summary>
    public int Key { get; }

    public static int KeyOf(string? schema)
    {
        var hash = 2166136261u;
        foreach (var c in schema ?? "")
        {
            hash ^= c;
            hash *= 16777619u;
        }
        return (int)(hash & 0x7FFFFFFF);
    }

    public async Task<JournalLockAttempt> TryAcquireAsync(CancellationToken cancellation)
    {
        if (_connection is not null) return JournalLockAttempt.Taken;
        var connection = new NpgsqlConnection(_serverHasIdleTimeout ? _connectionString : _withoutIdleTimeout);
        try
        {
            try
            {
                await connection.OpenAsync(cancellation);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedObject && _serverHasIdleTimeout)
            {
                await connection.DisposeAsync();
                _serverHasIdleTimeout = false;
                connection = new NpgsqlConnection(_withoutIdleTimeout);
                await connection.OpenAsync(cancellation);
            }
            await using (var take = new NpgsqlCommand("SELECT pg_try_advisory_lock(@class, @key)", connection))
            {
                take.Parameters.AddWithValue("class", LockClass);
                take.Parameters.AddWithValue("key", Key);
                if (await take.ExecuteScalarAsync(cancellation) is true)
                {
                    _connection = connection;
                    return JournalLockAttempt.Taken;
                }
            }
            await using var holder = AboutThisLock(
                $"SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE {ThisLock} " +
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) LIMIT 1", connection);
            var name = await holder.ExecuteScalarAsync(cancellation) as string;
            await connection.DisposeAsync();
            return JournalLockAttempt.HeldBy(string.IsNullOrEmpty(name) ? null : name);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>The rows of <c>pg_locks</c> that are this lock, granted (a two-key advisory lock has objsubid 2); parameters @class and @key.</summary>
    private const string ThisLock = "locktype = 'advisory' AND granted AND objsubid = 2 AND classid::bigint = @class AND objid::bigint = @key";

    private NpgsqlCommand AboutThisLock(string sql, NpgsqlConnection connection)
    {
        var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("class", (long)LockClass);
        command.Parameters.AddWithValue("key", (long)Key);
        return command;
    }

    public async Task<bool> ConfirmAsync(CancellationToken cancellation)
    {
        if (_connection is not { } connection) return false;
        try
        {
            await using var check = AboutThisLock($"SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND {ThisLock}", connection);
            if (await check.ExecuteScalarAsync(cancellation) is long and > 0) return true;
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or InvalidOperationException or TimeoutException)
        {
            // The session is gone or does not answer in time: either way the server may free the lock.
        }
        await ReleaseAsync();
        return false;
    }

    /// <summary>Closing the session frees its advisory locks.</summary>
    public async Task ReleaseAsync()
    {
        var connection = Interlocked.Exchange(ref _connection, null);
        if (connection is not null) await connection.DisposeAsync();
    }

    public async ValueTask DisposeAsync() => await ReleaseAsync();
}
