using System.Text;
using Replug.Coordinator.Api;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;

namespace Replug.Coordinator.Tests.Api;

/// <summary>What the HTTP API accepts from operators, and the reason it gives for what it refuses.</summary>
public sealed class ApiRequestsTests
{
    private static Parsed<OperatorProtocol.MigrationNotice> Migration(string body) => ApiRequests.Migration(Encoding.UTF8.GetBytes(body));

    [Fact]
    public void A_migration_notice_is_read_from_its_four_string_properties()
    {
        var parsed = Migration("""{ "nic": "PermanentMac:52:54:00:12:34:56", "from": "host-a", "to": "host-b", "phase": "start" }""");

        Assert.True(parsed.Ok, parsed.Error);
        Assert.Equal(new OperatorProtocol.MigrationNotice(new NicIdentity(NicIdentityKind.PermanentMac, "52:54:00:12:34:56"),
            new HostId("host-a"), new HostId("host-b"), MigrationPhase.Start), parsed.Value);
    }

    [Theory]
    [InlineData("complete", MigrationPhase.Complete)]
    [InlineData("Abort", MigrationPhase.Abort)]
    [InlineData("START", MigrationPhase.Start)]
    public void A_phase_is_read_in_any_case(string text, MigrationPhase phase) => Assert.Equal(phase, ApiRequests.Phase(text).Value);

    [Fact]
    public void An_upper_case_MAC_names_the_same_NIC_as_the_agents_report_in_lower_case()
    {
        var parsed = ApiRequests.Nic("Mac:52:54:00:AB:CD:EF");

        Assert.True(parsed.Ok, parsed.Error);
        Assert.Equal(new NicIdentity(NicIdentityKind.Mac, "52:54:00:ab:cd:ef"), parsed.Value);
    }

    [Fact]
    public void A_PCI_identity_is_vendor_device_and_slot()
    {
        var parsed = ApiRequests.Nic("Pci:8086:10FB@0000:03:00.1");

        Assert.True(parsed.Ok, parsed.Error);
        Assert.Equal(new NicIdentity(NicIdentityKind.Pci, "8086:10fb@0000:03:00.1"), parsed.Value);
    }

    [Theory]
    [InlineData("", "the body is empty")]
    [InlineData("""{ "nic": """, "the body is not JSON")]
    [InlineData("""{ "nic": "Mac:52:54:00:12:34:56", "from": "a", "to": "b", "phase": "start", }""", "the body is not JSON")]
    [InlineData("""/* c */ { "nic": "Mac:52:54:00:12:34:56", "from": "a", "to": "b", "phase": "start" }""", "the body is not JSON")]
    [InlineData("""[ "start" ]""", "the body is a JSON array")]
    [InlineData("""{ "nic": "Mac:52:54:00:12:34:56", "from": "a", "to": "b", "phase": "start", "when": "now" }""", "unknown property 'when'")]
    [InlineData("""{ "Nic": "Mac:52:54:00:12:34:56", "from": "a", "to": "b", "phase": "start" }""", "unknown property 'Nic'")]
    [InlineData("""{ "nic": "Mac:52:54:00:12:34:56", "from": "a", "to": "b", "phase": 1 }""", "phase: must be a string, not a JSON number")]
    [InlineData("""{ "nic": "Mac:52:54:00:12:34:56", "from": "a", "from": "c", "to": "b", "phase": "start" }""", "from: given twice")]
    [InlineData("""{ "nic": "Mac:52:54:00:12:34:56", "from": "a", "phase": "start" }""", "missing property 'to'")]
    [InlineData("""{ "nic": "Mac:52:54:00:12:34:56", "from": "a", "to": "b", "phase": "later" }""", "phase: 'later' is not a phase (start, complete, abort)")]
    [InlineData("""{ "nic": "52:54:00:12:34:56", "from": "a", "to": "b", "phase": "start" }""", "nic: '52' is not a NIC identity kind")]
    [InlineData("""{ "nic": "Serial:1234", "from": "a", "to": "b", "phase": "start" }""", "nic: 'Serial' is not a NIC identity kind (PermanentMac, Mac, Pci)")]
    [InlineData("""{ "nic": "1:52:54:00:12:34:56", "from": "a", "to": "b", "phase": "start" }""", "nic: '1' is not a NIC identity kind")]
    [InlineData("""{ "nic": "PermanentMac", "from": "a", "to": "b", "phase": "start" }""", "is not \"Kind:value\"")]
    [InlineData("""{ "nic": "PermanentMac:52:54:00:12:34", "from": "a", "to": "b", "phase": "start" }""", "is not a MAC address")]
    [InlineData("""{ "nic": "Mac:00:00:00:00:00:00", "from": "a", "to": "b", "phase": "start" }""", "an all-zero MAC never identifies a NIC")]
    [InlineData("""{ "nic": "Pci:0000:03:00.0", "from": "a", "to": "b", "phase": "start" }""", "is not a PCI identity")]
    [InlineData("""{ "nic": "Mac:52:54:00:12:34:56", "from": "", "to": "b", "phase": "start" }""", "from: a host name must not be empty")]
    [InlineData("""{ "nic": "Mac:52:54:00:12:34:56", "from": "a", "to": "b\u0001", "phase": "start" }""", "to: a host name has only printable characters (U+0001 is not)")]
    [InlineData("""{ "nic": "Mac:52:54:00:12:34:56", "from": "a", "to": "a", "phase": "start" }""", "from and to are the same host 'a'")]
    public void A_malformed_migration_notice_is_refused_with_its_reason(string body, string reason)
    {
        var parsed = Migration(body);

        Assert.False(parsed.Ok);
        Assert.Contains(reason, parsed.Error);
    }

