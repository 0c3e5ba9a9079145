using System.Collections;
using System.Reflection;

namespace Replug.Shared.Tests.Serialization;

/// <summary>
/// Builds an instance of any record message by reflection, so a new message type is round-tripped
/// without anyone writing a sample for it. "Filled" sets every optional and nullable member and
/// puts two elements in every list; "minimal" uses nulls, empty lists and parameter defaults.
/// </summary>
public static class Samples
{
    private static readonly NullabilityInfoContext Nullability = new();

    public static object Create(Type type, bool filled) => Value(type, filled, type.Name, nullable: false, depth: 0)!;

    private static object? Value(Type type, bool filled, string hint, bool nullable, int depth)
    {
        if (depth > 8) throw new InvalidOperationException($"Samples: {type} nests too deeply.");
        if (Nullable.GetUnderlyingType(type) is { } underlying)
            return filled ? Value(underlying, filled, hint, nullable: false, depth) : null;
        if (nullable && !filled) return null;

        if (type == typeof(string)) return hint;
        if (type == typeof(bool)) return filled;
        if (type == typeof(int)) return filled ? 42 : 1;
        if (type == typeof(long)) return filled ? 1L << 40 : 1L;
        if (type == typeof(double)) return filled ? 2.5 : 0.0;
        if (type == typeof(Guid)) return new Guid("6f1c2b7e-3d4a-4e5f-9a8b-7c6d5e4f3a2b");
        if (type == typeof(DateTimeOffset)) return new DateTimeOffset(2026, 3, 1, 12, 30, 0, TimeSpan.FromHours(1));
        if (type == typeof(TimeSpan)) return TimeSpan.FromSeconds(20);
        if (type.IsEnum)
        {
            var values = Enum.GetValues(type);
            return values.GetValue(filled ? values.Length - 1 : 0);
        }
        if (type.IsGenericType && type.GetGenericTypeDefinition() is var definition
            && (definition == typeof(IReadOnlyDictionary<,>) || definition == typeof(IDictionary<,>) || definition == typeof(Dictionary<,>)))
        {
            var (key, value) = (type.GetGenericArguments()[0], type.GetGenericArguments()[1]);
            var map = (IDictionary)Activator.CreateInstance(typeof(Dictionary<,>).MakeGenericType(key, value))!;
            if (filled)
            {
                map[Value(key, filled, hint + "-1", nullable: false, depth + 1)!] = Value(value, filled, hint + "-v1", nullable: false, depth + 1);
                map[Value(key, filled, hint + "-2", nullable: false, depth + 1)!] = Value(value, filled, hint + "-v2", nullable: false, depth + 1);
            }
            return map;
        }
        if (ElementType(type) is { } element)
        {
            var list = (IList)Activator.CreateInstance(typeof(List<>).MakeGenericType(element))!;
            if (filled)
            {
                list.Add(Value(element, filled, hint + "-1", nullable: false, depth + 1));
                list.Add(Value(element, filled, hint + "-2", nullable: false, depth + 1));
            }
            if (!type.IsArray) return list;
            var array = Array.CreateInstance(element, list.Count);
            list.CopyTo(array, 0);
            return array;
        }

        // A polymorphic contract (System.Text.Json's [JsonDerivedType]): a sample of its first kind.
        if (type.IsAbstract && type.GetCustomAttributes(typeof(System.Text.Json.Serialization.JsonDerivedTypeAttribute), false)
                .OfType<System.Text.Json.Serialization.JsonDerivedTypeAttribute>().FirstOrDefault() is { } derived)
            return Value(derived.DerivedType, filled, hint, nullable, depth + 1);

        var constructor = type.GetConstructors().OrderByDescending(c => c.GetParameters().Length).FirstOrDefault()
            ?? throw new InvalidOperationException($"Samples: {type} has no public constructor.");
        var arguments = constructor.GetParameters().Select(p =>
        {
            if (!filled && p.HasDefaultValue) return p.DefaultValue;
            var isNullable = !p.ParameterType.IsValueType && Nullability.Create(p).WriteState == NullabilityState.Nullable;
            return Value(p.ParameterType, filled, p.Name!, isNullable, depth + 1);
        }).ToArray();
        return constructor.Invoke(arguments);
    }

    private static Type? ElementType(Type type)
    {
        if (type.IsArray) return type.GetElementType();
        if (!type.IsGenericType) return null;
        var definition = type.GetGenericTypeDefinition();
        return definition == typeof(IReadOnlyList<>) || definition == typeof(IReadOnlyCollection<>) || definition == typeof(IEnumerable<>)
            || definition == typeof(IList<>) || definition == typeof(List<>)
            ? type.GetGenericArguments()[0]
            : null;
    }
}

/// <summary>
/// Value equality that looks into lists: records compare IReadOnlyList members by reference,
/// so after a round trip <c>Assert.Equal</c> would fail on an equal message.
/// </summary>
public static class Structurally
{
    public static void Equal(object? expected, object? actual, string path = "$")
    {
        if (expected is null || actual is null)
        {
            Assert.True(expected is null && actual is null, $"{path}: expected {expected ?? "null"}, got {actual ?? "null"}");
            return;
        }
        Assert.True(expected.GetType() == actual.GetType() || (expected is IEnumerable && actual is IEnumerable && expected is not string),
            $"{path}: expected a {expected.GetType().Name}, got a {actual.GetType().Name}");

        var type = expected.GetType();
        if (type.IsPrimitive || type.IsEnum || expected is string or decimal or Guid or DateTimeOffset or DateTime or TimeSpan)
        {
            Assert.True(expected.Equals(actual), $"{path}: expected {expected}, got {actual}");
            return;
        }
        if (expected is IEnumerable expectedItems)
        {
            var e = expectedItems.Cast<object?>().ToList();
            var a = ((IEnumerable)actual).Cast<object?>().ToList();
            Assert.True(e.Count == a.Count, $"{path}: expected {e.Count} elements, got {a.Count}");
            for (var i = 0; i < e.Count; i++) Equal(e[i], a[i], $"{path}[{i}]");
            return;
        }
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.GetIndexParameters().Length == 0))
            Equal(property.GetValue(expected), property.GetValue(actual), $"{path}.{property.Name}");
    }
}
