using System.Diagnostics;

namespace Replug.Coordinator.Tests.Support;

/// <summary>A program the tests run to its end (dotnet publish, systemd-analyze, openssl, the operators' scripts): its exit code and output.</summary>
public static class ExternalProgram
{
    /// <summary>Runs <paramref name="program"/> with <paramref name="args"/>; stdout then stderr, trimmed. Cancelled after <paramref name="timeout"/> (1 minute).</summary>
    public static async Task<(int Exit, string Output)> RunAsync(string program, IEnumerable<string> args, string? workingDirectory = null,
        TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        if (workingDirectory is not null) start.WorkingDirectory = workingDirectory;
        foreach (var arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        process.StandardInput.Close(); // openssl s_client waits for input otherwise
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(1));
        await process.WaitForExitAsync(cancel.Token);
        return (process.ExitCode, (await stdout + await stderr).Trim());
    }
}