    [Fact]
    public void A_body_over_the_limit_is_refused_before_it_is_parsed()
    {
        var parsed = ApiRequests.Migration(new byte[ApiRequests.MaxBodyBytes + 1]);

        Assert.Equal($"the body is larger than {ApiRequests.MaxBodyBytes} bytes", parsed.Error);
    }

    [Theory]
    [InlineData(null, ApiRequests.DefaultEvents)]
    [InlineData("1", 1)]
    [InlineData("1000", 1000)]
    public void Max_events_defaults_to_100_and_goes_from_1_to_1000(string? text, int max) => Assert.Equal(max, ApiRequests.Max(text).Value);

    [Theory]
    [InlineData("0")]
    [InlineData("1001")]
    [InlineData("-5")]
    [InlineData("+5")]
    [InlineData(" 5")]
    [InlineData("5.0")]
    [InlineData("many")]
    [InlineData("")]
    [InlineData("99999999999")]
    public void Max_events_out_of_range_or_not_a_whole_number_is_refused(string text) =>
        Assert.Equal($"max must be a whole number from 1 to 1000, not '{text}'", ApiRequests.Max(text).Error);

    [Theory]
    [InlineData("0f8fad5b-d9cb-469f-a165-70867728950e", "0f8fad5bd9cb469fa16570867728950e")]
    [InlineData("0F8FAD5BD9CB469FA16570867728950E", "0f8fad5bd9cb469fa16570867728950e")]
    [InlineData("0f8fad5bd9cb", "0f8fad5bd9cb")]
    [InlineData("0F8FAD5BD9CB469F", "0f8fad5bd9cb469f")]
    public void A_failover_is_named_by_its_GUID_or_the_12_hex_digits_the_logs_print(string text, string prefix) =>
        Assert.Equal(prefix, ApiRequests.FailoverIdPrefix(text).Value);

    [Theory]
    [InlineData("0f8fad5bd9c")]
    [InlineData("0f8fad5bd9cz")]
    [InlineData("0f8fad5bd9cb469fa16570867728950e0")]
    [InlineData("latest")]
    public void A_failover_id_that_is_too_short_or_not_hex_is_refused(string text) =>
        Assert.Contains("is not a fail-over id", ApiRequests.FailoverIdPrefix(text).Error);

    [Theory]
    [InlineData("", "a host name must not be empty")]
    [InlineData("  ", "a host name must not be empty")]
    [InlineData("host\nb", "a host name has only printable characters (U+000A is not)")]
    [InlineData("b\u202ec", "a host name has only printable characters (U+202E is not)")]
    [InlineData(" host", "a host name has no space at either end")]
    public void A_host_name_is_not_empty_and_has_only_printable_characters(string text, string reason) =>
        Assert.Equal($"host: {reason}", ApiRequests.Host(text).Error);
}
