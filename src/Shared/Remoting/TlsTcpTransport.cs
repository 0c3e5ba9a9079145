using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using Akka.Remote;
using Akka.Remote.Transport;
using Replug.Shared.Hosting;

namespace Replug.Shared.Remoting;

/// <summary>
/// Akka.Remote's transport with mutual TLS, in place of its DotNetty TLS transport.
/// <para>
/// Why our own: Akka.Remote 1.5's DotNetty transport runs a coordinated shutdown of the whole node
/// whenever a TLS handshake it started fails, whatever the cause, and there is no setting to stop it.
/// A peer killed mid-handshake, or a network cut during one, then restarts every node that was
/// connecting to it: coordinators restarted during a partition in our harness. Here a failed handshake
/// is what it is, a connection that failed. Akka gates the address and tries again, as after a refused
/// connection, and the failure is logged with its reason (a refused certificate names the peer and why).
/// </para>
/// <para>
/// On the wire it is DotNetty's transport: TLS, then frames with a four-byte little-endian length,
/// under the same scheme (<c>akka.ssl.tcp</c>), so seed addresses and the protocol are unchanged.
/// </para>
/// </summary>
public sealed class TlsTcpTransport : Transport
{
    public const string Scheme = "ssl.tcp";
    public const string ConfigPath = "akka.remote.replug-tls";

    private readonly TlsTransportSettings _settings;
    private readonly ClusterTlsSetup _tls;
    private readonly ILoggingAdapter _log;
    private readonly TaskCompletionSource<IAssociationEventListener> _associations = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentDictionary<TlsAssociationHandle, byte> _open = new();
    private readonly CancellationTokenSource _stopping = new();
    private int _handshakesInProgress;
    private Socket? _listener;
    private Address? _localAddress;

    public TlsTcpTransport(ActorSystem system, Config config)
    {
        System = system;
        Config = config;
        _settings = TlsTransportSettings.From(config);
        var setup = system.Settings.Setup.Get<ClusterTlsSetup>();
        _tls = setup.HasValue ? setup.Value
            : throw new ConfigurationException($"{nameof(TlsTcpTransport)} needs a {nameof(ClusterTlsSetup)} in the actor system's setup (Replug:Cluster:Tls)");
        SchemeIdentifier = Scheme;
        MaximumPayloadBytes = _settings.MaximumFrameSize;
        _log = Logging.GetLogger(system, GetType());
    }

    /// <summary>The HOCON that makes this transport the node's only one.</summary>
    public static string Hocon(string hostname, int port, string? publicHostname) => $$"""
        akka.remote {
          enabled-transports = ["{{ConfigPath}}"]
          replug-tls {
            transport-class = "{{typeof(TlsTcpTransport).AssemblyQualifiedName}}"
            applied-adapters = []
            hostname = "{{hostname}}"
            port = {{port}}
            public-hostname = "{{publicHostname ?? ""}}"
          }
        }
        """;

    public override bool IsResponsibleFor(Address remote) => true;

