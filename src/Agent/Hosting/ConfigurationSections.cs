using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text;
using Microsoft.Extensions.Configuration;

namespace Replug.Agent.Hosting;

/// <summary>
/// Typed options from configuration, checked at start: every executable's sections go through
/// here, so a misspelt key or a bad value stops the process with the key named instead of being
/// silently ignored or defaulted. The checks, in order: every key of the section is printable and
/// has no spaces; every key is a setting of the options; the entries of a list are numbered; then
/// the binder converts the values, and the options validate themselves.
/// <para>
/// A list of values (Subsystems, SeedNodes, FailoverDevices, a port's Devices) comes whole from
/// the last source that gives any of its entries: appsettings.json, then environment variables,
/// then the command line. .NET merges lists entry by entry, so <c>--Replug:Agent:Subsystems:0=net</c>
/// would keep appsettings.json's second entry. Lists of objects (Ports, Devices) still merge field
/// by field, so <c>--Replug:Agent:Ports:0:Revertive=false</c> changes one setting of one port.
/// </para>
/// </summary>
public static class ConfigurationSections
{
    /// <summary>Binds <paramref name="section"/> (unknown keys are errors) and validates the result.</summary>
    public static bool TryBind<T>(IConfiguration configuration, string section, Func<T, IReadOnlyList<string>> validate,
        out T options, out IReadOnlyList<string> errors) where T : new()
    {
        options = new T();
        var bound = WithWholeLists(configuration, section).GetSection(section);
        var keyErrors = new List<string>();
        CheckKeys(bound, typeof(T), keyErrors);
        if (keyErrors.Count > 0)
        {
            errors = keyErrors;
            return false;
        }
        try
        {
            bound.Bind(options, b => b.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException e)
        {
            errors = [Printable(e.InnerException is null ? e.Message : $"{e.Message} {e.InnerException.Message}")];
            return false;
        }
        errors = validate(options);
        return errors.Count == 0;
    }

    /// <summary>
    /// Every log level under "Logging" ("Logging:LogLevel:Default", "Logging:Console:LogLevel:…") is
    /// one .NET knows: "Verbose" (Serilog's word) would otherwise crash the host at start.
    /// </summary>
    public static IReadOnlyList<string> LogLevels(IConfiguration configuration)
    {
        var levels = string.Join(", ", Enum.GetNames<Microsoft.Extensions.Logging.LogLevel>());
        return [.. configuration.GetSection("Logging").AsEnumerable()
            .Where(kv => kv.Value is not null && kv.Key.Split(':') is var parts && parts.Length >= 3 && parts[^2] == "LogLevel")
            .Where(kv => !Enum.TryParse<Microsoft.Extensions.Logging.LogLevel>(kv.Value, ignoreCase: true, out var level) || !Enum.IsDefined(level)
                || char.IsDigit(kv.Value![0]))
            .OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => $"{kv.Key}: '{kv.Value}' is not a log level ({levels})")];
    }

    /// <summary>
    /// Sections under "Replug" that this executable does not read ("Replug:Clustre", or the
    /// coordinator's section given to an agent): the binder never sees them, so they are named here.
    /// </summary>
    public static IReadOnlyList<string> Unknown(IConfiguration configuration, params string[] known)
    {
        const string root = "Replug";
        var names = known.Select(k => k[(root.Length + 1)..]).ToList();
        return [.. configuration.GetSection(root).GetChildren()
            .Where(c => !names.Contains(c.Key, StringComparer.OrdinalIgnoreCase))
            .Select(c => $"{Printable(c.Path)}: not a section this program reads ({string.Join(", ", known)})")];
    }

