using Replug.Coordinator.Deciding;
using Replug.Coordinator.Singleton;
using Replug.Shared.Protocol;
using static Replug.Coordinator.Singleton.CoordinatorEvents;

namespace Replug.Coordinator.Tests.Simulation;

/// <summary>
/// A stand-in decider for the harness's own tests: starts epochs, registers hosts and answers
/// them with their ports, records port reports; never fails anything over. With it and no
/// faults, every port must come up on its own host.
/// </summary>
public static class RegistrarDecider
{
    public static SimDecide Create(CoordinatorSettings settings, Func<Guid> newId) => (state, input, now) =>
    {
        var events = new List<ICoordinatorEvent>();
        var messages = new List<Outbound>();
        void Record(ICoordinatorEvent e)
        {
            state.Apply(e);
            events.Add(e);
        }
        switch (input)
        {
            case CoordinatorInputs.Recovered r:
                Record(new EpochStarted(state.Epoch + 1, r.Node, now));
                break;
            case CoordinatorInputs.FromHost { Message: HostProtocol.RegisterHost register }:
                Record(new HostRegistered(register.Host, register.Address, register.Incarnation, register.Inventory, now));
                messages.Add(new Outbound.Reply(new HostProtocol.HostRegistered(register.Host, state.Epoch, state.OwnedPorts(register.Host))));
                break;
            case CoordinatorInputs.FromHost { Message: HostProtocol.PortChanged changed }:
                Record(new PortReported(changed.Host, changed.Port, now));
                break;
        }
        return new Decision(events, messages, []);
    };
}
