namespace Replug.Coordinator.Tests.Simulation;

/// <summary>The harness itself, with a decider that only registers hosts: what it sees must be what the agents do.</summary>
public sealed class SimulationHarnessTests
{
    private static readonly SimulationOptions Quiet = new() { Profile = FaultProfile.None, Decider = RegistrarDecider.Create };

    [Fact]
    public void Without_faults_every_port_comes_up_on_its_own_host()
    {
        var result = SimulationRunner.Run(1, Quiet);
        Assert.True(result.Passed, result.Describe());
    }

    [Fact]
    public void A_seed_replays_the_same_trace()
    {
        var options = Quiet with { Profile = FaultProfile.Default };
        var first = SimulationRunner.Run(7, options);
        var second = SimulationRunner.Run(7, options);
        Assert.Equal(first.Trace.Count, second.Trace.Count);
        for (var i = 0; i < first.Trace.Count; i++) Assert.Equal(first.Trace[i].ToString(), second.Trace[i].ToString());
        Assert.True(first.FaultCount > 0);
    }
}
