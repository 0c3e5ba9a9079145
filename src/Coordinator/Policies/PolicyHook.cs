using System.Diagnostics;
using Akka.Event;
using Replug.Coordinator.Api;

namespace Replug.Coordinator.Policies;

/// <summary>
/// The orchestrator's hook: a command run once per journaled recommendation (a host to put in
/// standby or wake, a port whose workload should move), with the verdict in its environment
/// (REPLUG_POLICY, REPLUG_MODE, REPLUG_ACTION, REPLUG_HOST, REPLUG_PORT, REPLUG_SUMMARY,
/// REPLUG_REASON) and as JSON on its standard input. Its failure is logged, never the
/// coordinator's: the recommendation stays in <c>GET /decisions</c>.
/// </summary>
public sealed class PolicyHook(string command, ILoggingAdapter log)
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private long _failures;

    public long Failures => Interlocked.Read(ref _failures);

    public void Run(PolicyDecision decision, PolicyMode mode) => _ = Task.Run(() => RunAsync(decision, mode));

    private async Task RunAsync(PolicyDecision decision, PolicyMode mode)
    {
        var (host, port) = decision.Action switch
        {
            PolicyAction.SwitchActive s => (s.Host.Value, s.Port.Value),
            PolicyAction.MovePort m => (m.From.Value, m.Port.Value),
            PolicyAction.UnplugNic u => (u.Host.Value, ""),
            PolicyAction.PlugNic p => (p.Host.Value, ""),
            PolicyAction.StandbyHost s => (s.Host.Value, ""),
            PolicyAction.WakeHost w => (w.Host.Value, ""),
            _ => ("", ""),
        };
        var start = new ProcessStartInfo(command)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            Environment =
            {
                ["REPLUG_POLICY"] = decision.Policy,
                ["REPLUG_MODE"] = mode.ToString().ToLowerInvariant(),
                ["REPLUG_ACTION"] = System.Text.Json.JsonSerializer.SerializeToNode(decision.Action, CoordinatorApi.Json)?["kind"]?.GetValue<string>() ?? "",
                ["REPLUG_HOST"] = host,
                ["REPLUG_PORT"] = port,
                ["REPLUG_SUMMARY"] = decision.Action.Describe(),
                ["REPLUG_REASON"] = decision.Reason,
            },
        };
        try
        {
            using var process = Process.Start(start) ?? throw new InvalidOperationException("no process started");
            await process.StandardInput.WriteAsync(System.Text.Json.JsonSerializer.Serialize(decision, CoordinatorApi.Json));
            process.StandardInput.Close();
            var stderr = process.StandardError.ReadToEndAsync();
            _ = process.StandardOutput.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(Timeout);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"no exit within {Timeout.TotalSeconds:0} s (killed)");
            }
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"exit code {process.ExitCode}: {(await stderr).Trim()}");
            log.Info("Policy hook {0}: {1} ({2}) handed to the orchestrator", command, decision.Action.Describe(), mode.ToString().ToLowerInvariant());
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Interlocked.Increment(ref _failures);
            log.Warning("Policy hook {0} failed for {1}: {2} (the recommendation stays in GET /decisions)", command, decision.Action.Describe(), ex.Message);
        }
    }
}
