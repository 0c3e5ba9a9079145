using System.Collections;
using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;
using Akka.Hosting;
using Akka.Hosting.Logging;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using AkkaLogLevel = Akka.Event.LogLevel;
using MsLogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace Replug.Shared.Hosting;

/// <summary>
/// Akka's logger (an actor on the event stream, named in <c>akka.loggers</c>) that writes each
/// <see cref="LogEvent"/> through the host's <see cref="ILoggerFactory"/> as one structured entry:
/// the category is the class that logged (e.g. <c>Akka.Remote.Remoting</c>,
/// <c>Replug.Agent.Devices.DeviceSupervisor</c>), so <c>Logging:LogLevel:Akka.Remote</c> filters it;
/// the state holds the template's arguments under their names (<c>{Device}</c> becomes a field
/// "Device"), the template as <c>{OriginalFormat}</c>, <see cref="ActorPathField"/> and
/// <see cref="ThreadField"/>; the text is Akka's rendering of the template alone. Akka.Hosting's
/// own <see cref="LoggerFactoryLogger"/> passes <c>LogEvent.ToString()</c> instead, Akka's
/// <c>[INFO][date][Thread][path]</c> prefix and all, under one category for every source.
/// </summary>
public sealed class AkkaLogBridge : ActorBase, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    /// <summary>The field with Akka's log source: the actor's path, or a named component ("Cluster (akka://replug)").</summary>
    public const string ActorPathField = "ActorPath";
    /// <summary>The field with the managed thread id that logged.</summary>
    public const string ThreadField = "Thread";

    private readonly ILoggerFactory _loggers;
    private readonly Dictionary<string, ILogger> _byCategory = [];

    public AkkaLogBridge()
    {
        var setup = Context.System.Settings.Setup.Get<LoggerFactorySetup>();
        if (!setup.HasValue)
            throw new Akka.Configuration.ConfigurationException($"{nameof(AkkaLogBridge)} needs a {nameof(LoggerFactorySetup)} in the ActorSystem's setup (Akka.Hosting adds the host's)");
        _loggers = setup.Value.LoggerFactory;
    }

    protected override bool Receive(object message)
    {
        switch (message)
        {
            case InitializeLogger:
                Sender.Tell(new LoggerInitialized());
                return true;
            case LogEvent log:
                Write(log);
                return true;
            default:
                return false;
        }
    }

    private void Write(LogEvent log)
    {
        var category = CategoryOf(log);
        if (!_byCategory.TryGetValue(category, out var logger)) _byCategory[category] = logger = _loggers.CreateLogger(category);
        var level = LevelOf(log.LogLevel());
        if (!logger.IsEnabled(level)) return;
        var state = new AkkaLogState(log);
        logger.Log(level, default, state, log.Cause, static (s, _) => s.Text);
    }

    /// <summary>
    /// The class that logged; for Akka's sources named by a string ("Cluster (akka://replug)",
    /// "remoting (akka://replug)") the name, under "Akka." unless it has a namespace of its own.
    /// </summary>
    public static string CategoryOf(LogEvent log)
    {
        if (log.LogClass is { } type && type != typeof(DummyClassForStringSources)) return type.FullName ?? type.Name;
        var source = log.LogSource ?? "";
        var cut = source.IndexOf(" (", StringComparison.Ordinal);
        var name = cut > 0 ? source[..cut] : source;
        if (name.Length == 0 || name.Contains("://", StringComparison.Ordinal)) return "Akka";
        return name.Contains('.') ? name : $"Akka.{name}";
    }

    /// <summary>Akka's level as Microsoft.Extensions.Logging's.</summary>
    public static MsLogLevel LevelOf(AkkaLogLevel level) => level switch
    {
        AkkaLogLevel.DebugLevel => MsLogLevel.Debug,
        AkkaLogLevel.InfoLevel => MsLogLevel.Information,
        AkkaLogLevel.WarningLevel => MsLogLevel.Warning,
        _ => MsLogLevel.Error,
    };

    /// <summary>
    /// The Akka level that lets through what <paramref name="level"/> lets through (Akka has no
    /// Trace or Critical; None still lets errors reach the filter, which then drops them).
    /// </summary>
    public static AkkaLogLevel AkkaLevelOf(MsLogLevel level) => level switch
    {
        MsLogLevel.Trace or MsLogLevel.Debug => AkkaLogLevel.DebugLevel,
        MsLogLevel.Information => AkkaLogLevel.InfoLevel,
        MsLogLevel.Warning => AkkaLogLevel.WarningLevel,
        _ => AkkaLogLevel.ErrorLevel,
    };

    /// <summary>
    /// One Akka entry as Microsoft.Extensions.Logging's structured state: a list of named values,
    /// which the JSON console formatter writes as fields and the message-template loggers
    /// (Serilog, OpenTelemetry) read as properties.
    /// </summary>
    private sealed class AkkaLogState : IReadOnlyList<KeyValuePair<string, object?>>
    {
        private readonly List<KeyValuePair<string, object?>> _fields = [];

        public AkkaLogState(LogEvent log)
        {
            if (log.Message is LogMessage template)
            {
                Text = Render(template);
                try
                {
                    foreach (var (name, value) in template.GetProperties()) _fields.Add(new(name, value));
                }
                catch (Exception e) when (e is FormatException or ArgumentException)
                {
                    // A malformed template still logs its text; it just has no fields.
                }
                _fields.Add(new(ActorPathField, log.LogSource));
                _fields.Add(new(ThreadField, log.Thread?.ManagedThreadId));
                _fields.Add(new("{OriginalFormat}", template.Format));
            }
            else
            {
                Text = log.Message?.ToString() ?? "";
                _fields.Add(new(ActorPathField, log.LogSource));
                _fields.Add(new(ThreadField, log.Thread?.ManagedThreadId));
            }
        }

        /// <summary>The rendered message, without Akka's prefix.</summary>
        public string Text { get; }

        private static string Render(LogMessage template)
        {
            try
            {
                // Semantic whatever akka.logger-formatter says: it renders named and positional templates alike.
                return SemanticLogMessageFormatter.Instance.Format(template.Format, template.Parameters());
            }
            catch (Exception e) when (e is FormatException or ArgumentException)
            {
                return $"(malformed log template) {template.Format} [{string.Join(", ", template.Parameters())}]";
            }
        }

        public KeyValuePair<string, object?> this[int index] => _fields[index];
        public int Count => _fields.Count;
        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => _fields.GetEnumerator();
        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
        public override string ToString() => Text;
    }
}

