using System.Text.Json;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Replug.Ctl.Tests;

/// <summary>The server-sent events reader, as the event-stream format defines it.</summary>
public sealed class ServerSentEventsTests
{
    private static async Task<List<ServerSentEvent>> Read(string text)
    {
        var events = new List<ServerSentEvent>();
        await foreach (var e in ServerSentEvents.Read(new StringReader(text))) events.Add(e);
        return events;
    }

    [Fact]
    public async Task Events_are_read_with_their_type_id_and_data_and_comments_are_skipped()
    {
        var events = await Read("retry: 1000\n\n: keep-alive\n\nevent: HostDrainChanged\nid: 12\ndata: {\"sequence\":12}\n\nevent: gap\ndata: {}\n\n");

        Assert.Equal([new ServerSentEvent("HostDrainChanged", 12, "{\"sequence\":12}"), new ServerSentEvent("gap", null, "{}")], events);
    }

    [Fact]
    public async Task Several_data_lines_are_joined_by_newlines_and_an_unnamed_event_is_a_message()
    {
        var events = await Read("data:first\ndata: second\n\n");

        Assert.Equal(new ServerSentEvent("message", null, "first\nsecond"), Assert.Single(events));
    }

    [Fact]
    public async Task An_event_cut_off_before_its_blank_line_is_not_read()
    {
        Assert.Empty(await Read("event: HostDrainChanged\nid: 3\ndata: {"));
    }
}

/// <summary>Where replugctl finds the API and its token.</summary>
public sealed class ConnectionTests : IDisposable
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("replugctl-connection-");

    private static Func<string, string?> Environment(params (string Name, string Value)[] variables) =>
        name => variables.FirstOrDefault(v => v.Name == name).Value;

    private string File(string relative, string content)
    {
        var path = Path.Combine(_folder.FullName, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        System.IO.File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public void Without_anything_it_is_the_default_URL_and_no_token()
    {
        var (connection, error) = Connection.Resolve(null, null, Environment(), _folder.FullName);

        Assert.Null(error);
        Assert.Equal(new Connection(new Uri("http://127.0.0.1:8080/"), null), connection);
    }

    [Fact]
    public void The_flag_wins_over_the_environment_and_a_base_path_is_kept()
    {
        var (connection, _) = Connection.Resolve("http://10.0.0.1:8080/replug", null, Environment(("REPLUG_URL", "http://other:1")), _folder.FullName);

        Assert.Equal(new Uri("http://10.0.0.1:8080/replug/"), connection!.BaseUrl);
    }

    [Fact]
    public void The_token_comes_from_the_token_file_flag_then_REPLUG_TOKEN_then_REPLUG_TOKEN_FILE_then_data_api_token()
    {
        var flag = File("flag-token", "from-flag\n");
        var named = File("named-token", "from-variable-file");
        File("data/api-token", "generated\n");

        Assert.Equal("from-flag", Connection.Resolve(null, flag, Environment(("REPLUG_TOKEN", "x")), _folder.FullName).Connection!.Token);
        Assert.Equal("from-env", Connection.Resolve(null, null, Environment(("REPLUG_TOKEN", "from-env"), ("REPLUG_TOKEN_FILE", named)), _folder.FullName).Connection!.Token);
        Assert.Equal("from-variable-file", Connection.Resolve(null, null, Environment(("REPLUG_TOKEN_FILE", named)), _folder.FullName).Connection!.Token);
        Assert.Equal("generated", Connection.Resolve(null, null, Environment(), _folder.FullName).Connection!.Token);
    }

    [Fact]
    public void A_named_token_file_that_is_missing_or_empty_is_an_error_naming_it()
    {
        var empty = File("empty", "\n");

        var (missing, missingError) = Connection.Resolve(null, "/nonexistent/token", Environment(), _folder.FullName);
        var (blank, blankError) = Connection.Resolve(null, null, Environment(("REPLUG_TOKEN_FILE", empty)), _folder.FullName);

        Assert.Null(missing);
        Assert.StartsWith("--token-file: cannot read /nonexistent/token", missingError);
        Assert.Null(blank);
        Assert.Equal($"REPLUG_TOKEN_FILE: {empty} is empty", blankError);
    }

    [Theory]
    [InlineData("localhost:8080")]
    [InlineData("ftp://example")]
    [InlineData("not a url")]
    public void A_URL_that_is_not_http_is_an_error(string url)
    {
        var (connection, error) = Connection.Resolve(url, null, Environment(), _folder.FullName);

        Assert.Null(connection);
        Assert.Contains(url, error);
    }

    public void Dispose() => _folder.Delete(recursive: true);
}

/// <summary>Exit codes and how answers are shown.</summary>
public sealed class ExitCodesAndViewsTests
{
    [Theory]
    [InlineData(200, ExitCodes.Ok)]
    [InlineData(202, ExitCodes.Ok)]
    [InlineData(400, ExitCodes.Refused)]
    [InlineData(404, ExitCodes.Refused)]
    [InlineData(409, ExitCodes.Refused)]
    [InlineData(401, ExitCodes.Unauthorized)]
    [InlineData(403, ExitCodes.Unauthorized)]
    [InlineData(500, ExitCodes.ServerError)]
    [InlineData(503, ExitCodes.ServerError)]
    public void Each_status_has_its_exit_code(int status, int code) => Assert.Equal(code, ExitCodes.ForStatus(status));

    [Theory]
    [InlineData("{\"error\": \"unknown host h\"}", "unknown host h")]
    [InlineData("<html>bad gateway</html>", "<html>bad gateway</html>")]
    [InlineData("", "(no reason given)")]
    public void A_refusal_s_reason_is_its_error_or_its_body(string body, string reason) => Assert.Equal(reason, Views.ErrorReason(body));

    [Fact]
    public void A_value_with_markup_characters_is_shown_as_typed()
    {
        var text = Render(Views.Events(JsonDocument.Parse("{\"events\": [{\"type\": \"X\", \"at\": \"2026-01-02T03:04:05Z\", \"summary\": \"reason=[red]boom[/]\"}]}").RootElement));

        Assert.Contains("reason=[red]boom[/]", text);
        Assert.Contains("2026-01-02 03:04:05Z", text);
    }

    [Fact]
    public void A_field_the_API_does_not_send_is_a_dash()
    {
        var text = Render(Views.Hosts(JsonDocument.Parse("{\"hosts\": [{\"host\": \"h1\"}]}").RootElement));

        Assert.Matches(@"│\s*h1\s*│\s*-\s*│", text);
    }

    [Fact]
    public void A_streamed_event_is_one_line()
    {
        var line = Views.EventLine(JsonDocument.Parse("{\"sequence\": 7, \"type\": \"HostDrainChanged\", \"at\": \"2026-01-02T03:04:05.123+00:00\", \"summary\": \"Host=h1\"}").RootElement);

        Assert.Equal("2026-01-02 03:04:05Z  #7  HostDrainChanged  Host=h1", line);
    }

    private static string Render(IRenderable table)
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 200;
        console.Write(table);
        return writer.ToString();
    }
}
