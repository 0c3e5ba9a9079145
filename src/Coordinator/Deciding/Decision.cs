using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Replug.Coordinator.Singleton;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;

namespace Replug.Coordinator.Deciding;

/// <summary>What the coordinator must do after its events are persisted: a message to a host's agent, or an answer to the input's sender.</summary>
public abstract record Outbound
{
    /// <summary>To the agent of <paramref name="Host"/>, at the address its registration recorded.</summary>
    public sealed record ToHost(HostId Host, IHostMessage Message) : Outbound;

    /// <summary>To whoever sent the input (an operator's request).</summary>
    public sealed record Reply(object Message) : Outbound;

    /// <summary>A policy's recommendation for the orchestrator (its hook: a configured command), once it is journaled.</summary>
    public sealed record Recommend(Policies.PolicyDecision Decision, Policies.PolicyMode Mode) : Outbound;
}

public enum DecisionLogLevel { Info, Warning, Error }

/// <summary>
/// One line for the operator's log: <see cref="Text"/> as it reads, and the same line as a message
/// template whose named holes (<c>{Failover}</c>, <c>{Port}</c>, <c>{Host}</c>, <c>{Epoch}</c>...) carry
/// <see cref="Fields"/>, so they survive as fields into structured (JSON) logs.
/// </summary>
public sealed record DecisionLog(DecisionLogLevel Level, string Text, string Template, IReadOnlyList<object?> Fields)
{
    public DecisionLog(DecisionLogLevel level, LogLine line) : this(level, line.Text, line.Template, line.Fields) { }
}

/// <summary>
/// Builds a <see cref="DecisionLog"/> from an interpolated string: a hole whose format is a field
/// name (a capital, then letters with at least one lowercase: <c>{f.Id:Failover}</c>) becomes a named
/// template property; any other hole (<c>{ms:0}</c>, <c>{reason}</c>) is only text.
/// </summary>
[InterpolatedStringHandler]
public struct LogLine
{
    private readonly StringBuilder _text;
    private readonly StringBuilder _template;
    private readonly List<object?> _fields;

    public LogLine(int literalLength, int formattedCount)
    {
        _text = new StringBuilder(literalLength + formattedCount * 8);
        _template = new StringBuilder(literalLength + formattedCount * 8);
        _fields = new List<object?>(formattedCount);
    }

    public readonly string Text => _text.ToString();
    public readonly string Template => _template.ToString();
    public readonly IReadOnlyList<object?> Fields => _fields;

    public readonly void AppendLiteral(string literal) => Append(literal);

    public readonly void AppendFormatted<T>(T value) => AppendFormatted(value, null);

    public readonly void AppendFormatted<T>(T value, string? format)
    {
        if (IsFieldName(format))
        {
            _text.Append(value);
            _template.Append('{').Append(format).Append('}');
            _fields.Add(value);
            return;
        }
        Append(value is IFormattable formattable ? formattable.ToString(format, CultureInfo.InvariantCulture) : value?.ToString());
    }

    private readonly void Append(string? text)
    {
        _text.Append(text);
        _template.Append(text?.Replace("{", "{{").Replace("}", "}}"));
    }

    private static bool IsFieldName([NotNullWhen(true)] string? format) =>
        format is { Length: >= 2 } && char.IsAsciiLetterUpper(format[0]) && format.All(char.IsAsciiLetter) && format.Any(char.IsAsciiLetterLower);
}

/// <summary>
/// The decider's answer to one input: the events to persist (already applied to the state, in
/// order), then the messages to send once they are persisted, and the lines to log.
/// </summary>
public sealed record Decision(IReadOnlyList<ICoordinatorEvent> Events, IReadOnlyList<Outbound> Messages, IReadOnlyList<DecisionLog> Log)
{
    public static readonly Decision None = new([], [], []);
}
