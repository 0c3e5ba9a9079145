using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Event;
using Akka.Hosting.Logging;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;
using Replug.Shared.Hosting;

namespace Replug.Shared.Tests.Hosting;

/// <summary>Akka's log events as the host's structured entries, through <see cref="AkkaLogBridge"/>.</summary>
public sealed class AkkaLogBridgeTests : IDisposable
{
    private readonly CapturingLoggerProvider _captured = new();
    private readonly ILoggerFactory _factory;
    private readonly ActorSystem _system;

    public AkkaLogBridgeTests()
    {
        _factory = LoggerFactory.Create(logging => logging.SetMinimumLevel(LogLevel.Debug).AddProvider(_captured));
        var config = ConfigurationFactory.ParseString($$"""
            akka.loglevel = DEBUG
            akka.stdout-loglevel = OFF
            akka.loggers = ["{{typeof(AkkaLogBridge).AssemblyQualifiedName}}"]
            akka.logger-formatter = "Akka.Event.SemanticLogMessageFormatter, Akka"
            """);
        _system = ActorSystem.Create("bridge", BootstrapSetup.Create().WithConfig(config).And(new LoggerFactorySetup(_factory)));
    }

    /// <summary>A logger's entry with the given rendered text, once it arrives.</summary>
    private async Task<CapturedEntry> EntryWith(string text)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (_captured.Entries.FirstOrDefault(e => e.Message == text) is { } entry) return entry;
            await Task.Delay(20);
        }
        throw new Xunit.Sdk.XunitException($"no entry \"{text}\"; got: {string.Join(" | ", _captured.Entries.Select(e => e.Message))}");
    }

    [Fact]
    public async Task A_named_template_becomes_fields_with_those_names_and_values_and_the_text_without_Akkas_prefix()
    {
        var log = Logging.GetLogger(_system, typeof(AkkaLogBridgeTests));

        log.Info("Port {Port}: switched {From} -> {Device}", "p0", "net/a", "net/b");

        var entry = await EntryWith("Port p0: switched net/a -> net/b");
        Assert.Equal(LogLevel.Information, entry.Level);
        Assert.Equal(typeof(AkkaLogBridgeTests).FullName, entry.Category);
        Assert.Equal("p0", entry.Fields["Port"]);
        Assert.Equal("net/a", entry.Fields["From"]);
        Assert.Equal("net/b", entry.Fields["Device"]);
        Assert.Equal("Port {Port}: switched {From} -> {Device}", entry.Fields["{OriginalFormat}"]);
        Assert.True(entry.Fields.ContainsKey(AkkaLogBridge.ActorPathField));
        Assert.IsType<int>(entry.Fields[AkkaLogBridge.ThreadField]);
    }

    [Fact]
    public async Task An_actors_entry_carries_its_path_and_a_warning_stays_a_warning()
    {
        var actor = _system.ActorOf(Props.Create(() => new Talker()), "talker");

        actor.Tell("fence");

        var entry = await EntryWith("Host h1 fenced at epoch 7");
        Assert.Equal(LogLevel.Warning, entry.Level);
        Assert.Equal(typeof(Talker).FullName, entry.Category);
        Assert.Equal("akka://bridge/user/talker", entry.Fields[AkkaLogBridge.ActorPathField]);
        Assert.Equal(7L, entry.Fields["Epoch"]);
    }

    [Fact]
    public async Task An_error_passes_its_exception_and_a_debug_entry_its_level()
    {
        var log = Logging.GetLogger(_system, typeof(AkkaLogBridgeTests));
        var cause = new InvalidOperationException("the NIC went away");

        log.Error(cause, "Device {Device}: detach failed", "net/eth1");
        log.Debug("Device {Device}: probing", "net/eth2");

        var error = await EntryWith("Device net/eth1: detach failed");
        Assert.Equal(LogLevel.Error, error.Level);
        Assert.Same(cause, error.Exception);
        var debug = await EntryWith("Device net/eth2: probing");
        Assert.Equal(LogLevel.Debug, debug.Level);
    }

    [Fact]
    public async Task A_positional_template_keeps_its_text_and_Akkas_own_sources_get_an_Akka_category()
    {
        var log = Logging.GetLogger(_system.EventStream, "Cluster (akka://bridge)");

        log.Info("Cluster Node [{0}] - {1}", "akka://bridge", "Starting up...");

        var entry = await EntryWith("Cluster Node [akka://bridge] - Starting up...");
        Assert.Equal("Akka.Cluster", entry.Category);
        Assert.Equal("Starting up...", entry.Fields["1"]);
    }

    [Theory]
    [InlineData("Debug", Akka.Event.LogLevel.DebugLevel)]
    [InlineData("Information", Akka.Event.LogLevel.InfoLevel)]
    [InlineData("Warning", Akka.Event.LogLevel.WarningLevel)]
    [InlineData(null, Akka.Event.LogLevel.InfoLevel)]
    public void Akkas_level_follows_the_hosts_default_level(string? configured, Akka.Event.LogLevel expected)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(configured is null ? [] : [new("Logging:LogLevel:Default", configured)]).Build();

        Assert.Equal(expected, AkkaLogging.AkkaLevelFrom(configuration));
    }

    private sealed class Talker : ReceiveActor
    {
        public Talker()
        {
            var log = Context.GetLogger();
            Receive<string>(_ => log.Warning("Host {Host} fenced at epoch {Epoch}", "h1", 7L));
        }
    }

    public void Dispose()
    {
        _system.Terminate().Wait(TimeSpan.FromSeconds(10));
        _factory.Dispose();
    }

    private sealed record CapturedEntry(string Category, LogLevel Level, string Message, IReadOnlyDictionary<string, object?> Fields, Exception? Exception);

    /// <summary>Keeps every entry with its structured state.</summary>
    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        public ConcurrentQueue<CapturedEntry> Entries { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Capturing(this, categoryName);

        public void Dispose() { }

        private sealed class Capturing(CapturingLoggerProvider owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                var fields = state is IEnumerable<KeyValuePair<string, object?>> pairs
                    ? pairs.ToDictionary(p => p.Key, p => p.Value)
                    : new Dictionary<string, object?>();
                owner.Entries.Enqueue(new CapturedEntry(category, logLevel, formatter(state, exception), fields, exception));
            }
        }
    }
}
