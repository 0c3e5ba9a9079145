using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Cluster;
using Akka.Hosting;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Replug.Agent.Devices;
using Replug.Agent.Hosting;
using Replug.Agent.Ports;
using Replug.Agent.Tests.Support;
using Replug.Coordinator.Hosting;
using Replug.Shared.Devices;
using Replug.Shared.Hosting;

namespace Replug.Bench;

/// <summary>
/// One cluster node in this process (the bench's copy of the tests' TestNode): a generic host with
/// Akka.Hosting composed by the executables' steps, remoting over TCP on loopback (a free port).
/// Akka's own log is dropped unless REPLUG_BENCH_VERBOSE is set (then warnings go to stderr; "info": info too).
/// </summary>
internal sealed class BenchNode : IAsyncDisposable
{
    private static readonly string? VerboseSetting = Environment.GetEnvironmentVariable("REPLUG_BENCH_VERBOSE");
    private static readonly bool Verbose = VerboseSetting is { Length: > 0 };
    private static readonly bool VerboseInfo = VerboseSetting == "info";
    private readonly IHost _host;
    private bool _stopped;

    private BenchNode(string name, IHost host)
    {
        Name = name;
        _host = host;
        System = host.Services.GetRequiredService<ActorSystem>();
    }

    public string Name { get; }
    public ActorSystem System { get; }
    public Akka.Cluster.Cluster Cluster => Akka.Cluster.Cluster.Get(System);
    public Address Address => Cluster.SelfAddress;
    public ActorRegistry Registry => _host.Services.GetRequiredService<ActorRegistry>();
    public IActorRef CoordinatorProxy => Registry.Get<CoordinatorProxyKey>();

    /// <summary>The figures the README claims: ClusterNodeOptions' own defaults, on a free port.</summary>
    public static ClusterNodeOptions Production() => new() { Port = 0 };

    /// <summary>Akka's own failure detector defaults (heartbeat 1 s, acceptable pause 3 s); Replug's lease and margin.</summary>
    public static ClusterNodeOptions AkkaDefaults() => new()
    {
        Port = 0, HeartbeatInterval = TimeSpan.FromSeconds(1), AcceptableHeartbeatPause = TimeSpan.FromSeconds(3),
    };

    public static CoordinatorOptions Coordinator(string dataDirectory, int? snapshotEvery = null)
    {
        var options = new CoordinatorOptions { Persistence = new PersistenceOptions { DataDirectory = dataDirectory } };
        if (snapshotEvery is { } every) options.Persistence.SnapshotEvery = every;
        return options;
    }

    public static Task<BenchNode> StartCoordinator(string name, CoordinatorOptions options, ClusterNodeOptions cluster) =>
        Start(name, cluster, ClusterNodeOptions.CoordinatorRole, b => b.WithCoordinatorNode(options, cluster));

    public static Task<BenchNode> StartAgent(string name, AgentOptions options, IDeviceBus bus, Func<AgentOptions.PortOptions, IDataPath> dataPaths,
        ClusterNodeOptions cluster) =>
        Start(name, cluster, ClusterNodeOptions.AgentRole, b => b.WithAgentNode(options, cluster, bus, dataPaths));

