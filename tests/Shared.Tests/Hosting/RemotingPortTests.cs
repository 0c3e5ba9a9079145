using System.Net;
using System.Net.Sockets;
using Replug.Shared.Hosting;

namespace Replug.Shared.Tests.Hosting;

/// <summary>Real sockets on loopback: what a second node, or another program, finds on a port a node holds.</summary>
public class RemotingPortTests
{
    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A listener as Akka's DotNetty transport opens it: ReuseAddress, which .NET on Linux makes SO_REUSEADDR and SO_REUSEPORT.</summary>
    private static Socket ListenLikeAkka(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
        socket.Listen();
        return socket;
    }

    [Fact]
    public void A_port_another_node_listens_on_cannot_be_claimed_though_its_listener_lets_others_bind()
    {
        var port = FreePort();
        using var other = ListenLikeAkka(port);
        using (ListenLikeAkka(port)) { } // the cause: a second such listener binds the same port

        var refused = Assert.Throws<IOException>(() => RemotingPort.Claim("127.0.0.1", port));

        Assert.Equal($"Failed to bind to [127.0.0.1:{port}]", refused.Message);
        Assert.Equal(SocketError.AddressAlreadyInUse, Assert.IsType<SocketException>(refused.InnerException).SocketErrorCode);
    }

    [Fact]
    public void A_claimed_port_cannot_be_claimed_again_before_its_node_listens_and_is_free_once_released()
    {
        var port = FreePort();
        var first = RemotingPort.Claim("127.0.0.1", port);

        Assert.Throws<IOException>(() => RemotingPort.Claim("127.0.0.1", port));
        // The node's own listener still binds: the claim is no listener.
        using (ListenLikeAkka(port)) { }

        first!.Dispose();
        RemotingPort.Claim("127.0.0.1", port)!.Dispose();
    }

    [Fact]
    public void Any_free_port_needs_no_claim() => Assert.Null(RemotingPort.Claim("127.0.0.1", 0));
}
