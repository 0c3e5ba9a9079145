using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Hosting.Systemd;

namespace Replug.Shared.Tests.Hosting;

/// <summary>
/// Stands in for systemd's notification socket: a Unix datagram socket bound in a fresh temp
/// folder, read back by the test. <see cref="Notifier"/> is the real SystemdNotifier pointed at it.
/// </summary>
public sealed class NotifySocket : IDisposable
{
    /// <summary>SystemdNotifier reads NOTIFY_SOCKET when it is made: tests that set it take turns.</summary>
    private static readonly Lock EnvironmentGate = new();

    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"replug-notify-{Guid.NewGuid():N}");
    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);

    public NotifySocket()
    {
        Directory.CreateDirectory(_folder);
        SocketPath = Path.Combine(_folder, "notify");
        _socket.Bind(new UnixDomainSocketEndPoint(SocketPath));
    }

    public string SocketPath { get; }

    /// <summary>Microsoft.Extensions.Hosting.Systemd's notifier, as systemd's NOTIFY_SOCKET=<see cref="SocketPath"/> would make it.</summary>
    public ISystemdNotifier Notifier()
    {
        lock (EnvironmentGate)
        {
            var before = Environment.GetEnvironmentVariable("NOTIFY_SOCKET");
            Environment.SetEnvironmentVariable("NOTIFY_SOCKET", SocketPath);
            try { return new SystemdNotifier(); }
            finally { Environment.SetEnvironmentVariable("NOTIFY_SOCKET", before); }
        }
    }

    /// <summary>The next notification, waiting for it up to <paramref name="within"/>.</summary>
    public async Task<string> NextAsync(TimeSpan within)
    {
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(within);
        var length = await _socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        return Encoding.UTF8.GetString(buffer, 0, length);
    }

    /// <summary>Every notification waiting now, without waiting for more.</summary>
    public IReadOnlyList<string> Pending()
    {
        var received = new List<string>();
        var buffer = new byte[4096];
        while (_socket.Available > 0) received.Add(Encoding.UTF8.GetString(buffer, 0, _socket.Receive(buffer)));
        return received;
    }

    public void Dispose()
    {
        _socket.Dispose();
        Directory.Delete(_folder, recursive: true);
    }
}
