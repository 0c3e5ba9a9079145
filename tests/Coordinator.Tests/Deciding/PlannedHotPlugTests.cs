using Replug.Coordinator.Deciding;
using Replug.Coordinator.Policies;
using Replug.Coordinator.Singleton;
using Replug.Shared.Devices;
using Replug.Shared.Protocol;
using static Replug.Coordinator.Singleton.CoordinatorEvents;
using static Replug.Coordinator.Tests.Deciding.DeciderHarness;
using static Replug.Shared.Protocol.HostProtocol;

namespace Replug.Coordinator.Tests.Deciding;

/// <summary>Operators' detach / attach, the policies run by the coordinator, and a fault winning over power saving, as the decider's behaviour.</summary>
public sealed class PlannedHotPlugTests
{
    private static readonly HostId A = new("a"), B = new("b");
    private static readonly PortId P1 = new("p1");
    private static readonly DeviceId N1 = DeviceId.Net("n1"), N2 = DeviceId.Net("n2"), N3 = DeviceId.Net("n3");

    /// <summary>Host a: port p1 over n1 (active), n2 and n3; host b: one fail-over slot and two NICs.</summary>
    private static DeciderHarness TwoHosts(PolicySettings? policies = null)
    {
        var c = new DeciderHarness(Settings with { Policies = policies });
        c.Start();
        c.Register(A, 0, [Nic("n1", "52:54:00:00:00:01"), Nic("n2", "52:54:00:00:00:02"), Nic("n3", "52:54:00:00:00:03")],
            [Port("p1", "n1", "n2", "n3")]);
        c.Register(B, 1, [Nic("m1", "52:54:00:00:01:01"), Nic("m2", "52:54:00:00:01:02")], []);
        c.ClearSent();
        return c;
    }

    private static T Answer<T>(Decision decision) => Assert.IsType<T>(Assert.Single(decision.Messages.OfType<Outbound.Reply>()).Message);

    private static DeviceOperation Detach(DeciderHarness c, HostId host, DeviceId device, string by = DeviceOperation.Operator)
    {
        var accepted = Answer<CoordinatorRequests.OperationAccepted>(c.Decide(new CoordinatorInputs.FromApi(new CoordinatorRequests.DetachDevice(host, device, "maintenance"))));
        return accepted.Operation;
    }

    [Fact]
    public void A_detach_is_journaled_sent_and_the_device_counts_as_unplugged_once_the_agent_says_it_is_done()
    {
        var c = TwoHosts();
        var op = Detach(c, A, N3);

        var sent = Assert.Single(c.SentTo<DetachDevice>(A));
        Assert.Equal((op.Id, N3, c.State.Epoch, 1L), (sent.Id, sent.Device, sent.Epoch, sent.Incarnation));
        Assert.False(c.State.InService(A, N3));
        Assert.Empty(c.State.Unplugged); // not before the agent says so

        c.FromHost(new CommandAcknowledged(op.Id, A, c.State.Epoch));
        Assert.Equal(OperationStatus.Done, c.State.Operations[op.Id].Status);
        Assert.Equal(DeviceOperation.Operator, c.State.Unplugged[(A, N3)].By);
        c.AssertReplayMatches();
    }

    [Fact]
    public void A_detach_that_would_leave_a_port_without_a_healthy_device_is_refused_with_the_port_named_and_nothing_changes()
    {
        var c = TwoHosts();
        Detach(c, A, N2);
        c.AcknowledgeOperations(A);
        Detach(c, A, N3);
        c.AcknowledgeOperations(A);
        var journal = c.Journal.Count;
        c.ClearSent();

        var refused = Answer<CoordinatorRequests.Refused>(c.Decide(new CoordinatorInputs.FromApi(new CoordinatorRequests.DetachDevice(A, N1, null))));

        Assert.Equal(409, refused.Status);
        Assert.Contains("port p1", refused.Reason);
        Assert.Equal(journal, c.Journal.Count);
        Assert.Empty(c.SentTo<DetachDevice>(A));
    }

