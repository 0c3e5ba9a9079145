using System.Collections;
using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;
using System.Xml;
using Replug.Coordinator.Singleton;

namespace Replug.Coordinator.Api;

/// <summary>
/// The one-line summaries of <c>GET /events</c>, for people: <c>name=value</c> pairs in the
/// order of the event's fields, written the same way for every event type, including ones
/// added later, by reflection over the record's positional fields.
/// <list type="bullet">
/// <item>an empty string as <c>""</c>, a missing value as <c>null</c>;</item>
/// <item>times in ISO 8601 UTC with milliseconds (<c>2026-03-01T11:30:00.000Z</c>), durations
/// in ISO 8601 (<c>PT20S</c>);</item>
/// <item>lists as <c>[a, b]</c>, dictionaries as <c>{key=value}</c>;</item>
/// <item>ids (<c>HostId</c>, <c>DeviceId</c>, <c>FailoverId</c>, …) and any other type with
/// its own <c>ToString</c> by that;</item>
/// <item>nested records by their fields in braces, <c>{Port=p1, Priority=0}</c>: a record's
/// generated <c>ToString</c> and a plain object's default one print .NET type names, which
/// mean nothing to an operator and change when code is renamed.</item>
/// </list>
/// Pure and stateless apart from a cache of each type's fields.
/// </summary>
public static class EventDescriptions
{
    private const int MaxDepth = 6;
    private const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";

    private static readonly ConcurrentDictionary<Type, PropertyInfo[]> FieldsByType = new();
    private static readonly ConcurrentDictionary<Type, bool> OwnToString = new();

    public static CoordinatorQueries.EventRecord Describe(ICoordinatorEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        var text = new StringBuilder();
        WriteFields(text, e, depth: 0);
        return new CoordinatorQueries.EventRecord(e.GetType().Name, e.At, text.ToString());
    }

    /// <summary>One value as the summaries write it (exposed for tests and other views).</summary>
    public static string Format(object? value)
    {
        var text = new StringBuilder();
        WriteValue(text, value, depth: 0);
        return text.ToString();
    }

    private static void WriteFields(StringBuilder text, object value, int depth)
    {
        var first = true;
        foreach (var field in Fields(value.GetType()))
        {
            if (!first) text.Append(", ");
            first = false;
            text.Append(field.Name).Append('=');
            object? fieldValue;
            try { fieldValue = field.GetValue(value); }
            catch (TargetInvocationException ex) { fieldValue = $"<{ex.InnerException?.Message ?? ex.Message}>"; }
            WriteValue(text, fieldValue, depth + 1);
        }
    }

    private static void WriteValue(StringBuilder text, object? value, int depth)
    {
        switch (value)
        {
            case null:
                text.Append("null");
                return;
            case string s:
                text.Append(s.Length == 0 ? "\"\"" : s);
                return;
            case bool b:
                text.Append(b ? "true" : "false");
                return;
            case DateTimeOffset at:
                text.Append(at.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture));
                return;
            case DateTime at:
                var utc = at.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(at, DateTimeKind.Utc) : at.ToUniversalTime();
                text.Append(utc.ToString(TimeFormat, CultureInfo.InvariantCulture));
                return;
            case TimeSpan span:
                text.Append(XmlConvert.ToString(span));
                return;
            case Guid guid:
                text.Append(guid.ToString("D"));
                return;
            case Enum:
                text.Append(value);
                return;
        }

        var type = value.GetType();
        if (type.IsPrimitive || value is decimal)
        {
            text.Append(Convert.ToString(value, CultureInfo.InvariantCulture));
            return;
        }
        if (depth > MaxDepth)
        {
            text.Append('…');
            return;
        }
        if (value is IDictionary dictionary)
        {
            text.Append('{');
            var first = true;
            foreach (DictionaryEntry entry in dictionary)
            {
                if (!first) text.Append(", ");
                first = false;
                WriteValue(text, entry.Key, depth + 1);
                text.Append('=');
                WriteValue(text, entry.Value, depth + 1);
            }
            text.Append('}');
            return;
        }
        if (value is IEnumerable items)
        {
            text.Append('[');
            var first = true;
            foreach (var item in items)
            {
                if (!first) text.Append(", ");
                first = false;
                WriteValue(text, item, depth + 1);
            }
            text.Append(']');
            return;
        }
        if (HasOwnToString(type))
        {
            text.Append(value is IFormattable formattable ? formattable.ToString(null, CultureInfo.InvariantCulture) : value.ToString());
            return;
        }
        text.Append('{');
        WriteFields(text, value, depth);
        text.Append('}');
    }

    /// <summary>
    /// A record's positional fields in declaration order (the parameters of its widest public
    /// constructor that are properties too), so computed properties such as
    /// <c>PortReport.Port</c> are not written twice; for any other type, its public properties.
    /// </summary>
    private static PropertyInfo[] Fields(Type type) => FieldsByType.GetOrAdd(type, static t =>
    {
        var properties = t.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanRead && p.GetIndexParameters().Length == 0)
            .ToArray();
        var byName = properties.ToDictionary(p => p.Name, StringComparer.Ordinal);
        var positional = t.GetConstructors()
            .Select(c => c.GetParameters())
            .Where(ps => ps.Length > 0 && ps.All(p => p.Name is not null && byName.ContainsKey(p.Name)))
            .OrderByDescending(ps => ps.Length)
            .FirstOrDefault();
        return positional is null ? properties : [.. positional.Select(p => byName[p.Name!])];
    });

    /// <summary>
    /// True when the type (or a base below object) declares a ToString written by a person, as
    /// ids do. The compiler's ToString of a record is marked [CompilerGenerated]: it prints the
    /// type name, so such records are written by their fields instead.
    /// </summary>
    private static bool HasOwnToString(Type type) => OwnToString.GetOrAdd(type, static t =>
    {
        var method = t.GetMethod(nameof(ToString), BindingFlags.Public | BindingFlags.Instance, Type.EmptyTypes);
        return method is not null
            && method.DeclaringType != typeof(object)
            && method.DeclaringType != typeof(ValueType)
            && !method.IsDefined(typeof(CompilerGeneratedAttribute), inherit: false);
    });
}
