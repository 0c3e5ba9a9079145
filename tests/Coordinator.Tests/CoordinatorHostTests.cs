using System.Diagnostics;

namespace Replug.Coordinator.Tests;

public sealed class CoordinatorHostTests
{
    [Fact]
    public async Task The_coordinator_host_starts_and_stops_cleanly_on_SIGTERM()
    {
        if (!OperatingSystem.IsLinux()) return; // SIGTERM via kill(1)
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "replug-coordinator.dll"));
        using var host = Process.Start(psi)!;
        var started = new TaskCompletionSource();
        host.OutputDataReceived += (_, e) => { if (e.Data?.Contains("Application started") == true) started.TrySetResult(); };
        host.BeginOutputReadLine();
        var stderr = host.StandardError.ReadToEndAsync();

        await started.Task.WaitAsync(TimeSpan.FromSeconds(60));
        using (var kill = Process.Start("kill", $"-TERM {host.Id}")) await kill.WaitForExitAsync();
        Assert.True(host.WaitForExit(30_000), "the coordinator did not stop on SIGTERM");
        Assert.Equal(0, host.ExitCode);
        Assert.DoesNotContain("Exception", await stderr);
    }
}
