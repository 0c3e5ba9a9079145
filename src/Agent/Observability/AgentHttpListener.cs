using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Replug.Agent.Hosting;

namespace Replug.Agent.Observability;

/// <summary>
/// The agent's small HTTP listener (<see cref="AgentOptions.HttpUrls"/>): <c>GET</c> (and <c>HEAD</c>)
/// <c>/metrics</c>, <c>/health/live</c> and <c>/health/ready</c>, answered from the agent's own
/// services, over plain sockets. Not Kestrel: ASP.NET Core's assemblies and the code JIT'd for them
/// were about 10 MiB of an idle agent's RSS for three read-only URLs a scraper polls (bench `memory`,
/// README "Benchmarks"). One request per connection (<c>Connection: close</c>); a request's head is
/// bounded in size and time and at most <see cref="MaxConnections"/> are served at once, so a slow or
/// hostile client costs a socket, not the agent. Registered after the actors: it stops first.
/// </summary>
public sealed class AgentHttpListener(AgentOptions options, AgentEndpoints endpoints, ILogger<AgentHttpListener> logger,
    AgentMetrics? metrics = null) : IHostedService, IAsyncDisposable
{
    /// <summary>Connections served at once; one more is closed at once (a scraper needs one).</summary>
    public const int MaxConnections = 16;

    /// <summary>How long a client has to send its request's head (Kestrel's default too).</summary>
    public static readonly TimeSpan HeadTimeout = TimeSpan.FromSeconds(30);

    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Socket> _sockets = [];
    private readonly List<Task> _accepting = [];
    private int _serving;

    /// <summary>Where it listens once started (a port 0 in the URL: the port the kernel chose).</summary>
    public IReadOnlyList<IPEndPoint> Listening => [.. _sockets.Select(s => (IPEndPoint)s.LocalEndPoint!)];

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var bound = new List<string>();
        foreach (var url in ListenUrls.Split(options.HttpUrls))
        {
            var uri = new Uri(url); // checked by AgentOptions.Validate: http, an IP address or localhost, no path
            foreach (var address in Addresses(uri.Host))
            {
                var socket = Listen(new IPEndPoint(address, uri.Port), url, optional: uri.Host == "localhost" && address.AddressFamily == AddressFamily.InterNetworkV6);
                if (socket is null) continue;
                _sockets.Add(socket);
                bound.Add($"http://{socket.LocalEndPoint}");
            }
        }
        if (_sockets.Count == 0) return Task.CompletedTask;
        foreach (var socket in _sockets) _accepting.Add(AcceptAsync(socket, _stopping.Token));
        logger.LogInformation("Agent metrics and health listening on {Urls}", string.Join(", ", bound));
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        foreach (var socket in _sockets) socket.Dispose();
        await Task.WhenAll(_accepting).WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stopping.IsCancellationRequested) await StopAsync(CancellationToken.None);
        _stopping.Dispose();
    }

    /// <summary>localhost is both loopbacks (as Kestrel listens); an address, itself.</summary>
    private static IPAddress[] Addresses(string host) =>
        host == "localhost" ? [IPAddress.Loopback, IPAddress.IPv6Loopback] : [IPAddress.Parse(host.Trim('[', ']'))];

    /// <summary>
    /// A listening socket on <paramref name="endpoint"/>. An address in use throws as Kestrel did
    /// ("Failed to bind to address URL", the SocketException inside), which the host names with the
    /// setting that moves it; <paramref name="optional"/>: localhost's IPv6 half on a host without IPv6.
    /// </summary>
    private static Socket? Listen(IPEndPoint endpoint, string url, bool optional)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // SO_REUSEADDR alone (not .NET's ReuseAddress, which adds SO_REUSEPORT and would let a second
            // agent listen on the same port): a restarted agent binds although its last connections,
            // which it closed first, wait in TIME_WAIT.
            socket.SetRawSocketOption(SolSocket, SoReuseAddr, BitConverter.GetBytes(1));
            // [::] takes IPv4 too, as Kestrel listened; another IPv6 address only itself.
            if (endpoint.AddressFamily == AddressFamily.InterNetworkV6) socket.DualMode = endpoint.Address.Equals(IPAddress.IPv6Any);
            socket.Bind(endpoint);
            socket.Listen(MaxConnections);
            return socket;
        }
        catch (SocketException e) when (optional && e.SocketErrorCode is SocketError.AddressNotAvailable or SocketError.AddressFamilyNotSupported)
        {
            socket.Dispose();
            return null;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            var why = e.SocketErrorCode == SocketError.AddressAlreadyInUse ? "address already in use" : e.Message;
            throw new IOException($"Failed to bind to address {url}: {why}.", e);
        }
    }

    private const int SolSocket = 1, SoReuseAddr = 2;

    private async Task AcceptAsync(Socket listener, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(stopping);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException || stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                // A connection reset before it was accepted, or out of descriptors: the next accept may succeed.
                logger.LogWarning("Agent HTTP listener: accept failed: {Error}", e.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(100), stopping).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }
            if (Interlocked.Increment(ref _serving) > MaxConnections)
            {
                Interlocked.Decrement(ref _serving);
                metrics?.HttpRefused(HttpRefusal.Busy);
                client.Dispose();
                continue;
            }
            _ = ServeAsync(client, stopping);
        }
    }

    private async Task ServeAsync(Socket client, CancellationToken stopping)
    {
        try
        {
            using (client)
            {
                client.NoDelay = true;
                var response = await AnswerAsync(client, stopping);
                await client.SendAsync(response, SocketFlags.None, stopping);
                client.Shutdown(SocketShutdown.Send);
                await DrainAsync(client, stopping);
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            // The client went away, or the agent is stopping: nothing to answer.
        }
        catch (Exception e)
        {
            logger.LogError(e, "Agent HTTP listener: a request failed");
        }
        finally
        {
            Interlocked.Decrement(ref _serving);
        }
    }

    /// <summary>
    /// Reads what the client still sends until it closes (at most <see cref="DrainAtMost"/>, for a
    /// second): closing a socket with unread data resets the connection, and a client refused for a
    /// head too large would lose the answer that says why.
    /// </summary>
    private static async Task DrainAsync(Socket client, CancellationToken stopping)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(TimeSpan.FromSeconds(1));
        var buffer = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            for (var drained = 0; drained < DrainAtMost;)
            {
                var n = await client.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                if (n == 0) return;
                drained += n;
            }
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private const int DrainAtMost = 64 * 1024;

    /// <summary>Reads the request's head (bounded in size and time) and makes the whole response.</summary>
    private async Task<byte[]> AnswerAsync(Socket client, CancellationToken stopping)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(HttpRequestHead.MaxBytes);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            timeout.CancelAfter(HeadTimeout);
            var read = 0;
            HttpRequestHead.Parsed request;
            while (true)
            {
                int n;
                try
                {
                    n = await client.ReceiveAsync(buffer.AsMemory(read, HttpRequestHead.MaxBytes - read), SocketFlags.None, timeout.Token);
                }
                catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
                {
                    metrics?.HttpRefused(HttpRefusal.Timeout);
                    return HttpResponse.Text(408, $"the request's head did not arrive within {HeadTimeout.TotalSeconds:0} s");
                }
                if (n == 0) throw new IOException("the client closed the connection before its request was complete");
                read += n;
                request = HttpRequestHead.Parse(buffer.AsSpan(0, read));
                if (request.Outcome != HttpRequestHead.Outcome.Incomplete) break;
                if (read == HttpRequestHead.MaxBytes)
                {
                    metrics?.HttpRefused(HttpRefusal.TooLarge);
                    return HttpResponse.Text(431, $"the request's head is over {HttpRequestHead.MaxBytes} bytes");
                }
            }
            if (request.Outcome == HttpRequestHead.Outcome.Bad)
            {
                metrics?.HttpRefused(HttpRefusal.BadRequest);
                return HttpResponse.Text(400, request.Error!);
            }
            return await endpoints.AnswerAsync(request.Method!, request.Path!, stopping);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

/// <summary>Why the agent's listener refused a request before an endpoint saw it (the <c>reason</c> of <c>replug_agent_http_requests_refused</c>).</summary>
internal enum HttpRefusal { BadRequest, TooLarge, Timeout, Busy }

/// <summary>An HTTP/1.x request's head, parsed for what the agent's endpoints need: its method and path.</summary>
internal static class HttpRequestHead
{
    /// <summary>A request's head (request line and headers) at most; the agent's endpoints take no body.</summary>
    public const int MaxBytes = 8 * 1024;

    public enum Outcome { Incomplete, Complete, Bad }

    public sealed record Parsed(Outcome Outcome, string? Method = null, string? Path = null, string? Error = null);

    private static readonly Parsed Incomplete = new(Outcome.Incomplete);

    /// <summary>
    /// The method and path (without its query) once the head's blank line has arrived; a specific
    /// error for what HTTP/1.x does not allow (a body is never read: the connection closes after the answer).
    /// </summary>
    public static Parsed Parse(ReadOnlySpan<byte> received)
    {
        var end = received.IndexOf("\r\n\r\n"u8);
        var lineEnd = received.IndexOf("\r\n"u8);
        if (end < 0)
            // A request line that is already wrong need not wait for the rest.
            return lineEnd < 0 ? Incomplete : RequestLine(received[..lineEnd]) is { Outcome: Outcome.Bad } bad ? bad : Incomplete;
        return RequestLine(received[..lineEnd]);
    }

    private static Parsed RequestLine(ReadOnlySpan<byte> line)
    {
        foreach (var b in line)
            if (b < 0x20 || b >= 0x7f) return Bad("the request line has a control or non-ASCII byte");
        var text = Encoding.ASCII.GetString(line);
        var parts = text.Split(' ');
        if (parts.Length != 3 || parts.Any(p => p.Length == 0))
            return Bad("the request line is not 'METHOD PATH HTTP/1.1'");
        var (method, target, version) = (parts[0], parts[1], parts[2]);
        if (version is not ("HTTP/1.1" or "HTTP/1.0")) return Bad($"'{version}' is not HTTP/1.0 or HTTP/1.1");
        if (!method.All(char.IsAsciiLetterUpper)) return Bad($"'{method}' is not a method");
        if (target[0] != '/') return Bad("the path must start with '/'");
        var query = target.IndexOf('?');
        return new(Outcome.Complete, method, query < 0 ? target : target[..query]);
    }

    private static Parsed Bad(string error) => new(Outcome.Bad, Error: error);
}

/// <summary>A whole HTTP/1.1 response, head and body, closing the connection.</summary>
internal static class HttpResponse
{
    public const string JsonContentType = "application/json; charset=utf-8";
    public const string TextContentType = "text/plain; charset=utf-8";

    /// <param name="headOnly">A HEAD request: the head (with the body's length), no body.</param>
    public static byte[] Make(int status, string contentType, ReadOnlySpan<byte> body, bool headOnly = false, string? allow = null)
    {
        var head = Encoding.ASCII.GetBytes(
            $"HTTP/1.1 {status} {Reason(status)}\r\nContent-Type: {contentType}\r\nContent-Length: {body.Length}\r\n" +
            (allow is null ? "" : $"Allow: {allow}\r\n") + "Cache-Control: no-store\r\nConnection: close\r\n\r\n");
        var response = new byte[head.Length + (headOnly ? 0 : body.Length)];
        head.CopyTo(response, 0);
        if (!headOnly) body.CopyTo(response.AsSpan(head.Length));
        return response;
    }

    /// <summary>An error as one line of text.</summary>
    public static byte[] Text(int status, string message, string? allow = null) =>
        Make(status, TextContentType, Encoding.UTF8.GetBytes(message + "\n"), allow: allow);

    private static string Reason(int status) => status switch
    {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    };
}