    public override async Task<(Address, TaskCompletionSource<IAssociationEventListener>)> Listen()
    {
        var address = await ResolveAsync(_settings.Hostname, _stopping.Token);
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            RemotingPort.ReuseAddressOnly(socket);
            socket.Bind(new IPEndPoint(address, _settings.Port));
            socket.Listen(_settings.Backlog);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new RemoteTransportException($"Failed to bind to [{address}:{_settings.Port}]. See InnerException for details.", e);
        }
        _listener = socket;
        var bound = (IPEndPoint)socket.LocalEndPoint!;
        var local = new Address(Scheme, System.Name, _settings.PublicHostname ?? _settings.Hostname, bound.Port);
        _localAddress = local;
        _ = AcceptAsync(socket);
        return (local, _associations);
    }

    public override async Task<AssociationHandle> Associate(Address remoteAddress)
    {
        if (_localAddress is null || _stopping.IsCancellationRequested)
            throw new InvalidAssociationException($"Cannot associate with {remoteAddress}: the transport is not listening");
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        deadline.CancelAfter(_settings.ConnectionTimeout);
        var remote = $"{remoteAddress.Host}:{remoteAddress.Port}";
        Socket? socket = null;
        SslStream? stream = null;
        try
        {
            var address = await ResolveAsync(remoteAddress.Host ?? "", deadline.Token);
            socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            Configure(socket);
            await socket.ConnectAsync(new IPEndPoint(address, remoteAddress.Port ?? 0), deadline.Token);
            stream = new SslStream(new NetworkStream(socket, ownsSocket: true));
            await stream.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = remoteAddress.Host,
                ClientCertificateContext = _tls.Context,
                RemoteCertificateValidationCallback = (_, certificate, _, _) => _tls.Refuse(certificate, remote, _log) is null,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            }, deadline.Token);
            return Open(stream, socket, remoteAddress);
        }
        catch (Exception e)
        {
            if (stream is not null) await stream.DisposeAsync();
            else socket?.Dispose();
            var why = e is OperationCanceledException && !_stopping.IsCancellationRequested
                ? $"no connection within {_settings.ConnectionTimeout.TotalSeconds:0.#} s"
                : e is AuthenticationException ? $"TLS handshake failed: {e.Message}" : e.Message;
            throw new InvalidAssociationException($"Failed to associate with {remoteAddress}: {why}", e);
        }
    }

    public override async Task<bool> Shutdown()
    {
        _stopping.Cancel();
        _listener?.Dispose();
        var handles = _open.Keys.ToList();
        foreach (var handle in handles) handle.BeginClose();
        await Task.WhenAll(handles.Select(h => h.Closed)).WaitAsync(_settings.FlushWait + TimeSpan.FromSeconds(1)).ContinueWith(_ => { });
        foreach (var handle in handles) handle.Abort();
        return true;
    }

    private async Task AcceptAsync(Socket listener)
    {
        IAssociationEventListener events;
        try
        {
            // Connections wait in the backlog until remoting is ready for them.
            events = await _associations.Task.WaitAsync(_stopping.Token);
        }
        catch (OperationCanceledException) { return; }
        while (!_stopping.IsCancellationRequested)
        {
            Socket accepted;
            try
            {
                accepted = await listener.AcceptAsync(_stopping.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException) { return; }
            catch (Exception e)
            {
                // Out of descriptors, most likely: the connection waits in the backlog; try again shortly.
                _log.Warning("Remoting could not accept a connection: {0}", e.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(100)).ConfigureAwait(false);
                continue;
            }
            _ = AcceptOneAsync(accepted, events);
        }
    }

    private async Task AcceptOneAsync(Socket socket, IAssociationEventListener events)
    {
        IPEndPoint? remoteEndPoint;
        try
        {
            remoteEndPoint = socket.RemoteEndPoint as IPEndPoint;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            socket.Dispose(); // gone before it was looked at
            return;
        }
        var remote = remoteEndPoint?.ToString() ?? "an unknown peer";
        if (Interlocked.Increment(ref _handshakesInProgress) > _settings.MaxHandshakesInProgress)
        {
            Interlocked.Decrement(ref _handshakesInProgress);
            _log.Warning("Refused a connection from {0}: {1} TLS handshakes are already in progress", remote, _settings.MaxHandshakesInProgress);
            socket.Dispose();
            return;
        }
        SslStream? stream = null;
        var refused = false;
        try
        {
            stream = new SslStream(new NetworkStream(socket, ownsSocket: true));
            Configure(socket);
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            deadline.CancelAfter(_settings.ConnectionTimeout);
            await stream.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificateContext = _tls.Context,
                ClientCertificateRequired = true,
                RemoteCertificateValidationCallback = (_, certificate, _, _) => !(refused = _tls.Refuse(certificate, remote, _log) is not null),
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            }, deadline.Token);
        }
        catch (Exception e)
        {
            // A refused certificate was logged by the check; anything else (a port scan, a peer gone mid-handshake) is said here.
            if (!refused && !_stopping.IsCancellationRequested)
                _log.Warning("Refused a connection from {0}: the TLS handshake failed: {1}", remote,
                    e is OperationCanceledException ? $"not done within {_settings.ConnectionTimeout.TotalSeconds:0.#} s" : e.Message);
            if (stream is not null) await stream.DisposeAsync();
            else socket.Dispose();
            return;
        }
        finally
        {
            Interlocked.Decrement(ref _handshakesInProgress);
        }
        // The peer's own address comes in Akka's handshake; until then it is known by its socket.
        var handle = Open(stream, socket, new Address(Scheme, System.Name, remoteEndPoint?.Address.ToString(), remoteEndPoint?.Port));
        events.Notify(new InboundAssociation(handle));
    }

    private TlsAssociationHandle Open(SslStream stream, Socket socket, Address remoteAddress)
    {
        var handle = new TlsAssociationHandle(_localAddress!, remoteAddress, stream, socket, _settings, _log);
        _open[handle] = 0;
        _ = handle.Closed.ContinueWith(_ => _open.TryRemove(handle, out byte _), TaskScheduler.Default);
        if (_stopping.IsCancellationRequested) handle.Abort();
        return handle;
    }

    private void Configure(Socket socket)
    {
        socket.NoDelay = true;
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        socket.SendBufferSize = _settings.SocketBufferBytes;
        socket.ReceiveBufferSize = _settings.SocketBufferBytes;
    }

    private static async Task<IPAddress> ResolveAsync(string host, CancellationToken cancel)
    {
        if (IPAddress.TryParse(host, out var literal)) return literal;
        var addresses = await Dns.GetHostAddressesAsync(host, cancel);
        // IPv4 first, as DotNetty does unless told otherwise.
        return addresses.OrderBy(a => a.AddressFamily == AddressFamily.InterNetwork ? 0 : 1).FirstOrDefault()
               ?? throw new SocketException((int)SocketError.HostNotFound);
    }
}

