using System.Runtime.CompilerServices;

namespace Replug.Shared.Tests.Serialization;

/// <summary>
/// Stored payloads under Fixtures/{serializer id}/{manifest}.json: what an earlier Replug wrote,
/// kept so that a change of shape without a new version and an upcaster fails a test.
/// </summary>
public static class SerializationFixtures
{
    public static string Directory { get; } = Locate();

    public static byte[] Read(int serializerId, string manifest) =>
        File.ReadAllBytes(Path.Combine(Directory, serializerId.ToString(System.Globalization.CultureInfo.InvariantCulture), manifest + ".json"));

    /// <summary>(serializer id, manifest) of every stored fixture.</summary>
    public static TheoryData<int, string> All()
    {
        var data = new TheoryData<int, string>();
        foreach (var folder in System.IO.Directory.EnumerateDirectories(Directory).Order(StringComparer.Ordinal))
        foreach (var file in System.IO.Directory.EnumerateFiles(folder, "*.json").Order(StringComparer.Ordinal))
            data.Add(int.Parse(Path.GetFileName(folder), System.Globalization.CultureInfo.InvariantCulture), Path.GetFileNameWithoutExtension(file));
        return data;
    }

    private static string Locate([CallerFilePath] string thisFile = "")
    {
        var copied = Path.Combine(AppContext.BaseDirectory, "Serialization", "Fixtures");
        if (System.IO.Directory.Exists(copied)) return copied;
        // Until Replug.Shared.Tests.csproj copies Serialization/Fixtures/** to the output (like
        // Uevents/Fixtures), read them beside this source file.
        return Path.Combine(Path.GetDirectoryName(thisFile)!, "Fixtures");
    }
}
