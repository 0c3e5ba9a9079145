using System.Reflection;
using System.Runtime.Serialization;
using Akka.Actor;

namespace Replug.Shared.Serialization;

/// <summary>Thrown at start when some message or event type would not be written by a Replug serializer.</summary>
public sealed class SerializationCheckFailedException(IReadOnlyList<string> problems)
    : Exception("Serialization check failed; these types would not go through a Replug serializer:" + Environment.NewLine
        + string.Join(Environment.NewLine, problems.Select(p => "  - " + p)))
{
    /// <summary>One line per type, naming it and what is wrong.</summary>
    public IReadOnlyList<string> Problems { get; } = problems;
}

/// <summary>
/// Proves at start, not at the first remote message, that every type implementing a marker
/// (IHostMessage, IOperatorMessage, ICoordinatorEvent, ...) goes through that marker's
/// <see cref="VersionedJsonSerializer"/> and has a manifest in its registry.
/// </summary>
public static class SerializationCheck
{
    /// <summary>Throws <see cref="SerializationCheckFailedException"/> listing every problem <see cref="Problems"/> finds.</summary>
    /// <param name="system">The started actor system, configured as in production.</param>
    /// <param name="markerTypes">The marker interfaces; their implementations are found by reflection over each marker's assembly.</param>
    public static void Verify(ActorSystem system, IEnumerable<Type> markerTypes)
    {
        var problems = Problems(system, markerTypes);
        if (problems.Count > 0) throw new SerializationCheckFailedException(problems);
    }

    /// <summary>
    /// For each marker: the marker itself must be bound to a <see cref="VersionedJsonSerializer"/>;
    /// each concrete implementation in the marker's assembly must resolve to that same serializer
    /// (not the fallback, not another binding) and be in its registry; no type may implement two
    /// of the markers (Akka would pick one of their serializers with only a warning).
    /// </summary>
    public static IReadOnlyList<string> Problems(ActorSystem system, IEnumerable<Type> markerTypes)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(markerTypes);
        var markers = markerTypes.Distinct().ToList();
        var problems = new List<string>();
        var serialization = system.Serialization;

        foreach (var marker in markers)
        {
            if (!Describe(serialization, marker, out var expected, out var markerProblem))
            {
                problems.Add($"{marker.FullName} (marker): {markerProblem}");
                continue;
            }

            foreach (var type in ConcreteImplementations(marker))
            {
                var others = markers.Where(m => m != marker && m.IsAssignableFrom(type)).ToList();
                if (others.Count > 0)
                {
                    // Reported once, under the first marker it implements.
                    if (markers.IndexOf(marker) < others.Min(markers.IndexOf))
                        problems.Add($"{type.FullName}: implements {marker.Name} and {string.Join(", ", others.Select(o => o.Name))}; a type belongs to one protocol.");
                    continue;
                }

                if (!Describe(serialization, type, out var actual, out var problem))
                    problems.Add($"{type.FullName}: {problem}");
                else if (actual.Identifier != expected.Identifier)
                    problems.Add($"{type.FullName}: resolves to {Name(actual)}, not {Name(expected)} bound to {marker.Name}.");
                else if (!expected.Registry.Contains(type))
                    problems.Add($"{type.FullName}: has no manifest in {Name(expected)}; add it to the serializer's ManifestRegistry.");
            }
        }
        return problems;
    }

    /// <summary>Non-abstract classes and structs in <paramref name="marker"/>'s assembly implementing it.</summary>
    public static IReadOnlyList<Type> ConcreteImplementations(Type marker)
    {
        ArgumentNullException.ThrowIfNull(marker);
        return LoadableTypes(marker.Assembly)
            .Where(t => !t.IsAbstract && !t.IsInterface && !t.ContainsGenericParameters && marker.IsAssignableFrom(t))
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .ToList();
    }

    private static IEnumerable<Type> LoadableTypes(Assembly assembly)
    {
        try
        {
            return assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException e)
        {
            return e.Types.OfType<Type>();
        }
    }

    private static bool Describe(Akka.Serialization.Serialization serialization, Type type,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out VersionedJsonSerializer? serializer,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? problem)
    {
        serializer = null;
        Akka.Serialization.Serializer found;
        try
        {
            found = serialization.FindSerializerForType(type);
        }
        catch (SerializationException)
        {
            problem = "has no serializer binding (strict serialization refuses it).";
            return false;
        }
        if (found is VersionedJsonSerializer versioned)
        {
            serializer = versioned;
            problem = null;
            return true;
        }
        problem = $"would fall back to {found.GetType().Name} (id {found.Identifier}), not a Replug serializer.";
        return false;
    }

    private static string Name(VersionedJsonSerializer serializer) => $"{serializer.GetType().Name} (id {serializer.Identifier})";
}
