using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Hosting.Systemd;

namespace Replug.Shared.Hosting;

/// <summary>
/// The console log's default shape: one line per entry, starting with its UTC time in ISO 8601
/// (<c>2026-07-12T19:41:18.322Z info: Akka.Remote.Remoting[0] Remoting now listens on …</c>).
/// The defaults sit beneath every other configuration source, so an operator's
/// <c>Logging:Console:FormatterName=json</c> (or any <c>Logging:Console:FormatterOptions</c>) wins.
/// Under systemd nothing is set: <c>AddSystemd()</c> picks the systemd formatter, one line with a
/// syslog priority prefix and no time of its own, since journald stamps every line.
/// </summary>
public static class ConsoleLogFormat
{
    /// <summary>ISO 8601 in UTC to the millisecond, with the space before the level.</summary>
    public const string TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";

    /// <summary>The defaults as configuration keys (none under systemd).</summary>
    public static IReadOnlyDictionary<string, string?> Defaults(bool underSystemd) => underSystemd
        ? new Dictionary<string, string?>()
        : new Dictionary<string, string?>
        {
            ["Logging:Console:FormatterName"] = "simple",
            ["Logging:Console:FormatterOptions:SingleLine"] = "true",
            ["Logging:Console:FormatterOptions:TimestampFormat"] = TimestampFormat,
            ["Logging:Console:FormatterOptions:UseUtcTimestamp"] = "true",
        };

    /// <summary>Puts <see cref="Defaults"/> beneath the builder's configuration sources.</summary>
    public static IHostApplicationBuilder WithReplugConsoleLogFormat(this IHostApplicationBuilder builder)
    {
        builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource
        {
            InitialData = Defaults(SystemdHelpers.IsSystemdService()),
        });
        // The simple formatter needs the space before the level; a JSON "Timestamp" must not end in one.
        builder.Services.PostConfigure<JsonConsoleFormatterOptions>(json =>
        {
            if (json.TimestampFormat == TimestampFormat) json.TimestampFormat = TimestampFormat.TrimEnd();
        });
        return builder;
    }
}
