using Akka.Event;
using Replug.Coordinator.Deciding;
using Replug.Coordinator.Singleton;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using static Replug.Coordinator.Tests.Deciding.DeciderHarness;
using static Replug.Shared.Protocol.HostProtocol;

namespace Replug.Coordinator.Tests.Deciding;

/// <summary>The coordinator's log lines: text as before, and the ids an operator filters on as named fields.</summary>
public sealed class DecisionLogTests
{
    private static readonly HostId A = new("a"), B = new("b");

    [Fact]
    public void A_hole_named_like_a_field_is_a_template_property_and_any_other_hole_is_text_with_its_braces_escaped()
    {
        var failover = new FailoverId(Guid.Parse("0d6f6a3e-7d1c-4a43-9f59-5b7d6c3e2a10"));
        var port = new PortId("p1");
        var reason = "agent said {no}";

        var line = new DecisionLog(DecisionLogLevel.Info, $"Fail-over {failover:Failover}: port {port:Port} in {12.34:0} ms, epoch {7L:Epoch} ({reason}; {TimeSpan.FromSeconds(3):c})");

        Assert.Equal($"Fail-over {failover}: port {port} in 12 ms, epoch 7 ({reason}; 00:00:03)", line.Text);
        Assert.Equal("Fail-over {Failover}: port {Port} in 12 ms, epoch {Epoch} (agent said {{no}}; 00:00:03)", line.Template);
        Assert.Equal([failover, port, 7L], line.Fields);
        // Akka renders the template (with its fields) to the same text.
        Assert.Equal(line.Text, SemanticLogMessageFormatter.Instance.Format(line.Template, [.. line.Fields]));
    }

    [Fact]
    public void A_fail_over_logs_its_id_port_hosts_and_epoch_as_fields()
    {
        var c = new DeciderHarness();
        c.Start();
        c.Register(A, 0, [Nic("n1", "52:54:00:00:00:01")], [Port("p1", "n1")]);
        c.Register(B, 1, [], []);
        c.Decide(new CoordinatorInputs.MemberGone(AddressOf(A), "left the cluster", Left: true));
        var failover = c.State.Failovers.Values.Single();

        var placed = Assert.Single(c.Log, l => l.Text.StartsWith($"Fail-over {failover.Id}: port p1 -> b"));
        Assert.StartsWith("Fail-over {Failover}: port {Port} -> {Host} (command {Command}, epoch {Epoch}; ", placed.Template);
        Assert.Equal(failover.Id, placed.Fields[0]);
        Assert.Equal(new PortId("p1"), placed.Fields[1]);
        Assert.Equal(B, placed.Fields[2]);
        Assert.Equal(c.State.Epoch, placed.Fields[4]);
        Assert.Equal(placed.Text, SemanticLogMessageFormatter.Instance.Format(placed.Template, [.. placed.Fields]));
        Assert.All(c.Log, l => Assert.Equal(l.Text, SemanticLogMessageFormatter.Instance.Format(l.Template, [.. l.Fields])));
    }
}