/// <summary>The transport's settings, under <see cref="TlsTcpTransport.ConfigPath"/>; defaults are DotNetty's.</summary>
public sealed record TlsTransportSettings(
    string Hostname,
    int Port,
    string? PublicHostname,
    int MaximumFrameSize,
    TimeSpan ConnectionTimeout,
    TimeSpan FlushWait,
    int Backlog,
    int SocketBufferBytes,
    long WriteQueueBytes,
    int MaxHandshakesInProgress)
{
    public static TlsTransportSettings From(Config config)
    {
        var hostname = config.GetString("hostname", null);
        var publicHostname = config.GetString("public-hostname", null);
        var settings = new TlsTransportSettings(
            Hostname: string.IsNullOrWhiteSpace(hostname) ? IPAddress.Any.ToString() : hostname,
            Port: config.GetInt("port", 2552),
            PublicHostname: string.IsNullOrWhiteSpace(publicHostname) ? null : publicHostname,
            MaximumFrameSize: (int)(config.GetByteSize("maximum-frame-size", null) ?? 128000),
            ConnectionTimeout: config.GetTimeSpan("connection-timeout", TimeSpan.FromSeconds(15)),
            FlushWait: config.GetTimeSpan("flush-wait-on-shutdown", TimeSpan.FromSeconds(2)),
            Backlog: config.GetInt("backlog", 4096),
            SocketBufferBytes: (int)(config.GetByteSize("socket-buffer-size", null) ?? 256000),
            // Past this, Write answers "not ready" and Akka's writer backs off: a peer that stopped reading cannot fill memory.
            WriteQueueBytes: config.GetByteSize("write-queue-size", null) ?? 16 * 1024 * 1024,
            MaxHandshakesInProgress: config.GetInt("max-handshakes-in-progress", 64));
        if (settings.Port is < 0 or > 65535) throw new ConfigurationException($"{TlsTcpTransport.ConfigPath}.port: {settings.Port} is not a TCP port");
        if (settings.MaximumFrameSize < 32000) throw new ConfigurationException($"{TlsTcpTransport.ConfigPath}.maximum-frame-size: at least 32000 bytes");
        return settings;
    }
}
