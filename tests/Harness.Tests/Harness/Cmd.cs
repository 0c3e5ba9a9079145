using System.Diagnostics;

namespace Replug.Harness;

/// <summary>Runs the tools that build and break the topology (ip, bridge, nft), with a bound and the failure's output.</summary>
public static class Cmd
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public bool Ok => ExitCode == 0;
    }

    public static async Task<Result> TryAsync(string file, IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await p.StandardInput.WriteAsync(stdin);
            p.StandardInput.Close();
        }
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            return new Result(-1, "", $"{file} {string.Join(' ', args)}: timed out");
        }
        return new Result(p.ExitCode, await stdout, await stderr);
    }

    public static async Task<string> RunAsync(string file, IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null)
    {
        var list = args.ToList();
        var result = await TryAsync(file, list, stdin, timeout);
        if (!result.Ok)
            throw new InvalidOperationException($"{file} {string.Join(' ', list)} failed ({result.ExitCode}): {result.Stderr.Trim()} {result.Stdout.Trim()}".Trim());
        return result.Stdout;
    }

    /// <summary>`ip ARGS` (split on spaces: the harness's names hold none).</summary>
    public static Task<string> Ip(string args) => RunAsync("ip", args.Split(' ', StringSplitOptions.RemoveEmptyEntries));

    public static Task<Result> TryIp(string args) => TryAsync("ip", args.Split(' ', StringSplitOptions.RemoveEmptyEntries));

    /// <summary>Many `ip` commands in namespace <paramref name="ns"/>, one process (`ip -n NS -batch -`), each line without the leading "ip".</summary>
    public static Task<string> IpBatch(string ns, IEnumerable<string> lines) =>
        RunAsync("ip", ["-n", ns, "-batch", "-"], string.Join('\n', lines) + "\n");

    /// <summary>Many `bridge` commands in namespace <paramref name="ns"/>, one process.</summary>
    public static Task<string> BridgeBatch(string ns, IEnumerable<string> lines) =>
        RunAsync("bridge", ["-n", ns, "-batch", "-"], string.Join('\n', lines) + "\n");

    /// <summary>An nft script, run in network namespace <paramref name="ns"/>.</summary>
    public static Task<string> Nft(string ns, string script) =>
        RunAsync("ip", ["netns", "exec", ns, "nft", "-f", "-"], script);

    public static Task<Result> TryNft(string ns, string script) =>
        TryAsync("ip", ["netns", "exec", ns, "nft", "-f", "-"], script);
}