    [Theory]
    [InlineData("nope", 404)]
    [InlineData("n1-on-unknown-host", 404)]
    public void A_request_for_an_unknown_device_or_host_is_a_404(string what, int status)
    {
        var c = TwoHosts();
        var request = what == "nope" ? new CoordinatorRequests.DetachDevice(A, DeviceId.Net("nope"), null) : new CoordinatorRequests.DetachDevice(new HostId("zz"), N1, null);
        var refused = Answer<CoordinatorRequests.Refused>(c.Decide(new CoordinatorInputs.FromApi(request)));
        Assert.Equal(status, refused.Status);
    }

    [Fact]
    public void An_unanswered_operation_is_sent_again_with_backoff_and_ends_when_its_host_is_lost()
    {
        var c = TwoHosts();
        var op = Detach(c, A, N3);
        c.Advance(c.State.RetryDelay(1) + TimeSpan.FromMilliseconds(1));
        Assert.Equal(2, c.SentTo<DetachDevice>(A).Count);
        Assert.All(c.SentTo<DetachDevice>(A), d => Assert.Equal(op.Id, d.Id));

        c.Decide(new CoordinatorInputs.MemberGone(AddressOf(A), "left the cluster", Left: true));
        Assert.Equal(OperationStatus.HostLost, c.State.Operations[op.Id].Status);
        Assert.Empty(c.State.Unplugged);
        // Its steps, as an operator reads them: started, sent again, ended with the host.
        var steps = c.State.Operations[op.Id].Steps!.Select(s => s.What).ToList();
        Assert.Equal(3, steps.Count);
        Assert.StartsWith("started by operator: maintenance", steps[0]);
        Assert.Contains("attempt 2", steps[1]);
        Assert.StartsWith("host lost: ", steps[2]);
        c.AssertReplayMatches();
    }

    [Fact]
    public void An_attach_brings_a_detached_device_back_and_a_second_attach_is_refused_as_in_service()
    {
        var c = TwoHosts();
        Detach(c, A, N3);
        c.AcknowledgeOperations(A);

        var attach = Answer<CoordinatorRequests.OperationAccepted>(c.Decide(new CoordinatorInputs.FromApi(new CoordinatorRequests.AttachDevice(A, N3, null))));
        Assert.Equal(N3, Assert.Single(c.SentTo<AttachDevice>(A)).Device);
        Assert.True(c.State.InService(A, N3)); // being attached: a port may count on it
        c.FromHost(new CommandAcknowledged(attach.Operation.Id, A, c.State.Epoch));

        Assert.Empty(c.State.Unplugged);
        var again = Answer<CoordinatorRequests.Refused>(c.Decide(new CoordinatorInputs.FromApi(new CoordinatorRequests.AttachDevice(A, N3, null))));
        Assert.Equal(409, again.Status);
        c.AssertReplayMatches();
    }

    [Fact]
    public void A_refusal_of_an_older_epochs_copy_leaves_the_operation_owed()
    {
        var c = TwoHosts();
        c.HandOver(); // epoch 2: a copy of epoch 1 is an older epoch's
        var op = Detach(c, A, N3);
        c.FromHost(new CommandRefused(op.Id, A, "older epoch", c.State.Epoch, c.State.Epoch - 1, 1));
        Assert.True(c.State.Operations[op.Id].IsOpen);
        c.FromHost(new CommandRefused(op.Id, A, "port p1 would have no healthy device", c.State.Epoch, c.State.Epoch, 1));
        Assert.Equal(OperationStatus.Refused, c.State.Operations[op.Id].Status);
        Assert.Empty(c.State.Unplugged);
    }