    /// <summary>
    /// The configuration under <paramref name="section"/>'s root, with every list of values taken
    /// from the last source that gives it (see the class summary).
    /// </summary>
    public static IConfiguration WithWholeLists(IConfiguration configuration, string section)
    {
        if (configuration is not IConfigurationRoot root) return configuration;
        var top = section.Split(ConfigurationPath.KeyDelimiter)[0];
        var merged = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var provider in root.Providers)
        {
            var given = new List<KeyValuePair<string, string?>>();
            if (provider.TryGet(top, out var topValue)) given.Add(new(top, topValue));
            Collect(provider, top, given);
            var lists = given.Select(g => ValueListOf(g.Key)).OfType<string>().ToHashSet(StringComparer.OrdinalIgnoreCase);
            foreach (var earlier in merged.Keys.Where(k => ValueListOf(k) is { } list && lists.Contains(list)).ToList())
                merged.Remove(earlier);
            foreach (var (key, value) in given) merged[key] = value;
        }
        return new ConfigurationBuilder().AddInMemoryCollection(merged).Build();
    }

    private static void Collect(IConfigurationProvider provider, string parent, List<KeyValuePair<string, string?>> into)
    {
        foreach (var child in provider.GetChildKeys([], parent).Distinct(StringComparer.OrdinalIgnoreCase))
        {
            var key = ConfigurationPath.Combine(parent, child);
            if (provider.TryGet(key, out var value)) into.Add(new(key, value));
            Collect(provider, key, into);
        }
    }

    /// <summary>"A:B" for "A:B:3": the list a value entry belongs to; null for any other key.</summary>
    private static string? ValueListOf(string key)
    {
        var colon = key.LastIndexOf(':');
        return colon > 0 && IsIndex(key.AsSpan(colon + 1)) ? key[..colon] : null;
    }

    private static bool IsIndex(ReadOnlySpan<char> segment) =>
        int.TryParse(segment, NumberStyles.None, CultureInfo.InvariantCulture, out _);

    /// <summary>Walks the section along the options' type: bad characters, unknown settings, named list entries.</summary>
    private static void CheckKeys(IConfigurationSection section, Type type, List<string> errors)
    {
        foreach (var child in section.GetChildren())
        {
            if (ProblemOf(child.Key) is { } problem)
            {
                errors.Add($"{Printable(child.Path)}: {problem}");
                continue;
            }
            if (IsDictionary(type))
            {
                if (ValueType(type) is { } value && IsObject(value)) CheckKeys(child, value, errors);
                continue;
            }
            var property = type.GetProperty(child.Key, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
            if (property is null || !IsSetting(property))
            {
                errors.Add($"{Printable(child.Path)}: not a setting of {Printable(section.Path)} ({string.Join(", ", Settings(type))})");
                continue;
            }
            if (ElementType(property.PropertyType) is { } element)
            {
                // The binder would ignore it: a list given as one value ("SeedNodes=akka.tcp://…") is no list at all.
                if (!string.IsNullOrEmpty(child.Value))
                    errors.Add($"{Printable(child.Path)}: a list: give its entries one by one ({child.Path}:0=…, {child.Path}:1=…)");
                foreach (var entry in child.GetChildren())
                {
                    if (ProblemOf(entry.Key) is { } entryProblem)
                        errors.Add($"{Printable(entry.Path)}: {entryProblem}");
                    else if (!IsIndex(entry.Key))
                        errors.Add($"{Printable(entry.Path)}: {child.Path} is a list, numbered from 0 ({child.Path}:0{(HasId(element) ? ":Id" : "")}=…), not keyed by name");
                    else if (IsObject(element))
                        CheckKeys(entry, element, errors);
                }
            }
            else if (IsObject(property.PropertyType))
            {
                CheckKeys(child, property.PropertyType, errors);
            }
        }
    }

    /// <summary>Why a key cannot be one (spaces and control characters: typing mistakes, or log injection), or null.</summary>
    private static string? ProblemOf(string key)
    {
        if (key.Length == 0) return "an empty key";
        foreach (var c in key)
            if (char.IsWhiteSpace(c) || char.IsControl(c))
                return "a key holds no spaces or control characters";
        return null;
    }

    private static bool IsSetting(PropertyInfo property) =>
        property.GetIndexParameters().Length == 0 &&
        (property.SetMethod is { IsPublic: true } || (property.GetMethod is { IsPublic: true } && IsObject(property.PropertyType)));

    private static IEnumerable<string> Settings(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(IsSetting).Select(p => p.Name);

    private static bool IsObject(Type type) => type.IsClass && type != typeof(string);

    private static bool HasId(Type type) => type.GetProperty("Id", BindingFlags.Public | BindingFlags.Instance) is not null;

    private static bool IsDictionary(Type type) => typeof(IDictionary).IsAssignableFrom(type) ||
        type.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDictionary<,>));

    private static Type? ValueType(Type dictionary) =>
        dictionary.GetInterfaces().Concat([dictionary])
            .FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDictionary<,>))?.GetGenericArguments()[1];

    /// <summary>The element type of a list or array setting; null for anything else (strings and dictionaries included).</summary>
    private static Type? ElementType(Type type)
    {
        if (type == typeof(string) || IsDictionary(type)) return null;
        if (type.IsArray) return type.GetElementType();
        return type.GetInterfaces().Concat([type])
            .FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))?.GetGenericArguments()[0];
    }

    /// <summary>Text from configuration, fit for a message: characters a terminal would not show as themselves (controls, a right-to-left override) as \uXXXX.</summary>
    public static string Printable(string text)
    {
        if (text.All(Replug.Shared.Devices.HostNames.IsPrintable)) return text;
        var sb = new StringBuilder(text.Length + 8);
        foreach (var c in text)
            if (!Replug.Shared.Devices.HostNames.IsPrintable(c)) sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            else sb.Append(c);
        return sb.ToString();
    }
}
