using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Replug.Shared.Devices;

namespace Replug.Agent.Ports;

/// <summary>
/// A data path carried out by an operator's program (an OVS, SR-IOV or vendor tool wrapper).
/// <para>
/// A command is an argument list, the first being the program, run directly (no shell, so
/// nothing in a device or port name is ever interpreted). In every argument these tokens
/// are replaced, anywhere they occur ("--port={port}" works):
/// <list type="table">
/// <item><term>{action}</term><description>"switch" or "deactivate"</description></item>
/// <item><term>{port}</term><description>the logical port</description></item>
/// <item><term>{previous}</term><description>switch: the device taken out of the path, "-" when none; deactivate: the device</description></item>
/// <item><term>{next}</term><description>switch: the device put in the path; deactivate: "-"</description></item>
/// <item><term>{device}</term><description>switch: the next device; deactivate: the device taken out</description></item>
/// </list>
/// Devices are given by kernel name ("eth1", "0000:03:10.0"). Without a deactivate command,
/// deactivating runs the switch command from the device to nothing ("-"), so one script
/// written as <c>switch-port PORT FROM TO</c> handles both.
/// </para>
/// <para>
/// The program must finish within the timeout (default 5 s), or it and every process it
/// started are killed and the result is "timed out". A non-zero exit is a failure carrying
/// the exit code and the first line of its standard error. Standard input is closed and
/// standard output discarded.
/// </para>
/// </summary>
public sealed class CommandDataPath : IDataPath
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);

    /// <summary>What stands for "no device" in {previous} and {next}.</summary>
    public const string NoDevice = "-";

    private static readonly string[] Tokens = ["{action}", "{port}", "{previous}", "{next}", "{device}"];

    /// <summary>How long to wait for the standard error of a finished program (a daemonised grandchild may keep it open).</summary>
    private static readonly TimeSpan StderrGrace = TimeSpan.FromMilliseconds(500);

    private readonly string[] _switchCommand;
    private readonly string[]? _deactivateCommand;

    /// <summary>Commands given as argument lists (use this when an argument contains spaces).</summary>
    public CommandDataPath(IReadOnlyList<string> switchCommand, IReadOnlyList<string>? deactivateCommand = null, TimeSpan? timeout = null)
    {
        _switchCommand = Validate(switchCommand, nameof(switchCommand));
        _deactivateCommand = deactivateCommand is null ? null : Validate(deactivateCommand, nameof(deactivateCommand));
        Timeout = timeout ?? DefaultTimeout;
        if (Timeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(timeout), Timeout, "the timeout must be positive");
    }

    /// <summary>Commands given as one line each, split on whitespace (no quoting).</summary>
    public CommandDataPath(string switchCommand, string? deactivateCommand = null, TimeSpan? timeout = null)
        : this(Split(switchCommand), deactivateCommand is null ? null : Split(deactivateCommand), timeout)
    {
    }

    public string Kind => "command";

    public TimeSpan Timeout { get; }

    public Task<DataPathResult> SwitchAsync(PortId port, DeviceId? previous, DeviceId next, CancellationToken cancellationToken) =>
        RunAsync(_switchCommand, "switch", port, previous?.Name ?? NoDevice, next.Name, next.Name, cancellationToken);

    public Task<DataPathResult> DeactivateAsync(PortId port, DeviceId device, CancellationToken cancellationToken) =>
        RunAsync(_deactivateCommand ?? _switchCommand, "deactivate", port, device.Name, NoDevice, device.Name, cancellationToken);

    private async Task<DataPathResult> RunAsync(string[] command, string action, PortId port, string previous, string next,
        string device, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        // Values become single arguments, but a program still reads "-x" as an option: refuse
        // them rather than trust every script to stop option parsing with "--".
        foreach (var (what, value) in new[] { ("port", port.Value), ("device", previous), ("device", next) })
        {
            if (value == NoDevice) continue;
            if (string.IsNullOrEmpty(value) || value.StartsWith('-') || value.Any(char.IsControl))
                return DataPathResult.Fail($"refusing {what} '{value}' as a command argument (empty, starts with '-', or has control characters)");
        }

        var start = new ProcessStartInfo(command[0])
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        for (var i = 1; i < command.Length; i++)
            start.ArgumentList.Add(Substitute(command[i], action, port.Value, previous, next, device));

        using var process = new Process { StartInfo = start };
        try { process.Start(); }
        catch (Exception e) when (e is Win32Exception or InvalidOperationException)
        {
            return DataPathResult.Fail($"cannot start '{command[0]}': {e.Message}");
        }

        process.StandardInput.Close();
        var stdout = process.StandardOutput.BaseStream.CopyToAsync(Stream.Null, CancellationToken.None);
        var stderr = FirstLineAsync(process.StandardError);

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(Timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await KillAsync(process).ConfigureAwait(false);
            await Observe(stdout, stderr).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested(); // the caller gave up: not a verdict on the command
            return DataPathResult.Fail($"'{command[0]}' timed out after {Format(Timeout)} and was killed");
        }

        var exitCode = process.ExitCode;
        var firstLine = await WithinGrace(stderr).ConfigureAwait(false);
        await Observe(stdout).ConfigureAwait(false);
        if (exitCode == 0) return DataPathResult.Ok;
        return DataPathResult.Fail(string.IsNullOrEmpty(firstLine)
            ? $"'{command[0]}' exited with code {exitCode}"
            : $"'{command[0]}' exited with code {exitCode}: {firstLine}");
    }

    private static string Substitute(string argument, string action, string port, string previous, string next, string device)
    {
        if (!argument.Contains('{')) return argument;
        return new StringBuilder(argument)
            .Replace("{action}", action)
            .Replace("{port}", port)
            .Replace("{previous}", previous)
            .Replace("{next}", next)
            .Replace("{device}", device)
            .ToString();
    }

    /// <summary>SIGKILL to the program and all its descendants, then wait (bounded) for it to be reaped.</summary>
    private static async Task KillAsync(Process process)
    {
        try { process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { return; } // exited meanwhile
        catch (Exception e) when (e is Win32Exception or AggregateException) { } // a descendant that is already gone
        using var reaped = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try { await process.WaitForExitAsync(reaped.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) { }
    }

    /// <summary>The first non-empty line of standard error; the rest is read and dropped so the program never blocks on a full pipe.</summary>
    private static async Task<string?> FirstLineAsync(StreamReader stderr)
    {
        string? first = null;
        try
        {
            while (await stderr.ReadLineAsync().ConfigureAwait(false) is { } line)
                if (first is null && line.Trim() is { Length: > 0 } trimmed)
                    first = trimmed.Length > 500 ? trimmed[..500] + "…" : trimmed;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException) { }
        return first;
    }

    private static async Task<string?> WithinGrace(Task<string?> stderr)
    {
        var finished = await Task.WhenAny(stderr, Task.Delay(StderrGrace)).ConfigureAwait(false);
        return finished == stderr ? await stderr.ConfigureAwait(false) : null;
    }

    /// <summary>Waits briefly for the pipe readers so none is left faulted and unobserved.</summary>
    private static async Task Observe(params Task[] readers)
    {
        try { await Task.WhenAny(Task.WhenAll(readers), Task.Delay(StderrGrace)).ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or ObjectDisposedException) { }
        foreach (var reader in readers) _ = reader.ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
    }

    private static string[] Validate(IReadOnlyList<string> command, string parameter)
    {
        ArgumentNullException.ThrowIfNull(command, parameter);
        if (command.Count == 0 || string.IsNullOrWhiteSpace(command[0]))
            throw new ArgumentException("a command needs at least the program to run", parameter);
        foreach (var argument in command)
        {
            var open = argument.IndexOf('{');
            while (open >= 0)
            {
                var close = argument.IndexOf('}', open);
                if (close < 0) break;
                var token = argument[open..(close + 1)];
                if (!Tokens.Contains(token))
                    throw new ArgumentException(
                        $"unknown token '{token}' in command argument '{argument}'; known: {string.Join(", ", Tokens)}", parameter);
                open = argument.IndexOf('{', close);
            }
        }
        return [.. command];
    }

    private static string[] Split(string command)
    {
        ArgumentNullException.ThrowIfNull(command);
        return command.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
    }

    private static string Format(TimeSpan span) =>
        span.TotalSeconds >= 1
            ? span.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s"
            : span.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture) + " ms";
}
