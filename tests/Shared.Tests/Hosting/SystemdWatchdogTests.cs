using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Replug.Shared.Hosting;

namespace Replug.Shared.Tests.Hosting;

/// <summary>
/// The watchdog against a real datagram socket where systemd's would be, on a clock the test
/// moves: the timer fires only when the test advances it, so what arrives is exactly what the
/// watchdog sent for the ticks given.
/// </summary>
public sealed class SystemdWatchdogTests : IDisposable
{
    private static readonly TimeSpan Arrival = TimeSpan.FromSeconds(10);
    private static readonly WatchdogSchedule TenSeconds = new(TimeSpan.FromSeconds(10));

    private readonly NotifySocket _systemd = new();
    private readonly FakeTimeProvider _time = new();
    private readonly ScriptedProbe _probe = new();

    public void Dispose() => _systemd.Dispose();

    private SystemdWatchdog Watchdog(WatchdogSchedule? schedule, CancellationToken started, string whyOff = "") =>
        new(_systemd.Notifier(), _probe, schedule, whyOff, started, NullLogger<SystemdWatchdog>.Instance, _time);

    private static CancellationToken Started => new(canceled: true);

    [Fact]
    public async Task A_healthy_process_sends_WATCHDOG_1_at_start_and_then_every_half_timeout()
    {
        var watchdog = Watchdog(TenSeconds, Started);
        await watchdog.StartAsync(CancellationToken.None);
        Assert.Equal("WATCHDOG=1", await _systemd.NextAsync(Arrival));

        _time.Advance(TimeSpan.FromSeconds(5) - TimeSpan.FromMilliseconds(1));
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal("WATCHDOG=1", await _systemd.NextAsync(Arrival));
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal("WATCHDOG=1", await _systemd.NextAsync(Arrival));

        await watchdog.StopAsync(CancellationToken.None);
        Assert.Empty(_systemd.Pending()); // one per tick: none before 5 s, none extra
        Assert.Equal(3, _probe.Calls);
        Assert.Equal(TimeSpan.FromMilliseconds(2500), _probe.LastDeadline);
    }

    [Fact]
    public async Task A_failing_probe_withholds_WATCHDOG_1_and_a_passing_one_resumes_it()
    {
        var watchdog = Watchdog(TenSeconds, Started);
        await watchdog.StartAsync(CancellationToken.None);
        Assert.Equal("WATCHDOG=1", await _systemd.NextAsync(Arrival));

        _probe.Problem = "the default dispatcher did not run the probe actor within 2500 ms";
        _time.Advance(TimeSpan.FromSeconds(5));
        await _probe.CalledAsync(times: 2);
        _time.Advance(TimeSpan.FromSeconds(5));
        await _probe.CalledAsync(times: 3); // the second tick's probe runs only once the first tick is done
        Assert.Empty(_systemd.Pending());

        _probe.Problem = null;
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal("WATCHDOG=1", await _systemd.NextAsync(Arrival));

        await watchdog.StopAsync(CancellationToken.None);
        Assert.Empty(_systemd.Pending()); // the third tick's failed probe sent nothing either
        Assert.Equal(4, _probe.Calls);
    }

    [Fact]
    public async Task Until_the_host_has_started_it_pings_without_probing_the_actor_system()
    {
        using var started = new CancellationTokenSource();
        var watchdog = Watchdog(TenSeconds, started.Token);
        await watchdog.StartAsync(CancellationToken.None);
        Assert.Equal("WATCHDOG=1", await _systemd.NextAsync(Arrival));
        Assert.Equal(0, _probe.Calls);

        await started.CancelAsync();
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal("WATCHDOG=1", await _systemd.NextAsync(Arrival));
        Assert.Equal(1, _probe.Calls);
        await watchdog.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Without_WATCHDOG_USEC_it_sends_nothing_and_probes_nothing()
    {
        var schedule = WatchdogSchedule.Read(_ => null, Environment.ProcessId, out var off);
        var watchdog = Watchdog(schedule, Started, off);
        await watchdog.StartAsync(CancellationToken.None);
        await watchdog.ExecuteTask!.WaitAsync(Arrival); // it ends by itself: there is nothing to do
        for (var tick = 0; tick < 4; tick++) _time.Advance(TimeSpan.FromSeconds(5));
        await watchdog.StopAsync(CancellationToken.None);

        Assert.Null(schedule);
        Assert.Empty(_systemd.Pending());
        Assert.Equal(0, _probe.Calls);
    }

    /// <summary>A probe whose answer the test sets; it counts its calls and lets the test wait for them.</summary>
    private sealed class ScriptedProbe : IProcessHealthProbe
    {
        private readonly Channel<int> _calls = Channel.CreateUnbounded<int>();
        private int _count;

        public volatile string? Problem;
        public int Calls => Volatile.Read(ref _count);
        public TimeSpan LastDeadline { get; private set; }

        public Task<string?> CheckAsync(TimeSpan deadline, CancellationToken cancellationToken)
        {
            LastDeadline = deadline;
            _calls.Writer.TryWrite(Interlocked.Increment(ref _count));
            return Task.FromResult(Problem);
        }

        public async Task CalledAsync(int times)
        {
            using var timeout = new CancellationTokenSource(Arrival);
            while (await _calls.Reader.ReadAsync(timeout.Token) < times) { }
        }
    }
}
