using System.Text.Json;
using System.Text.RegularExpressions;
using Replug.Coordinator.Tests.Support;
using Replug.Shared.Hosting;

namespace Replug.Coordinator.Tests;

/// <summary>The coordinator's log on stdout as an operator reads it: one line per entry, timed, or JSON with fields.</summary>
public sealed partial class CoordinatorHostTests
{
    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z (trce|dbug|info|warn|fail|crit): \S+\[\d+\] ")]
    private static partial Regex TimedLine();

    /// <summary>Runs a coordinator until its singleton is up, stops it, and returns its stdout.</summary>
    private async Task<IReadOnlyList<string>> StdoutUntilTheCoordinatorIsUp(params string[] extra)
    {
        using var host = Start([.. Isolated(), .. extra]);
        await host.Started.Task.WaitAsync(TimeSpan.FromSeconds(60));
        await Wait.Until(() => host.Output.Any(line => line.Contains("Coordinator up on", StringComparison.Ordinal)),
            "the coordinator singleton up", TimeSpan.FromSeconds(60));
        // The lines of the running node: after SIGTERM, once the bridge has stopped, Akka writes its last
        // few lines ("Remoting shut down") straight to stdout in its own format.
        var running = host.Output.ToList();
        Assert.Equal(0, await host.Terminate());
        foreach (var line in host.Log) output.WriteLine(line);
        return running;
    }

    [Fact]
    public async Task By_default_every_stdout_line_is_one_entry_starting_with_its_UTC_time_and_no_false_singleton_warning()
    {
        if (!OperatingSystem.IsLinux()) return; // SIGTERM via kill(1)
        var lines = await StdoutUntilTheCoordinatorIsUp();

        Assert.NotEmpty(lines);
        Assert.All(lines, line => Assert.Matches(TimedLine(), line));
        Assert.Contains(lines, line => RemotingOn().IsMatch(line));
        Assert.Contains(lines, line => line.Contains("info: Akka.Cluster[0] Cluster Node [", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, line => line.Contains("[INFO]", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, line => line.Contains("ClusterSingletonProxy failed to find", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, line => line.Contains("singleton found in role", StringComparison.Ordinal));
    }

    [Fact]
    public async Task With_the_json_formatter_every_line_is_a_JSON_entry_and_Akkas_carry_their_fields()
    {
        if (!OperatingSystem.IsLinux()) return; // SIGTERM via kill(1)
        var lines = await StdoutUntilTheCoordinatorIsUp("--Logging:Console:FormatterName=json");

        var entries = lines.Select(line => JsonDocument.Parse(line).RootElement).ToList();
        Assert.All(entries, e => Assert.True(DateTime.TryParse(e.GetProperty("Timestamp").GetString(), out _)));
        var joined = entries.Single(e => e.GetProperty("Message").GetString()!.StartsWith("Cluster Node [", StringComparison.Ordinal)
            && e.GetProperty("Message").GetString()!.EndsWith("Started up successfully", StringComparison.Ordinal));
        Assert.Equal("Akka.Cluster", joined.GetProperty("Category").GetString());
        var state = joined.GetProperty("State");
        Assert.Equal("Cluster (akka://replug)", state.GetProperty(AkkaLogBridge.ActorPathField).GetString());
        Assert.Equal(JsonValueKind.Number, state.GetProperty(AkkaLogBridge.ThreadField).ValueKind);
        Assert.Equal("Cluster Node [{0}] - {1}", state.GetProperty("{OriginalFormat}").GetString());
        var lock_ = entries.Single(e => e.GetProperty("Category").GetString() == "Replug.Coordinator.Locking.JournalLease"
            && e.GetProperty("Message").GetString()!.StartsWith("Took the coordinator's journal lock as ", StringComparison.Ordinal));
        Assert.StartsWith("127.0.0.1:", lock_.GetProperty("State").GetProperty("Owner").GetString());
    }
}
