using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Serialization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Replug.Shared.Protocol;
using Replug.Shared.Serialization;

namespace Replug.Shared.Tests.Serialization;

public class StartupCheckTests : SerializationTestKit
{
    [Fact]
    public void A_bound_type_missing_from_its_registry_fails_the_check_naming_it()
    {
        var e = Assert.Throws<SerializationCheckFailedException>(() => SerializationCheck.Verify(Sys, [typeof(IHalfRegisteredMessage)]));

        var problem = Assert.Single(e.Problems);
        Assert.Contains(typeof(Forgotten).FullName!, problem);
        Assert.Contains("no manifest", problem);
        Assert.Contains(typeof(Forgotten).FullName!, e.Message);
    }

    [Fact]
    public void A_marker_without_a_binding_fails_the_check()
    {
        var e = Assert.Throws<SerializationCheckFailedException>(() => SerializationCheck.Verify(Sys, [typeof(IHostMessage), typeof(IUnboundMessage)]));

        var problem = Assert.Single(e.Problems);
        Assert.Contains(typeof(IUnboundMessage).FullName!, problem);
    }

    [Fact]
    public void Strict_serialization_refuses_a_type_without_a_binding_instead_of_falling_back_to_Newtonsoft()
    {
        Assert.False(Sys.Settings.Config.GetBoolean("akka.actor.serialization-settings.allow-unregistered-types"));
        Assert.Throws<SerializationException>(() => Sys.Serialization.FindSerializerFor(new Unbound(1)));
    }

    [Fact]
    public async Task Without_strict_serialization_the_check_reports_the_fallback_by_name()
    {
        // The default Akka configuration: System.Object falls back to Newtonsoft JSON.
        var loose = ActorSystem.Create("loose", ActorSystemSetup.Create(
            BootstrapSetup.Create().WithConfig(ConfigurationFactory.Empty), ReplugSerializers.CreateSerializationSetup()));
        try
        {
            var problem = Assert.Single(SerializationCheck.Problems(loose, [typeof(IHostMessage), typeof(IUnboundMessage)]));

            Assert.Contains("would fall back to NewtonSoftJsonSerializer", problem);
        }
        finally
        {
            await loose.Terminate();
        }
    }
}

/// <summary>The Akka.Hosting path, as the agent and the coordinator start it.</summary>
public class HostingTests
{
    private sealed class Lifetime : IHostApplicationLifetime
    {
        public CancellationToken ApplicationStarted => CancellationToken.None;
        public CancellationToken ApplicationStopping => CancellationToken.None;
        public CancellationToken ApplicationStopped => CancellationToken.None;
        public void StopApplication() { }
    }

    /// <summary>Runs <paramref name="test"/> against an ActorSystem started by Akka.Hosting's hosted service.</summary>
    private static async Task WithHostedSystem(Action<AkkaConfigurationBuilder> configure, Action<ActorSystem> test)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IHostApplicationLifetime, Lifetime>();
        services.AddAkka("replug-hosting-test", configure);
        await using var provider = services.BuildServiceProvider();
        var hosted = provider.GetServices<IHostedService>().ToList();
        try
        {
            foreach (var service in hosted) await service.StartAsync(CancellationToken.None);
            test(provider.GetRequiredService<ActorSystem>());
        }
        finally
        {
            foreach (var service in hosted) await service.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task WithReplugSerializers_binds_every_protocol_and_turns_the_fallback_off()
    {
        await WithHostedSystem(builder => builder.WithReplugSerializers(), system =>
        {
            Assert.False(system.Settings.Config.GetBoolean("akka.actor.serialization-settings.allow-unregistered-types"));
            Assert.IsType<HostProtocolSerializer>(system.Serialization.FindSerializerForType(typeof(HostProtocol.RegisterHost)));
            Assert.IsType<OperatorProtocolSerializer>(system.Serialization.FindSerializerForType(typeof(OperatorProtocol.DrainHost)));
            Assert.Throws<SerializationException>(() => system.Serialization.FindSerializerForType(typeof(Unbound)));
            SerializationCheck.Verify(system, [typeof(IHostMessage), typeof(IOperatorMessage)]);
        });
    }

    [Fact]
    public async Task WithReplugSerializers_binds_an_additional_serializer()
    {
        await WithHostedSystem(builder => builder.WithReplugSerializers(VersionedTestSerializer.Binding), system =>
        {
            var serializer = Assert.IsType<VersionedTestSerializer>(system.Serialization.FindSerializerForType(typeof(PortNoted)));
            Assert.Equal(VersionedTestSerializer.Id, serializer.Identifier);
        });
    }

    [Fact]
    public async Task A_type_without_a_manifest_fails_the_host_start_naming_it()
    {
        var e = await Assert.ThrowsAsync<SerializationCheckFailedException>(() =>
            WithHostedSystem(builder => builder.WithReplugSerializers(HalfRegisteredSerializer.Binding), _ => { }));

        Assert.Contains(typeof(Forgotten).FullName!, Assert.Single(e.Problems));
    }

    [Fact]
    public void An_alias_bound_twice_is_refused()
    {
        Assert.Throws<ArgumentException>(() => ReplugSerializers.With([ReplugSerializers.HostProtocol]));
    }
}