    [Fact]
    public void A_restarted_agent_is_told_again_what_is_detached_on_its_host()
    {
        var c = TwoHosts();
        Detach(c, A, N3);
        c.AcknowledgeOperations(A);
        c.ClearSent();

        var inventory = new HostInventory([Nic("n1", "52:54:00:00:00:01"), Nic("n2", "52:54:00:00:00:02"), Nic("n3", "52:54:00:00:00:03")],
            [Port("p1", "n1", "n2", "n3")], 0, 0);
        c.FromHost(new RegisterHost(A, AddressOf(A), 2, inventory));

        var again = Assert.Single(c.SentTo<DetachDevice>(A));
        Assert.Equal((N3, 2L), (again.Device, again.Incarnation));
        c.AcknowledgeOperations(A);
        Assert.Equal(DeviceOperation.Operator, c.State.Unplugged[(A, N3)].By);
        c.AssertReplayMatches();
    }

    [Fact]
    public void A_detached_device_that_is_removed_is_no_longer_held_detached()
    {
        var c = TwoHosts();
        Detach(c, A, N3);
        c.AcknowledgeOperations(A);
        c.FromHost(new HostProtocol.NicRemoved(A, N3, new NicIdentity(NicIdentityKind.PermanentMac, "52:54:00:00:00:03")));
        Assert.Empty(c.State.Unplugged);
        c.AssertReplayMatches();
    }

    // ---- a fault wins ------------------------------------------------------------------------

    /// <summary>Power saving unplugged n2 and n3 of host a; p1 runs on n1 alone.</summary>
    private static DeciderHarness Unplugged()
    {
        var c = TwoHosts();
        foreach (var device in new[] { N2, N3 })
        {
            c.Record(new DeviceOperationStarted(CommandId.New(), A, DeviceOperationKind.Detach, device, null,
                DeviceOperation.Policy(PowerSaver.Name), "idle", c.Now));
            c.AcknowledgeOperations(A);
        }
        Assert.Equal(2, c.State.Unplugged.Count);
        c.ClearSent();
        return c;
    }

    [Fact]
    public void A_port_that_loses_its_last_device_gets_a_policy_unplugged_member_back_instead_of_a_fail_over()
    {
        var c = Unplugged();
        c.FromHost(new PortEscalated(A, P1, "n1 removed"));

        var attach = Assert.Single(c.SentTo<AttachDevice>(A));
        Assert.Equal(N2, attach.Device);
        Assert.Empty(c.State.Failovers);
        Assert.Empty(c.SentTo<DetachPort>(A));

        // The agent plugs it back and the port takes it: it forwards again, on the same host.
        c.FromHost(new CommandAcknowledged(attach.Id, A, c.State.Epoch));
        c.FromHost(new PortChanged(A, new PortReport(new PortSpec(P1), [N1, N2, N3], N2, false)));
        c.Advance(TimeSpan.FromMinutes(1));
        Assert.Empty(c.State.Failovers);
        Assert.Equal(A, c.State.Ports[P1].Host);
        Assert.Empty(c.State.DeferredEscalations);
        c.AssertReplayMatches();
    }

    [Fact]
    public void When_the_re_plug_is_refused_the_port_fails_over_at_once()
    {
        var c = Unplugged();
        c.FromHost(new PortEscalated(A, P1, "n1 removed"));
        var attach = Assert.Single(c.SentTo<AttachDevice>(A));

        c.FromHost(new CommandRefused(attach.Id, A, "restore failed: not in sysfs", c.State.Epoch, c.State.Epoch, 1));
        // The other unplugged member is tried next; once it fails too, the port moves.
        var second = c.SentTo<AttachDevice>(A)[^1];
        Assert.Equal(N3, second.Device);
        Assert.Empty(c.State.Failovers);
        c.FromHost(new CommandRefused(second.Id, A, "restore failed: not in sysfs", c.State.Epoch, c.State.Epoch, 1));

        var failover = Assert.Single(c.State.Failovers.Values);
        Assert.Equal(A, failover.From);
        c.AssertReplayMatches();
    }

