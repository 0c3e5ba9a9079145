using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Event;
using Akka.Remote.Transport.DotNetty;
using Replug.Shared.Hosting;
using Replug.Shared.Remoting;
using Xunit.Abstractions;

namespace Replug.Shared.Tests.Remoting;

/// <summary>
/// Remoting over <see cref="TlsTcpTransport"/> between actor systems in this process, on real TCP
/// sockets with real TLS: messages flow and keep their order; a handshake that fails for any
/// reason is a failed connection, never a node's shutdown; certificates from another CA are
/// refused both ways; Akka's own DotNetty TLS nodes understand it.
/// </summary>
public sealed class TlsTcpTransportTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TestAuthority Cluster = TestAuthority.Create("cluster");
    private static readonly TestAuthority Rogue = TestAuthority.Create("rogue");
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly List<ActorSystem> _others = [];
    private readonly ITestOutputHelper _output;

    public TlsTcpTransportTests(ITestOutputHelper output) : base(NodeSetup(Cluster.Node("a")), "a", output)
    {
        _output = output;
        Sys.ActorOf(Props.Create(() => new Echo()), "echo");
    }

    [Fact]
    public void Two_nodes_of_the_cluster_exchange_messages_in_order_small_ones_and_ones_larger_than_a_TLS_record()
    {
        var b = Other("b", NodeSetup(Cluster.Node("b")));
        var echo = EchoOf(b);
        var messages = Enumerable.Range(0, 400).Select(i => i % 40 == 0 ? new string('x', 60_000) + i : $"m{i}").ToList();

        foreach (var message in messages) echo.Tell(message, TestActor);

        foreach (var message in messages) ExpectMsg(message, Patience);
    }

    [Fact]
    public void A_handshake_that_fails_because_the_peer_hung_up_is_a_failed_connection_and_the_node_keeps_running()
    {
        // A peer that reads the start of the handshake and hangs up: as one killed mid-handshake.
        using var hangsUp = new TcpListener(IPAddress.Loopback, 0);
        hangsUp.Start();
        var attempts = 0;
        using var stop = new CancellationTokenSource();
        _ = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var connection = await hangsUp.AcceptTcpClientAsync(stop.Token);
                await connection.GetStream().ReadAtLeastAsync(new byte[16], 1, throwOnEndOfStream: false, stop.Token);
                Interlocked.Increment(ref attempts);
            }
        });
        var gone = Sys.ActorSelection($"akka.ssl.tcp://b@127.0.0.1:{((IPEndPoint)hangsUp.LocalEndpoint).Port}/user/echo");

        AwaitCondition(() =>
        {
            gone.Tell(new Identify(1), ActorRefs.Nobody);
            return Volatile.Read(ref attempts) >= 3;
        }, Patience, TimeSpan.FromMilliseconds(300));

        // Akka's DotNetty TLS transport runs a coordinated shutdown of the node at the first of these.
        Assert.Null(CoordinatedShutdown.Get(Sys).ShutdownReason);
        var b = Other("b", NodeSetup(Cluster.Node("b")));
        EchoOf(b).Tell("still here", TestActor);
        ExpectMsg("still here", Patience);
    }

    [Fact]
    public void A_node_whose_certificate_another_CA_signed_is_refused_both_ways_and_neither_node_stops()
    {
        var warnings = CreateTestProbe();
        Sys.EventStream.Subscribe(warnings.Ref, typeof(Warning));
        var rogue = Other("rogue", NodeSetup(Rogue.Node("rogue")));
        var roguePort = AddressOf(rogue).Port;

        // The rogue calls: this node's check refuses the certificate it shows.
        var fromRogue = rogue.ActorSelection(new RootActorPath(AddressOf(Sys)) / "user" / "echo");
        AwaitCondition(() =>
        {
            fromRogue.Tell(new Identify(1), ActorRefs.Nobody);
            return Refused(warnings, "not issued by the cluster's CA (CN=cluster CA)", except: $":{roguePort}:");
        }, Patience, TimeSpan.FromMilliseconds(300));
        // This node calls: it refuses the rogue's certificate as a server's too.
        var toRogue = Sys.ActorSelection(new RootActorPath(AddressOf(rogue)) / "user" / "echo");
        var identities = CreateTestProbe();
        AwaitCondition(() =>
        {
            toRogue.Tell(new Identify(2), identities.Ref);
            return Refused(warnings, $"127.0.0.1:{roguePort}: not issued by the cluster's CA");
        }, Patience, TimeSpan.FromMilliseconds(300));

        // Akka answers an Identify it could not deliver with an empty identity: nothing got through.
        while (identities.HasMessages) Assert.Null(identities.ExpectMsg<ActorIdentity>(TimeSpan.Zero).Subject);
        Assert.Null(CoordinatedShutdown.Get(Sys).ShutdownReason);
        Assert.Null(CoordinatedShutdown.Get(rogue).ShutdownReason);
    }

    [Fact]
    public async Task A_node_on_Akkas_DotNetty_TLS_transport_and_one_on_this_transport_talk_both_ways()
    {
        var dotNetty = Other("d", BootstrapSetup.Create()
            .WithConfig(ConfigurationFactory.ParseString("""
                akka.actor.provider = remote
                akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0, enable-ssl = true }
                """))
            .And(new DotNettySslSetup(Cluster.Issue("d"), suppressValidation: false, requireMutualAuthentication: true,
                (certificate, _, _, _, _) => certificate is not null && ClusterTlsOptions.Verify(certificate, Cluster.Certificate) is null)));

        EchoOf(dotNetty).Tell("to DotNetty", TestActor);
        ExpectMsg("to DotNetty", Patience);
        var fromDotNetty = await dotNetty.ActorSelection(new RootActorPath(AddressOf(Sys)) / "user" / "echo").ResolveOne(Patience);
        Assert.Equal("from DotNetty", await fromDotNetty.Ask<string>("from DotNetty", Patience));
    }

    [Fact]
    public async Task A_frame_longer_than_the_maximum_frame_size_closes_its_connection_with_a_warning_and_nothing_else()
    {
        var warnings = CreateTestProbe();
        Sys.EventStream.Subscribe(warnings.Ref, typeof(Warning));
        var port = AddressOf(Sys).Port!.Value;
        var peer = Cluster.Node("forger");
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        await using var tls = new SslStream(client.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "127.0.0.1",
            ClientCertificateContext = peer.Context,
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        });
        var header = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(header, 1 << 30);
        await tls.WriteAsync(header);

        AwaitCondition(() => warnings.HasMessages && warnings.ReceiveOne(TimeSpan.Zero) is Warning w
                             && w.Message.ToString()!.Contains("a frame of 1073741824 bytes (maximum-frame-size is 128000)"), Patience);
        Assert.Equal(0, await tls.ReadAsync(new byte[1]).AsTask().WaitAsync(Patience)); // closed by the node
        EchoOf(Sys).Tell("still here", TestActor);
        ExpectMsg("still here", Patience);
    }

    private static bool Refused(Akka.TestKit.TestProbe warnings, string containing, string? except = null)
    {
        while (warnings.HasMessages)
        {
            var text = warnings.ReceiveOne(TimeSpan.Zero) is Warning w ? w.Message.ToString() ?? "" : "";
            if (text.StartsWith("Refused a TLS connection with ") && text.Contains(containing) && (except is null || !text.Contains(except))) return true;
        }
        return false;
    }

    private static ActorSystemSetup NodeSetup(ClusterTlsSetup tls) => BootstrapSetup.Create()
        .WithConfig(ConfigurationFactory.ParseString($"""
            akka.actor.provider = remote
            akka.remote.retry-gate-closed-for = 200ms
            {TlsTcpTransport.Hocon("127.0.0.1", 0, null)}
            akka.remote.replug-tls.connection-timeout = 3s
            """))
        .And(tls);

    private ActorSystem Other(string name, ActorSystemSetup setup)
    {
        var system = ActorSystem.Create(name, setup);
        _others.Add(system);
        system.ActorOf(Props.Create(() => new Echo()), "echo");
        // The other node's log in the test's output, beside this node's.
        system.EventStream.Subscribe(system.ActorOf(Props.Create(() => new LogToOutput(_output, name))), typeof(LogEvent));
        return system;
    }

    private static Address AddressOf(ActorSystem system) => ((ExtendedActorSystem)system).Provider.DefaultAddress;

    private IActorRef EchoOf(ActorSystem system) => Sys.ActorSelection(new RootActorPath(AddressOf(system)) / "user" / "echo").ResolveOne(Patience).Result;

    protected override void AfterAll()
    {
        foreach (var other in _others) other.Terminate().Wait(Patience);
        base.AfterAll();
    }

    private sealed class LogToOutput : ReceiveActor
    {
        public LogToOutput(ITestOutputHelper output, string node) => Receive<LogEvent>(e =>
        {
            try { output.WriteLine($"[{node}] {e}"); }
            catch (InvalidOperationException) { } // the test is over
        });
    }

    private sealed class Echo : ReceiveActor
    {
        public Echo() => ReceiveAny(message => Sender.Tell(message));
    }
}
