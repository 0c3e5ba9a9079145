using Replug.Shared.Devices;

namespace Replug.Shared.Tests.Devices;

public class DeviceNamesTests
{
    [Theory]
    [InlineData("eth0")]
    [InlineData("enp3s0f1")]
    [InlineData("0000:03:00.0")]
    [InlineData("rp@at")]
    [InlineData("rp=eq")]
    [InlineData("...")]
    [InlineData(".hidden")]
    [InlineData("a b")]
    [InlineData("\u00e9t\u00e9")]
    public void A_kernel_name_is_safe(string name)
    {
        Assert.True(DeviceNames.IsSafe(name));
    }

    [Theory]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("..")]
    [InlineData("a/b")]
    [InlineData("/")]
    [InlineData("a\\b")]
    [InlineData("a\0b")]
    [InlineData("a\nb")]
    [InlineData("a\tb")]
    [InlineData("\u007f")]
    [InlineData("a\u0085b")]
    public void A_name_that_could_leave_its_directory_or_mislead_a_log_is_unsafe(string name)
    {
        Assert.False(DeviceNames.IsSafe(name));
    }

    [Fact]
    public void A_name_of_up_to_255_characters_is_safe()
    {
        Assert.True(DeviceNames.IsSafe(new string('x', 255)));
        Assert.False(DeviceNames.IsSafe(new string('x', 256)));
    }
}
