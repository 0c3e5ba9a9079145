using Replug.Shared.Protocol;
using Replug.Shared.Serialization;

namespace Replug.Shared.Tests.Serialization;

public class ManifestRegistryTests
{
    private sealed record A(int X);
    private sealed record B(int X);
    private abstract record Base;

    [Fact]
    public void The_registry_lists_the_types_it_knows_in_the_order_added()
    {
        var registry = ManifestRegistry.Create().Add<A>("test.a").Add<B>("test.b", version: 3).Build();

        Assert.Equal([typeof(A), typeof(B)], registry.Types);
        Assert.Equal(["test.a.v1", "test.b.v3"], registry.Entries.Select(e => e.Manifest));
        Assert.True(registry.Contains(typeof(A)));
        Assert.False(registry.Contains(typeof(Base)));
    }

    [Fact]
    public void A_duplicate_name_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => ManifestRegistry.Create().Add<A>("test.same").Add<B>("test.same"));
        Assert.Contains("'test.same'", e.Message);
    }

    [Fact]
    public void A_duplicate_type_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => ManifestRegistry.Create().Add<A>("test.a").Add<A>("test.a2"));
        Assert.Contains(typeof(A).FullName!, e.Message);
    }

    [Fact]
    public void An_abstract_type_or_interface_is_refused()
    {
        Assert.Throws<ArgumentException>(() => ManifestRegistry.Create().Add<Base>("test.base"));
        Assert.Throws<ArgumentException>(() => ManifestRegistry.Create().Add<IHostMessage>("test.marker"));
    }

    [Theory]
    [InlineData("")]
    [InlineData(".a")]
    [InlineData("a b")]
    [InlineData("a/b")]
    public void A_name_that_would_not_round_trip_as_a_manifest_is_refused(string name)
    {
        Assert.Throws<ArgumentException>(() => ManifestRegistry.Create().Add<A>(name));
    }

    [Fact]
    public void Version_zero_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ManifestRegistry.Create().Add<A>("test.a", version: 0));
    }

    [Fact]
    public void An_upcaster_before_its_type_is_added_is_refused()
    {
        Assert.Throws<ArgumentException>(() => ManifestRegistry.Create().Upcast<A>(1, n => n));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(4)]
    public void An_upcaster_must_start_below_the_current_version(int fromVersion)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ManifestRegistry.Create().Add<A>("test.a", version: 3).Upcast<A>(fromVersion, n => n));
    }

    [Fact]
    public void Two_upcasters_from_the_same_version_are_refused()
    {
        Assert.Throws<ArgumentException>(() => ManifestRegistry.Create().Add<A>("test.a", version: 2).Upcast<A>(1, n => n).Upcast<A>(1, n => n));
    }

    [Fact]
    public void A_gap_in_the_upcaster_chain_is_refused_when_built()
    {
        var builder = ManifestRegistry.Create().Add<A>("test.a", version: 3).Upcast<A>(1, n => n);

        var e = Assert.Throws<InvalidOperationException>(builder.Build);
        Assert.Contains("none from v2", e.Message);
    }

    [Fact]
    public void The_oldest_readable_version_is_where_the_upcaster_chain_starts()
    {
        var registry = ManifestRegistry.Create()
            .Add<A>("test.a", version: 4).Upcast<A>(2, n => n).Upcast<A>(3, n => n)
            .Add<B>("test.b", version: 2)
            .Build();

        Assert.Equal(2, registry.For(typeof(A)).OldestReadableVersion);
        Assert.Equal(2, registry.For(typeof(B)).OldestReadableVersion);
    }

    [Theory]
    [InlineData("host.register-host.v1", "host.register-host", 1)]
    [InlineData("a.v2.v13", "a.v2", 13)]
    public void A_manifest_splits_into_name_and_version(string manifest, string name, int version)
    {
        Assert.True(ManifestRegistry.TryParseManifest(manifest, out var parsedName, out var parsedVersion));
        Assert.Equal(name, parsedName);
        Assert.Equal(version, parsedVersion);
        Assert.Equal(manifest, ManifestRegistry.FormatManifest(name, version));
    }

    [Fact]
    public void The_shared_registries_use_distinct_names()
    {
        var names = HostProtocolSerializer.Manifests.Entries.Concat(OperatorProtocolSerializer.Manifests.Entries).Select(e => e.Name).ToList();

        Assert.Equal(names.Count, names.Distinct().Count());
        Assert.All(HostProtocolSerializer.Manifests.Entries, e => Assert.StartsWith("host.", e.Name));
        Assert.All(OperatorProtocolSerializer.Manifests.Entries, e => Assert.StartsWith("operator.", e.Name));
    }
}
