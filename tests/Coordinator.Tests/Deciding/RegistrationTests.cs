using Replug.Coordinator.Deciding;
using Replug.Coordinator.Planning;
using Replug.Coordinator.Singleton;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using static Replug.Coordinator.Tests.Deciding.DeciderHarness;
using static Replug.Shared.Protocol.HostProtocol;

namespace Replug.Coordinator.Tests.Deciding;

public sealed class RegistrationTests
{
    private static readonly HostId A = new("a"), B = new("b");

    [Fact]
    public void A_host_registering_with_a_NIC_is_answered_with_its_ports()
    {
        var c = new DeciderHarness();
        c.Start();
        c.Register(A, 1, [Nic("v1", "52:54:00:aa:00:07")], [Port("p1", "v1")]);

        var answer = Assert.Single(c.SentTo<HostRegistered>(A));
        Assert.Equal([new PortId("p1")], answer.OwnedPorts);
        Assert.Equal(1, answer.Epoch);
        Assert.Single(c.State.Hosts[A].Inventory.Nics);
        c.AssertReplayMatches();
    }
}
