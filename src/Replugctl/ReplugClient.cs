using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Replug.Ctl;

/// <summary>An answer of the API: its status and its body (JSON) as it came.</summary>
public sealed record ApiResponse(int Status, string Body)
{
    public bool Success => Status is >= 200 and < 300;
}

/// <summary>The API could not be reached or did not answer in time; the message names the URL.</summary>
public sealed class ApiUnreachableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The coordinator's HTTP API as replugctl uses it: requests with the bearer token when there is one,
/// answers as status and body (every status is an answer; only no answer at all is an exception).
/// </summary>
public sealed class ReplugClient : IDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(15);

    private readonly HttpClient _http;
    private readonly TimeSpan _timeout;

    public ReplugClient(Connection connection, TimeSpan? timeout = null, HttpMessageHandler? handler = null)
    {
        Connection = connection;
        _timeout = timeout ?? DefaultTimeout;
        // The request's own timeout is the one that counts; a stream (--follow) has none.
        _http = new HttpClient(handler ?? new SocketsHttpHandler { ConnectTimeout = _timeout }) { BaseAddress = connection.BaseUrl, Timeout = Timeout.InfiniteTimeSpan };
        if (connection.Token is { } token) _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    public Connection Connection { get; }

    public Task<ApiResponse> Get(string path, CancellationToken ct) => Send(HttpMethod.Get, path, null, ct);
    public Task<ApiResponse> Post(string path, string? json, CancellationToken ct) => Send(HttpMethod.Post, path, json, ct);
    public Task<ApiResponse> Put(string path, string json, CancellationToken ct) => Send(HttpMethod.Put, path, json, ct);
    public Task<ApiResponse> Delete(string path, CancellationToken ct) => Send(HttpMethod.Delete, path, null, ct);

    /// <summary>One request and its whole answer, within the timeout.</summary>
    public async Task<ApiResponse> Send(HttpMethod method, string path, string? json, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_timeout);
        using var request = new HttpRequestMessage(method, Relative(path));
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        try
        {
            using var response = await _http.SendAsync(request, timeout.Token);
            return new ApiResponse((int)response.StatusCode, await response.Content.ReadAsStringAsync(timeout.Token));
        }
        catch (Exception e) when (Unreachable(e, ct) is { } problem)
        {
            throw problem;
        }
    }

    /// <summary>
    /// Opens <c>GET /events/stream</c> (after <paramref name="lastEventId"/> when given): the open
    /// stream on success, or the API's refusal. Waits for the answer's headers within the timeout;
    /// the events then come for as long as the stream stays open.
    /// </summary>
    public async Task<(Stream? Stream, ApiResponse? Refusal)> OpenEventStream(long? lastEventId, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, Relative("/events/stream"));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (lastEventId is { } id) request.Headers.Add("Last-Event-ID", id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_timeout);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        }
        catch (Exception e) when (Unreachable(e, ct) is { } problem)
        {
            throw problem;
        }
        if (response.StatusCode != HttpStatusCode.OK)
        {
            using (response) return (null, new ApiResponse((int)response.StatusCode, await response.Content.ReadAsStringAsync(ct)));
        }
        return (new OwningStream(await response.Content.ReadAsStreamAsync(ct), response), null);
    }

    /// <summary>The path under the base URL (which may have a path of its own, behind a proxy).</summary>
    private Uri Relative(string path) => new(path.TrimStart('/'), UriKind.Relative);

    private ApiUnreachableException? Unreachable(Exception e, CancellationToken caller) => e switch
    {
        OperationCanceledException when caller.IsCancellationRequested => null, // Ctrl-C: not the API's fault
        OperationCanceledException => new ApiUnreachableException($"{Connection.BaseUrl} did not answer within {_timeout.TotalSeconds:0} s", e),
        HttpRequestException h => new ApiUnreachableException($"cannot reach {Connection.BaseUrl}: {h.Message}", e),
        IOException => new ApiUnreachableException($"the connection to {Connection.BaseUrl} broke: {e.Message}", e),
        _ => null,
    };

    public void Dispose() => _http.Dispose();

    /// <summary>The event stream's body, disposing of its response with it.</summary>
    private sealed class OwningStream(Stream inner, HttpResponseMessage response) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => inner.ReadAsync(buffer, ct);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => inner.ReadAsync(buffer, offset, count, ct);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
                response.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
