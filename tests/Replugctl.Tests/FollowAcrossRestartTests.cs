using System.Net;
using System.Text.RegularExpressions;
using Replug.Ctl.Tests.Support;
using Replug.Harness;

namespace Replug.Ctl.Tests;

/// <summary>
/// <c>replugctl events --follow</c> while its coordinator stops and starts again (a new singleton
/// instance that recovers the journal, as after a hand-over): told of the end, it reconnects with the
/// last event's id and goes on with the next event, nothing missed, nothing twice.
/// </summary>
[Collection(RealProcesses.Name)]
public sealed partial class FollowAcrossRestartTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("replugctl-restart-");
    private readonly int _port = FreePort();
    private readonly List<RunningProgram> _programs = [];

    private string Data => Path.Combine(_work.FullName, "data");
    private Dictionary<string, string> Environment() => new()
    {
        ["REPLUG_URL"] = $"http://127.0.0.1:{_port}",
        ["REPLUG_TOKEN_FILE"] = Path.Combine(Data, "api-token"),
    };

    private async Task<RunningProgram> StartCoordinator()
    {
        var coordinator = Started(RunningProgram.Start(Executables.Coordinator,
            ["--Replug:Cluster:Port=0", $"--Replug:Coordinator:ApiUrls=http://127.0.0.1:{_port}", $"--Replug:Coordinator:Persistence:DataDirectory={Data}"],
            _work.FullName));
        await coordinator.WaitFor(Listening(), Patience, "the coordinator's API");
        return coordinator;
    }

    private RunningProgram Started(RunningProgram program)
    {
        _programs.Add(program);
        return program;
    }

    /// <summary>A change that makes one event: the power-saving policy's level.</summary>
    private async Task SetLevel(int level)
    {
        // The API listens before the singleton has recovered: a 503 until it answers.
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            using var run = RunningProgram.Start(Executables.Replugctl, ["policy", "set", "power-saving", "--level", level.ToString()], _work.FullName, Environment());
            await run.Process.WaitForExitAsync();
            if (run.Process.ExitCode == 0) return;
            Assert.True(run.Process.ExitCode == 5 && DateTime.UtcNow < deadline, $"policy set: exit {run.Process.ExitCode}\n{run.Everything}");
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task Events_follow_goes_on_after_the_coordinator_restarts_with_the_next_event()
    {
        var first = await StartCoordinator();
        var follow = Started(RunningProgram.Start(Executables.Replugctl, ["events", "--follow", "--json"], _work.FullName, Environment()));
        await follow.WaitFor(new Regex("^replugctl: following "), Patience, "the stream to open");
        await SetLevel(2);
        var before = Sequence((await follow.WaitFor(PolicyLevel(2), Patience, "the first change's event")).Value);

        Assert.Equal(0, await first.Signal("TERM", Patience));
        await follow.WaitFor(new Regex("^replugctl: end: the coordinator node is stopping"), Patience, "the stream's end event");
        await StartCoordinator();
        await SetLevel(4);
        var after = await follow.WaitFor(PolicyLevel(4), Patience, "the change after the restart");
        await follow.WaitFor(new Regex($"^replugctl: following again after event {before}$"), Patience, "the reconnection");

        var sequences = follow.Stdout.Select(Sequence).ToList();
        Assert.Equal(sequences.Distinct(), sequences);
        // Every event after the first change came, in journal order: the new instance's start, then the second change.
        Assert.Equal(Enumerable.Range((int)before, sequences.Count).Select(n => (long)n), sequences);
        Assert.Contains(follow.Stdout, l => l.Contains("\"type\":\"EpochStarted\""));
        Assert.True(Sequence(after.Value) > before);
        Assert.Equal(0, await follow.Signal("INT", Patience));
    }

    private static long Sequence(string line) => long.Parse(SequenceOf().Match(line).Groups[1].Value);

    private static Regex PolicyLevel(int level) => new($"^{{\"sequence\":\\d+,\"type\":\"PoliciesConfigured\".*PowerSaving=\\{{Mode=\\w+, Level={level},");

    [GeneratedRegex(@"^\{""sequence"":(\d+),")]
    private static partial Regex SequenceOf();

    [GeneratedRegex(@"Now listening on: http://")]
    private static partial Regex Listening();

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        foreach (var program in _programs) program.Dispose();
        _work.Delete(recursive: true);
    }
}