    [Fact]
    public void A_port_whose_active_NIC_was_removed_gets_its_unplugged_member_back_at_once_not_after_the_migration_window()
    {
        var c = Unplugged();
        // The removal of n1 may yet be a migration: the escalation would wait for the window, but the port has no traffic now.
        c.FromHost(new HostProtocol.NicRemoved(A, N1, new NicIdentity(NicIdentityKind.PermanentMac, "52:54:00:00:00:01")));
        c.FromHost(new PortEscalated(A, P1, "no healthy device left after n1 (removed)"));

        Assert.Equal(N2, Assert.Single(c.SentTo<AttachDevice>(A)).Device);
        c.Advance(c.Decider.Settings.MigrationWindow + TimeSpan.FromSeconds(1));
        Assert.Empty(c.State.Failovers); // the attach is still owed: the port waits for it, not for the window
        c.AssertReplayMatches();
    }

    [Fact]
    public void When_the_re_plugged_device_does_not_carry_the_port_within_the_grace_it_fails_over()
    {
        var c = Unplugged();
        c.FromHost(new PortEscalated(A, P1, "n1 removed"));
        var attach = Assert.Single(c.SentTo<AttachDevice>(A));
        c.FromHost(new CommandAcknowledged(attach.Id, A, c.State.Epoch));
        Assert.Empty(c.State.Failovers);

        c.Advance(CoordinatorState.ReplugGrace + TimeSpan.FromMilliseconds(1));
        // The next unplugged member is plugged back in turn; when it does not carry the port either, the port moves.
        var second = c.SentTo<AttachDevice>(A)[^1];
        Assert.Equal(N3, second.Device);
        c.FromHost(new CommandAcknowledged(second.Id, A, c.State.Epoch));
        Assert.Empty(c.State.Failovers);
        c.Advance(CoordinatorState.ReplugGrace + TimeSpan.FromMilliseconds(1));

        Assert.Single(c.State.Failovers.Values);
    }

    [Fact]
    public void An_operators_detach_is_not_undone_by_a_fault_the_port_fails_over()
    {
        var c = TwoHosts();
        Detach(c, A, N2);
        c.AcknowledgeOperations(A);
        Detach(c, A, N3);
        c.AcknowledgeOperations(A);
        c.ClearSent();

        c.FromHost(new PortEscalated(A, P1, "n1 removed"));

        Assert.Empty(c.SentTo<AttachDevice>(A));
        Assert.Single(c.State.Failovers.Values);
    }

    // ---- policies ------------------------------------------------------------------------------

    private static NicLoadReported Load(HostId host, params (string Device, double Utilization)[] nics) =>
        new(host, 1, [.. nics.Select(n => new NicLoadSample(DeviceId.Net(n.Device), 10e9, n.Utilization * 10e9, n.Utilization * 10e9))]);

    private static PolicySettings Saving(PolicyMode mode) => new(new LoadBalancingSettings(PolicyMode.Off), new PowerSavingSettings(mode));

    [Fact]
    public void Power_saving_in_auto_journals_its_verdict_then_unplugs_an_idle_standby_through_the_agent()
    {
        var c = TwoHosts(Saving(PolicyMode.Auto));
        var retireAfter = c.State.Policies.PowerSaving.RetireAfter;
        for (var t = TimeSpan.Zero; t <= retireAfter + TimeSpan.FromMinutes(1); t += TimeSpan.FromMinutes(1))
        {
            // n1 carries p1 inside the band; n2 and n3 idle.
            c.FromHost(Load(A, ("n1", 0.50), ("n2", 0.0), ("n3", 0.0)));
            c.FromHost(Load(B, ("m1", 0.0), ("m2", 0.0)));
            c.Decide(CoordinatorInputs.PolicyTick.Instance);
            c.Advance(TimeSpan.FromMinutes(1));
            foreach (var op in c.State.OpenOperations.ToList()) c.FromHost(new CommandAcknowledged(op.Id, op.Host, c.State.Epoch));
        }

        var decided = c.Journal.OfType<PolicyDecided>().Where(d => d.Action is PolicyAction.UnplugNic { Host.Value: "a" }).ToList();
        Assert.True(decided.Count == 1, string.Join("\n", c.Journal.OfType<PolicyDecided>().Select(d => $"{d.At:t} {d.Action.Describe()}: {d.Reason}")));
        var unplug = decided[0];
        Assert.Equal(PolicyMode.Auto, unplug.Mode);
        Assert.NotNull(unplug.Operation);
        // The verdict is journaled before the operation it starts.
        Assert.True(c.Journal.IndexOf(unplug) < c.Journal.FindIndex(e => e is DeviceOperationStarted s && s.Id == unplug.Operation));
        var nic = ((PolicyAction.UnplugNic)unplug.Action).Nic;
        Assert.Contains(nic, new[] { N2, N3 });
        Assert.Contains(c.SentTo<DetachDevice>(A), d => d.Device == nic);
        Assert.True(c.State.Unplugged[(A, nic)].ByPolicy);
        // The reserve holds: p1 keeps its active NIC and one spare plugged.
        Assert.Equal(1, c.State.Unplugged.Keys.Count(k => k.Host == A));
        Assert.Equal("done", CoordinatorDecider.View(c.State, c.State.Decisions.Single(d => d.Action is PolicyAction.UnplugNic { Host.Value: "a" })).Outcome);
        c.AssertReplayMatches();
    }