    /// <summary>
    /// A cluster member with the given role and whatever <paramref name="compose"/> adds (the proxy is always there).
    /// <paramref name="coordinatorSerializers"/>: bind the coordinator's queries too (a coordinator node has them; an
    /// agent-role node that asks the singleton queries needs them).
    /// </summary>
    public static async Task<BenchNode> Start(string name, ClusterNodeOptions cluster, string role, Action<AkkaConfigurationBuilder> compose,
        string? extraHocon = null, bool? coordinatorSerializers = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        if (Verbose)
            builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace).SetMinimumLevel(VerboseInfo ? LogLevel.Information : LogLevel.Warning);
        builder.Services.AddAkka(ClusterNodeOptions.SystemName, (akka, _) =>
        {
            akka.ConfigureLoggers(l =>
            {
                l.LogLevel = VerboseInfo ? Akka.Event.LogLevel.InfoLevel : Verbose ? Akka.Event.LogLevel.WarningLevel : Akka.Event.LogLevel.ErrorLevel;
                l.ClearLoggers();
                l.AddLoggerFactory();
            });
            // A crash terminates without leaving, as a dead process does; a normal stop still leaves
            // through the host's coordinated shutdown.
            akka.AddHocon("akka.coordinated-shutdown.run-by-actor-system-terminate = off\nakka.stdout-loglevel = OFF", HoconAddMode.Prepend);
            if (extraHocon is not null) akka.AddHocon(extraHocon, HoconAddMode.Prepend);
            akka.WithReplugCluster(cluster, role);
            akka.WithNodeSerializers(coordinatorSerializers ?? role == ClusterNodeOptions.CoordinatorRole);
            akka.WithCoordinatorProxy();
            compose(akka);
        });
        var host = builder.Build();
        await host.StartAsync();
        return new BenchNode(name, host);
    }

    /// <summary>Joins <paramref name="seed"/>'s cluster (itself when null) and waits until this node is Up.</summary>
    public async Task Join(BenchNode? seed)
    {
        Cluster.Join(seed?.Address ?? Address);
        await BenchWait.Until(() => Cluster.SelfMember.Status == MemberStatus.Up, $"{Name} to be Up", TimeSpan.FromSeconds(30));
    }

    public async Task<T> Ask<T>(object query, TimeSpan? timeout = null) => await CoordinatorProxy.Ask<T>(query, timeout ?? TimeSpan.FromSeconds(10));

    /// <summary>A hard stop: the ActorSystem ends without leaving the cluster, as a crashed host does.</summary>
    public async Task Crash()
    {
        if (_stopped) return;
        _stopped = true;
        await System.Terminate();
        _host.Dispose();
    }

    /// <summary>A graceful stop: the host's coordinated shutdown leaves the cluster first.</summary>
    public async Task Leave()
    {
        if (_stopped) return;
        _stopped = true;
        try { await _host.StopAsync(TimeSpan.FromSeconds(15)); } catch (OperationCanceledException) { }
        _host.Dispose();
    }

    public ValueTask DisposeAsync() => new(Crash());
}

internal static class BenchWait
{
    public static async Task Until(Func<bool> condition, string what, TimeSpan timeout, int pollMs = 20)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out after {timeout.TotalSeconds:0} s waiting for {what}");
            await Task.Delay(pollMs);
        }
    }

    public static async Task Until(Func<Task<bool>> condition, string what, TimeSpan timeout, int pollMs = 50)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try { if (await condition()) return; }
            catch (Exception e) when (e is AskTimeoutException or TimeoutException) { }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out after {timeout.TotalSeconds:0} s waiting for {what}");
            await Task.Delay(pollMs);
        }
    }
}

/// <summary>An agent host without hardware: a fake sysfs with its NICs, and a data path that records (with a time) what it did.</summary>
internal sealed class BenchFakeHost : IDisposable
{
    public BenchFakeHost(string name, int firstIfIndex, IEnumerable<string> nics)
    {
        Name = name;
        var i = firstIfIndex;
        foreach (var nic in nics)
        {
            Sysfs.AddNet(nic, i, mac: $"52:54:00:{i / 65536 % 256:x2}:{i / 256 % 256:x2}:{i % 256:x2}", addrAssignType: 0, pciSlot: null);
            i++;
        }
        Path = new TimedDataPath(new RecordingDataPath());
    }

    public string Name { get; }
    public FakeSysfs Sysfs { get; } = new();
    public TimedDataPath Path { get; }
    public IDeviceBus Bus => new SysfsDeviceBus(Sysfs.Root);

    public AgentOptions Options(IEnumerable<AgentOptions.PortOptions> ports, IEnumerable<string> failoverDevices) => new()
    {
        Host = Name,
        SysfsRoot = Sysfs.Root,
        Subsystems = ["net"],
        Ports = [.. ports],
        FailoverDevices = [.. failoverDevices],
    };

    public static AgentOptions.PortOptions Port(string name, params string[] devices) => new()
    {
        Name = name, Devices = [.. devices], DataPath = new AgentOptions.DataPathOptions { Kind = "bridge", Bridge = "br-" + name },
    };

    public void Dispose() => Sysfs.Dispose();
}

/// <summary>The tests' recording data path, plus the wall-clock time of each port's first switch and first deactivation.</summary>
internal sealed class TimedDataPath(RecordingDataPath inner) : IDataPath
{
    private readonly ConcurrentDictionary<PortId, DateTimeOffset> _firstSwitch = new();
    private readonly ConcurrentDictionary<PortId, DateTimeOffset> _firstDeactivation = new();

    public RecordingDataPath Recorder => inner;
    public string Kind => inner.Kind;
    public IReadOnlyDictionary<PortId, DateTimeOffset> FirstSwitch => _firstSwitch;
    public IReadOnlyDictionary<PortId, DateTimeOffset> FirstDeactivation => _firstDeactivation;

    public Task<DataPathResult> SwitchAsync(PortId port, DeviceId? previous, DeviceId next, CancellationToken cancellationToken)
    {
        _firstSwitch.TryAdd(port, DateTimeOffset.UtcNow);
        return inner.SwitchAsync(port, previous, next, cancellationToken);
    }

