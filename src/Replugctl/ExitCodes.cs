namespace Replug.Ctl;

/// <summary>replugctl's exit codes: what a script may rely on (also in <c>replugctl --help</c> and the README).</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>The API refused the request (4xx other than 401/403): its JSON reason is on stderr.</summary>
    public const int Refused = 1;
    /// <summary>Bad usage: an unknown command or option, a missing argument, a token file that cannot be read.</summary>
    public const int Usage = 2;
    /// <summary>The coordinator's API could not be reached, or did not answer in time.</summary>
    public const int Unreachable = 3;
    /// <summary>No token, a wrong one (401), or one without the scope the request needs (403).</summary>
    public const int Unauthorized = 4;
    /// <summary>The API answered with a server error (5xx), e.g. 503 while no coordinator answers.</summary>
    public const int ServerError = 5;

    /// <summary>A command stopped by Ctrl-C before its answer came (as shells report SIGINT); a --follow stopped so is <see cref="Ok"/>.</summary>
    public const int Interrupted = 130;

    /// <summary>The text <c>replugctl --help</c> ends with.</summary>
    public const string Help = """
        Exit codes: 0 ok; 1 the API refused the request (4xx, its reason on stderr); 2 bad usage;
        3 the API is unreachable or did not answer in time; 4 unauthorized (401/403: no or a wrong
        token, or a read-only token for a change); 5 server error (5xx); 130 interrupted (Ctrl-C)
        before the answer came (--follow stopped by Ctrl-C is 0).
        """;

    /// <summary>The exit code for an HTTP answer's status.</summary>
    public static int ForStatus(int status) => status switch
    {
        >= 200 and < 300 => Ok,
        401 or 403 => Unauthorized,
        >= 500 => ServerError,
        _ => Refused,
    };
}