/// <summary>Akka's logging in a Replug host: through <see cref="AkkaLogBridge"/>, at the level the host's logging is configured to.</summary>
public static class AkkaLogging
{
    /// <summary>
    /// <see cref="AkkaLogBridge"/> as Akka's only logger. Akka's level follows
    /// <c>Logging:LogLevel:Akka</c>, else <c>Logging:LogLevel:Default</c> (Info when neither is
    /// set): Akka drops what is below it before it becomes a <see cref="LogEvent"/>, and the host's
    /// filters decide the rest per category. Dead letters: none logged during shutdown (the
    /// messages of actors stopping in order: expected, and dozens); otherwise the first
    /// <see cref="DeadLettersLogged"/>, then Akka's count every 5 minutes: enough to see that
    /// messages go nowhere, without a start's few (a fence sent before its port is up) filling the log.
    /// </summary>
    public static AkkaConfigurationBuilder WithAkkaLogBridge(this AkkaConfigurationBuilder builder, IConfiguration? configuration = null)
    {
        builder.ConfigureLoggers(logging =>
        {
            logging.LogLevel = AkkaLevelFrom(configuration);
            logging.ClearLoggers();
            logging.AddLogger<AkkaLogBridge>();
        });
        // The semantic formatter renders named templates ("Port {Port}: switched …") as well as positional ones.
        return builder.AddHocon($"""
            akka.logger-formatter = "Akka.Event.SemanticLogMessageFormatter, Akka"
            akka.log-dead-letters = {DeadLettersLogged}
            akka.log-dead-letters-during-shutdown = off
            akka.log-dead-letters-suspend-duration = 5m
            """, HoconAddMode.Prepend);
    }

    /// <summary>How many dead letters are logged one by one before Akka only counts them.</summary>
    public const int DeadLettersLogged = 3;

    /// <summary>Akka's level from the host's configuration (see <see cref="WithAkkaLogBridge"/>).</summary>
    public static AkkaLogLevel AkkaLevelFrom(IConfiguration? configuration)
    {
        var text = configuration?["Logging:LogLevel:Akka"] ?? configuration?["Logging:LogLevel:Default"];
        return Enum.TryParse<MsLogLevel>(text, ignoreCase: true, out var level) ? AkkaLogBridge.AkkaLevelOf(level) : AkkaLogLevel.InfoLevel;
    }
}
