using Replug.Coordinator.Policies;

namespace Replug.Coordinator.Tests.Policies;

/// <summary>Bad policy settings are named field by field, as a configuration error or the API's 400 will say them.</summary>
public sealed class PolicySettingsTests
{
    private const string Prefix = "Replug:Coordinator:Policies:PowerSaving:";

    [Fact]
    public void The_defaults_are_valid()
    {
        Assert.Empty(new LoadBalancingSettings().Validate());
        Assert.Empty(new PowerSavingSettings().Validate());
    }

    [Fact]
    public void Every_bad_field_is_named_with_its_prefix()
    {
        var settings = new PowerSavingSettings((PolicyMode)7, Level: 9, LowUtilization: 0.9, HighUtilization: 0.5,
            LowFor: TimeSpan.Zero, HighFor: TimeSpan.FromSeconds(-1), Reserve: new Reserve(SpareNicsPerPort: -1, SpareHosts: 2));

        var problems = settings.Validate(Prefix);

        Assert.Equal(
        [
            $"{Prefix}Mode: '7' is not a mode (Off, Advise, Auto)",
            $"{Prefix}Level: 9 is not a level (1 to 5)",
            $"{Prefix}HighUtilization: 0.5 must be above LowUtilization (0.9) and at most 1",
            $"{Prefix}LowFor: 00:00:00 must be positive",
            $"{Prefix}HighFor: -00:00:01 must be positive",
            $"{Prefix}Reserve:SpareNicsPerPort: -1 must be between 0 and 8",
        ], problems);
    }

    [Theory]
    [InlineData(0, "Level: 0 is not a level (1 to 5)")]
    [InlineData(6, "Level: 6 is not a level (1 to 5)")]
    public void A_level_outside_one_to_five_is_refused(int level, string problem) =>
        Assert.Equal([problem], new LoadBalancingSettings(Level: level).Validate());

    [Fact]
    public void A_cool_down_must_be_positive() =>
        Assert.Equal(["Cooldown: 00:00:00 must be positive"], new LoadBalancingSettings(Cooldown: TimeSpan.Zero).Validate());
}
