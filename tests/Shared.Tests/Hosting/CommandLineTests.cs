using Replug.Shared.Hosting;

namespace Replug.Shared.Tests.Hosting;

public sealed class CommandLineTests
{
    private static readonly string[] Switches = ["--replay", "--host"];

    [Theory]
    [InlineData("--Replug:Agent:Host=h1")]
    [InlineData("--Replug:Agent:Host", "h1")]
    [InlineData("--replay", "-")]
    [InlineData("--replay=/tmp/capture", "--host", "h1")]
    [InlineData("--standalone", "--replay", "/tmp/capture")]
    public void Settings_flags_and_switches_with_their_values_pass(params string[] args) =>
        Assert.Empty(CommandLine.Check(args, ["--standalone"], Switches));

    [Theory]
    [InlineData("--replay needs a value (--replay VALUE or --replay=VALUE)", "--replay")]
    [InlineData("--replay needs a value (--replay VALUE or --replay=VALUE)", "--replay", "--host", "h1")]
    [InlineData("--Replug:Agent:Host needs a value (--Replug:Agent:Host VALUE or --Replug:Agent:Host=VALUE)", "--Replug:Agent:Host")]
    [InlineData("'--standalon' is not an option (--standalone, --replay, --host) nor a setting (--Replug:Section:Key=value)", "--standalon")]
    [InlineData("'h1' is not an option (--standalone, --replay, --host) nor a setting (--Replug:Section:Key=value)", "h1")]
    public void A_missing_value_or_an_unknown_option_is_named(string error, params string[] args) =>
        Assert.Equal([error], CommandLine.Check(args, ["--standalone"], Switches));

    [Fact]
    public void A_switch_the_program_refuses_here_says_why()
    {
        var errors = CommandLine.Check(["--replay", "x"], [], Switches, key => $"{key} configures the agent");
        Assert.Equal(["--replay configures the agent"], errors);
    }

    [Theory]
    [InlineData("10.0.0.1", true)]
    [InlineData("::1", true)]
    [InlineData("node-1.cluster.local", true)]
    [InlineData("not..a..host", false)]
    [InlineData("-lead.example", false)]
    [InlineData("under_score", false)]
    [InlineData("", false)]
    public void A_host_address_is_an_IP_address_or_a_DNS_name(string text, bool valid) =>
        Assert.Equal(valid, ClusterNodeOptions.IsHostAddress(text));
}