    [Fact]
    public void Power_saving_in_advise_mode_records_its_verdict_once_and_does_nothing()
    {
        var c = TwoHosts(Saving(PolicyMode.Advise));
        var retireAfter = c.State.Policies.PowerSaving.RetireAfter;
        for (var t = TimeSpan.Zero; t <= retireAfter + TimeSpan.FromMinutes(5); t += TimeSpan.FromMinutes(1))
        {
            c.FromHost(Load(A, ("n1", 0.10), ("n2", 0.0), ("n3", 0.0)));
            c.Decide(CoordinatorInputs.PolicyTick.Instance);
            c.Advance(TimeSpan.FromMinutes(1));
        }

        var advised = c.Journal.OfType<PolicyDecided>().Where(d => d.Action is PolicyAction.UnplugNic { Host.Value: "a" }).ToList();
        Assert.Single(advised);
        Assert.Equal(PolicyMode.Advise, advised[0].Mode);
        Assert.Null(advised[0].Operation);
        Assert.Empty(c.SentTo<DetachDevice>(A));
        Assert.Empty(c.State.Operations);
        Assert.Contains(c.Sent, m => m is Outbound.Recommend { Mode: PolicyMode.Advise });
    }

    [Fact]
    public void A_load_report_of_an_incarnation_not_registered_is_ignored()
    {
        var c = TwoHosts();
        c.FromHost(Load(A, ("n1", 0.5)) with { Incarnation = 99 });
        Assert.Equal(0, ClusterLoad.Snapshot(c.State).Host(A)!.Bps);
        c.FromHost(Load(A, ("n1", 0.5)));
        Assert.Equal(5e9, ClusterLoad.Snapshot(c.State).Host(A)!.Bps);
    }

