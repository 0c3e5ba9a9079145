using System.Net;
using System.Net.Sockets;

namespace Replug.Shared.Hosting;

/// <summary>
/// Makes this node's remoting port its own before Akka binds it.
/// <para>
/// Akka's DotNetty transport sets SO_REUSEADDR on its listening socket
/// (<c>akka.remote.dot-netty.tcp.tcp-reuse-addr = off-for-windows</c>), and .NET on Linux turns
/// <see cref="SocketOptionName.ReuseAddress"/> into SO_REUSEADDR <em>and</em> SO_REUSEPORT. So a
/// second process of the same user binds the same port, the kernel shares the incoming connections
/// between the two, and both claim one address. Turning the option off is no cure: ip(7) keeps an
/// address unavailable for a while after its connections close unless SO_REUSEADDR is set, which
/// would stop a restarted node from binding.
/// </para>
/// <para>
/// So, first, a lock for the process's lifetime: an abstract Unix socket named after the port. Its
/// names live in the network namespace, as TCP ports do, and the kernel releases it when the
/// process ends, however it ends. A second Replug on the port stops here, even when both start at
/// the same moment. Then a probe for anything else on the port: a listening socket with
/// SO_REUSEADDR alone, closed at once, binds past connections closing down but not past a
/// listener, whatever that listener's options.
/// </para>
/// </summary>
public static class RemotingPort
{
    // setsockopt(SOL_SOCKET, SO_REUSEADDR) by number: SocketOptionName.ReuseAddress would add SO_REUSEPORT.
    private const int SolSocket = 1;
    private const int SoReuseAddr = 2;

    /// <summary>
    /// Takes the port for this process: the lock (returned: hold it until the process ends, Akka
    /// unbinds the port only after the host has stopped) and the probe. Port 0 needs neither: the
    /// kernel gives a port nobody holds.
    /// </summary>
    /// <exception cref="IOException">The port is taken: "Failed to bind to [host:port]", a <see cref="SocketException"/> (address in use) inside.</exception>
    public static IDisposable? Claim(string hostname, int port)
    {
        if (port == 0) return null;
        var held = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            held.Bind(new UnixDomainSocketEndPoint($"\0replug/remoting-port/{port}"));
            foreach (var address in AddressesOf(hostname)) Probe(address, port);
            return held;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            held.Dispose();
            throw new IOException($"Failed to bind to [{hostname}:{port}]", e);
        }
        catch
        {
            held.Dispose();
            throw;
        }
    }

    private static void Probe(IPAddress address, int port)
    {
        using var probe = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            ReuseAddressOnly(probe);
            probe.Bind(new IPEndPoint(address, port));
            probe.Listen(1);
        }
        // An address this machine does not have, a family it does not run: Akka's own bind names that.
        catch (SocketException e) when (e.SocketErrorCode != SocketError.AddressAlreadyInUse) { }
    }

    /// <summary>SO_REUSEADDR without SO_REUSEPORT: a restarted node binds past its old connections closing down, never beside a live listener.</summary>
    internal static void ReuseAddressOnly(Socket socket) => socket.SetRawSocketOption(SolSocket, SoReuseAddr, BitConverter.GetBytes(1));

    /// <summary>The addresses Akka may bind for <paramref name="hostname"/>; none when it does not resolve (Akka then names that itself).</summary>
    private static IEnumerable<IPAddress> AddressesOf(string hostname)
    {
        if (IPAddress.TryParse(hostname, out var literal)) return [literal];
        try { return Dns.GetHostAddresses(hostname); }
        catch (SocketException) { return []; }
    }
}
