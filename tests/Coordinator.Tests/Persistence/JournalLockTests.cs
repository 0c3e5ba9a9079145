using System.Diagnostics;
using Npgsql;
using Replug.Coordinator.Locking;
using Replug.Coordinator.Tests.Support;

namespace Replug.Coordinator.Tests.Persistence;

/// <summary>The journal lock on real parts: a lock file the kernel holds, a PostgreSQL server's advisory lock.</summary>
public sealed class JournalLockTests : IDisposable
{
    private static readonly JournalLockSettings Quick = JournalLockSettings.Default with { ServerTimeout = TimeSpan.FromSeconds(3) };
    private readonly TempDirectory _data = new();

    private string LockPath => Path.Combine(_data.Path, "replug.db.lock");

    [Fact]
    public async Task A_lock_file_is_held_by_one_process_at_a_time_and_a_waiter_learns_who_holds_it()
    {
        await using var first = new FileJournalLock(LockPath, "10.0.0.1:4053#1");
        await using var second = new FileJournalLock(LockPath, "10.0.0.2:4053#2");

        Assert.True((await first.TryAcquireAsync(default)).Acquired);
        Assert.Equal(JournalLockAttempt.HeldBy("10.0.0.1:4053#1"), await second.TryAcquireAsync(default));
        Assert.True(await first.ConfirmAsync(default));

        await first.ReleaseAsync();
        Assert.False(await first.ConfirmAsync(default));
        Assert.True((await second.TryAcquireAsync(default)).Acquired);
        Assert.Equal(JournalLockAttempt.HeldBy("10.0.0.2:4053#2"), await first.TryAcquireAsync(default));
    }

    [Fact]
    public async Task A_lock_file_held_by_a_process_killed_with_SIGKILL_is_free_at_once()
    {
        if (!OperatingSystem.IsLinux()) return; // flock(1), kill -9
        File.WriteAllText(LockPath, "");
        // --close: the lock is flock(1)'s own, not its command's; the command prints its pid, to be ended too.
        using var holder = Process.Start(new ProcessStartInfo("flock", ["--exclusive", "--close", LockPath, "sh", "-c", "echo $$; exec sleep 600"])
        {
            RedirectStandardOutput = true,
        })!;
        var command = 0;
        try
        {
            command = int.Parse((await holder.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)))!);
            await using var waiter = new FileJournalLock(LockPath, "10.0.0.2:4053#2");
            Assert.False((await waiter.TryAcquireAsync(default)).Acquired);

            holder.Kill(); // SIGKILL
            await holder.WaitForExitAsync();

            Assert.True((await waiter.TryAcquireAsync(default)).Acquired);
        }
        finally
        {
            if (!holder.HasExited) holder.Kill();
            if (command > 0) Process.GetProcessById(command).Kill();
        }
    }

    [PostgresFact]
    public async Task An_advisory_lock_is_held_by_one_session_per_journal_and_a_waiter_learns_who_holds_it()
    {
        await using var schema = await PostgresFixture.CreateSchemaAsync();
        await using var other = await PostgresFixture.CreateSchemaAsync();
        await using var first = new PostgresJournalLock(schema.ConnectionString, schema.Name, "10.0.0.1:4053#1", Quick);
        await using var second = new PostgresJournalLock(schema.ConnectionString, schema.Name, "10.0.0.2:4053#2", Quick);
        await using var elsewhere = new PostgresJournalLock(other.ConnectionString, other.Name, "10.0.0.3:4053#3", Quick);

        Assert.True((await first.TryAcquireAsync(default)).Acquired);
        Assert.Equal(JournalLockAttempt.HeldBy("10.0.0.1:4053#1"), await second.TryAcquireAsync(default));
        Assert.True((await elsewhere.TryAcquireAsync(default)).Acquired);
        Assert.True(await first.ConfirmAsync(default));

        await first.ReleaseAsync();
        Assert.True((await second.TryAcquireAsync(default)).Acquired);
        Assert.False(await first.ConfirmAsync(default));
    }

    [PostgresFact]
    public async Task A_holder_whose_session_the_server_ended_learns_it_at_its_next_check_and_another_takes_the_lock()
    {
        await using var schema = await PostgresFixture.CreateSchemaAsync();
        await using var first = new PostgresJournalLock(schema.ConnectionString, schema.Name, "10.0.0.1:4053#1", Quick);
        await using var second = new PostgresJournalLock(schema.ConnectionString, schema.Name, "10.0.0.2:4053#2", Quick);
        Assert.True((await first.TryAcquireAsync(default)).Acquired);

        await using (var admin = new NpgsqlConnection(schema.ConnectionString))
        {
            await admin.OpenAsync();
            await using var terminate = new NpgsqlCommand("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '10.0.0.1:4053#1'", admin);
            Assert.Equal(true, await terminate.ExecuteScalarAsync());
        }

        Assert.False(await first.ConfirmAsync(default));
        Assert.True((await second.TryAcquireAsync(default)).Acquired);
    }

    [PostgresFact]
    public async Task A_holder_that_falls_silent_loses_the_lock_after_the_lock_timeout_never_before_its_own_hold_ends()
    {
        await using var schema = await PostgresFixture.CreateSchemaAsync();
        await using var silent = new PostgresJournalLock(schema.ConnectionString, schema.Name, "10.0.0.1:4053#1", Quick);
        await using var waiter = new PostgresJournalLock(schema.ConnectionString, schema.Name, "10.0.0.2:4053#2", Quick);
        var lastCheckSent = Stopwatch.GetTimestamp();
        Assert.True((await silent.TryAcquireAsync(default)).Acquired);

        await Wait.Until(async () => (await waiter.TryAcquireAsync(default)).Acquired, "the silent holder's lock freed", TimeSpan.FromSeconds(30));

        // The holder counted itself the holder for HeldFor after its last check: over before the server let go.
        Assert.True(Stopwatch.GetElapsedTime(lastCheckSent) > Quick.HeldFor);
        Assert.False(await silent.ConfirmAsync(default));
    }

    [PostgresFact]
    public async Task The_lock_sessions_timeout_holds_beside_the_operators_own_connection_options()
    {
        await using var schema = await PostgresFixture.CreateSchemaAsync();
        var withOptions = new NpgsqlConnectionStringBuilder(schema.ConnectionString) { Options = $"-c search_path={schema.Name}" }.ToString();
        await using var silent = new PostgresJournalLock(withOptions, schema.Name, "10.0.0.1:4053#1", Quick);
        await using var waiter = new PostgresJournalLock(withOptions, schema.Name, "10.0.0.2:4053#2", Quick);
        Assert.True((await silent.TryAcquireAsync(default)).Acquired);
        Assert.True(silent.ServerEndsSilentSessions);

        await Wait.Until(async () => (await waiter.TryAcquireAsync(default)).Acquired, "the silent holder's lock freed", TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void The_advisory_locks_key_is_stable_per_schema_and_never_negative()
    {
        Assert.Equal(PostgresJournalLock.KeyOf("replug"), PostgresJournalLock.KeyOf("replug"));
        Assert.NotEqual(PostgresJournalLock.KeyOf("replug"), PostgresJournalLock.KeyOf("replug2"));
        Assert.All(new[] { null, "", "a", "t_0123456789abcdef", "Ω" }, s => Assert.InRange(PostgresJournalLock.KeyOf(s), 0, int.MaxValue));
    }

    public void Dispose() => _data.Dispose();
}