    public Task<DataPathResult> DeactivateAsync(PortId port, DeviceId device, CancellationToken cancellationToken)
    {
        _firstDeactivation.TryAdd(port, DateTimeOffset.UtcNow);
        return inner.DeactivateAsync(port, device, cancellationToken);
    }
}

/// <summary>A temporary folder for a coordinator's SQLite file, removed on Dispose.</summary>
internal sealed class BenchTempDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("replug-bench-").FullName;

    public string Database => System.IO.Path.Combine(Path, PersistenceOptions.DatabaseFileName);

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        if (Environment.GetEnvironmentVariable("REPLUG_BENCH_KEEP") is { Length: > 0 })
        {
            Console.Error.WriteLine($"kept {Path}");
            return;
        }
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>What the coordinator's journal holds (read straight from its SQLite file).</summary>
internal sealed record JournalFacts(long Events, long HighestSequenceNr, long? SnapshotSequenceNr, long SnapshotBytes,
    IReadOnlyDictionary<string, long> ByManifest, string JournalMode, long SnapshotRows, long Pages, long FreePages, long PageSize)
{
    public static JournalFacts Read(string database)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = database, Mode = SqliteOpenMode.ReadOnly }.ToString());
        connection.Open();
        var byManifest = new Dictionary<string, long>(StringComparer.Ordinal);
        long events = 0, highest = 0;
        using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT manifest, COUNT(*), MAX(sequence_number) FROM journal WHERE persistence_id = $id GROUP BY manifest";
            command.Parameters.AddWithValue("$id", Coordinator.Singleton.CoordinatorActor.PersistenceIdValue);
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                var count = reader.GetInt64(1);
                byManifest[reader.IsDBNull(0) ? "" : reader.GetString(0)] = count;
                events += count;
                highest = Math.Max(highest, reader.GetInt64(2));
            }
        }
        long? snapshot = null;
        long bytes = 0;
        using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT sequence_number, LENGTH(snapshot) FROM snapshot WHERE persistence_id = $id ORDER BY sequence_number DESC LIMIT 1";
            command.Parameters.AddWithValue("$id", Coordinator.Singleton.CoordinatorActor.PersistenceIdValue);
            using var reader = command.ExecuteReader();
            if (reader.Read())
            {
                snapshot = reader.GetInt64(0);
                bytes = reader.IsDBNull(1) ? 0 : reader.GetInt64(1);
            }
        }
        object? Scalar(string sql)
        {
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            return command.ExecuteScalar();
        }
        return new JournalFacts(events, highest, snapshot, bytes, byManifest, Scalar("PRAGMA journal_mode") as string ?? "?",
            (long)Scalar("SELECT COUNT(*) FROM snapshot")!, (long)Scalar("PRAGMA page_count")!, (long)Scalar("PRAGMA freelist_count")!,
            (long)Scalar("PRAGMA page_size")!);
    }

    public long Count(string manifestPrefix) => ByManifest.Where(m => m.Key.StartsWith(manifestPrefix, StringComparison.Ordinal)).Sum(m => m.Value);
}

/// <summary>Median and range of a few runs, and a compact table.</summary>
internal static class BenchStats
{
    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToList();
        var mid = sorted.Count / 2;
        return sorted.Count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>"1.23 (1.10–1.40)" in seconds, from milliseconds.</summary>
    public static string Seconds(IReadOnlyList<double> ms)
    {
        var valid = ms.Where(v => !double.IsNaN(v)).ToList();
        if (valid.Count == 0) return "n/a";
        return valid.Count == 1 ? $"{valid[0] / 1000:0.00}" : $"{Median(valid) / 1000:0.00} ({valid.Min() / 1000:0.00}-{valid.Max() / 1000:0.00})";
    }

    /// <summary>"1.23" s median only.</summary>
    public static string MedianSeconds(IReadOnlyList<double> ms)
    {
        var valid = ms.Where(v => !double.IsNaN(v)).ToList();
        return valid.Count == 0 ? "n/a" : $"{Median(valid) / 1000:0.00}";
    }

    public static void Table(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        var all = rows.ToList();
        var widths = headers.Select((h, i) => Math.Max(h.Length, all.Count == 0 ? 0 : all.Max(r => r[i].Length))).ToArray();
        Console.WriteLine("  " + string.Join("  ", headers.Select((h, i) => i == 0 ? h.PadRight(widths[i]) : h.PadLeft(widths[i]))));
        Console.WriteLine("  " + string.Join("  ", widths.Select(w => new string('-', w))));
        foreach (var row in all)
            Console.WriteLine("  " + string.Join("  ", row.Select((c, i) => i == 0 ? c.PadRight(widths[i]) : c.PadLeft(widths[i]))));
    }
}