    [Fact]
    public void Load_balancing_in_auto_moves_a_port_from_a_hot_host_through_a_fenced_fail_over_to_the_host_it_chose()
    {
        var c = new DeciderHarness(Settings with { Policies = new(new LoadBalancingSettings(PolicyMode.Auto, Level: 5), new PowerSavingSettings(PolicyMode.Off)) });
        c.Start();
        c.Register(A, 0, [Nic("n1", "52:54:00:00:00:01"), Nic("n2", "52:54:00:00:00:02")], [Port("p1", "n1", "n2"), Port("p2", "n2", "n1")]);
        c.Register(B, 2, [Nic("m1", "52:54:00:00:01:01"), Nic("m2", "52:54:00:00:01:02")], []);
        c.Register(new HostId("c"), 2, [Nic("k1", "52:54:00:00:02:01"), Nic("k2", "52:54:00:00:02:02")], []);
        c.FromHost(Load(A, ("n1", 0.9), ("n2", 0.9)));
        c.FromHost(Load(B, ("m1", 0.05), ("m2", 0.0)));
        c.FromHost(Load(new HostId("c"), ("k1", 0.30), ("k2", 0.30)));
        c.ClearSent();

        c.Decide(CoordinatorInputs.PolicyTick.Instance);

        var move = Assert.Single(c.Journal.OfType<PolicyDecided>(), d => d.Action is PolicyAction.MovePort);
        var action = (PolicyAction.MovePort)move.Action;
        Assert.Equal((A, B), (action.From, action.To));
        var failover = c.State.Failovers[move.Failover!.Value];
        Assert.Equal(B, failover.Preferred);
        // Detached where it ran first; attached nowhere until that is done.
        Assert.Contains(c.SentTo<DetachPort>(A), d => d.Port == action.Port);
        Assert.Empty(c.SentTo<AttachPort>(B));
        c.AcknowledgeAll(A);
        Assert.Equal(B, c.State.Failovers[move.Failover!.Value].Target);
        c.AcknowledgeAll(B);
        Assert.Equal(B, c.State.Ports[action.Port].Host);
        Assert.Equal(c.Now, c.State.LastPolicyMove(action.Port));
        c.AssertReplayMatches();

        // Cooling down: the next round moves the other port, never this one again.
        c.Decide(CoordinatorInputs.PolicyTick.Instance);
        Assert.DoesNotContain(c.Journal.OfType<PolicyDecided>().Skip(1), d => d.Action is PolicyAction.MovePort m && m.Port == action.Port);
    }

    [Fact]
    public void Policy_settings_changed_at_run_time_are_validated_journaled_and_outlive_a_hand_over()
    {
        var c = TwoHosts();
        var bad = Answer<CoordinatorRequests.Refused>(c.Decide(new CoordinatorInputs.FromApi(new CoordinatorRequests.ConfigurePolicies(
            PolicySettings.Default with { PowerSaving = new PowerSavingSettings(Level: 9) }, "test"))));
        Assert.Equal(400, bad.Status);
        Assert.Contains("PowerSaving:Level", bad.Reason);
        Assert.False(c.State.PoliciesChangedAtRunTime);

        var wanted = PolicySettings.Default with { PowerSaving = new PowerSavingSettings(PolicyMode.Auto, 1), Interval = TimeSpan.FromSeconds(10) };
        var view = Answer<CoordinatorRequests.PoliciesView>(c.Decide(new CoordinatorInputs.FromApi(new CoordinatorRequests.ConfigurePolicies(wanted, "test"))));
        Assert.Equal(wanted, view.Settings);
        c.HandOver();
        Assert.Equal(wanted, c.State.Policies);
        Assert.True(c.State.PoliciesChangedAtRunTime);
    }

    [Fact]
    public void A_dry_run_says_what_a_policy_would_do_even_when_it_is_off_and_changes_nothing()
    {
        var c = TwoHosts(new PolicySettings(new LoadBalancingSettings(PolicyMode.Off), new PowerSavingSettings(PolicyMode.Off)));
        c.FromHost(Load(A, ("n1", 0.95), ("n2", 0.0), ("n3", 0.0)));
        c.FromHost(new PortChanged(A, new PortReport(new PortSpec(new PortId("p9")), [N1, N2], N1, false)));
        var journal = c.Journal.Count;

        var dry = Answer<CoordinatorRequests.DryRunView>(c.Decide(new CoordinatorInputs.FromApi(new CoordinatorRequests.DryRunPolicy(LoadBalancer.Name))));

        Assert.Equal(PolicyMode.Off, dry.Mode);
        Assert.Contains(dry.WouldDo, d => d.Action is PolicyAction.SwitchActive { Host.Value: "a" });
        Assert.Equal(journal, c.Journal.Count);
        var unknown = Answer<CoordinatorRequests.Refused>(c.Decide(new CoordinatorInputs.FromApi(new CoordinatorRequests.DryRunPolicy("nope"))));
        Assert.Equal(404, unknown.Status);
    }
}
