using System.Text.Json;
using Replug.Harness.Tests.Support;
using Xunit.Abstractions;

namespace Replug.Harness.Tests;

/// <summary>
/// Planned hot plug and power saving on real processes: an operator's detach and attach of a port's
/// active NIC under the probe's traffic, and a NIC unplugged by the power-saving policy in auto
/// mode that comes back at once when the port's active NIC is pulled.
/// </summary>
public sealed class PlannedHotPlugTests(ClusterPool pool, ITestOutputHelper output) : HarnessTest(pool, output)
{
    private static string Nic(string device) => NicFaultTests.Nic(device);

    /// <summary>Sends the request and insists on <paramref name="expected"/>; the answer's body.</summary>
    private static async Task<JsonElement> RequestAsync(ReplugCluster cluster, HttpMethod method, string path, int expected, string? json = null)
    {
        var answer = await cluster.Api.SendAsync(method, path, json) ?? throw new HarnessException($"no coordinator answered {method} {path}");
        if (answer.Status != expected) throw new HarnessException($"{method} {path}: {answer.Status} {answer.Body}, not {expected}");
        return answer.Body;
    }

    /// <summary>Waits until the operation (by its id) is done; fails on a refusal or a lost host.</summary>
    private static async Task WaitOperationDoneAsync(ReplugCluster cluster, string id, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        string last = "not listed";
        while (DateTime.UtcNow < deadline)
        {
            var operations = await cluster.Api.JsonAsync("/operations");
            var op = operations?.GetProperty("operations").EnumerateArray().FirstOrDefault(o => o.GetProperty("id").GetString() == id);
            if (op is { ValueKind: JsonValueKind.Object } found)
            {
                last = found.GetProperty("status").GetString()!;
                if (last == "Done") return;
                if (last is "Refused" or "HostLost") throw new HarnessException($"operation {id}: {last}: {found.GetProperty("outcome")}");
            }
            await Task.Delay(100);
        }
        throw new HarnessException($"operation {id} not done within {timeout.TotalSeconds:0} s (last: {last})");
    }

    [HarnessFact]
    public Task A_planned_detach_of_the_active_NIC_under_traffic_loses_no_frame_and_its_attach_brings_it_back() => RunAsync(async cluster =>
    {
        var (port, host) = await NicFaultTests.PortWithStandbyAsync(cluster);
        var (preferred, standby) = (Nic(port.Members[0]), Nic(port.Members[1]));
        var (p, h) = (cluster.PortIndex(port.Port), cluster.HostIndex(host));
        await cluster.WaitEnslavedAsync(host, port.Port, [preferred], TimeSpan.FromSeconds(5));

        var detachAt = cluster.Timeline.Add($"operator: detach {preferred} on {host}");
        var detach = await RequestAsync(cluster, HttpMethod.Post, $"/hosts/{host}/devices/{preferred}/detach", 202, "{\"reason\": \"card swap\"}");
        await WaitOperationDoneAsync(cluster, detach.GetProperty("id").GetString()!, TimeSpan.FromSeconds(15));
        var doneAt = cluster.Timeline.Add($"detach of {preferred} done");

        // The kernel's word: the port's bridge holds the standby, the detached NIC's link is down, frames go on.
        await cluster.WaitEnslavedAsync(host, port.Port, [standby], TimeSpan.FromSeconds(5));
        Assert.False(await cluster.Topology.LinkUpAsync(host, preferred), $"{preferred} is still up after its detach");
        await cluster.WaitUntilAsync(() => cluster.Traffic.LastSeen(p, h) > doneAt + 500, $"{port.Port} forwards on {host} over {standby}", TimeSpan.FromSeconds(10));
        var (sent, lost) = cluster.Traffic.Lost(p, h, detachAt - 200, doneAt + 300);
        cluster.Timeline.Add($"detach: {lost} of {sent} frames of {port.Port} lost on {host} from 200 ms before the request to 300 ms after it was done");
        Assert.True(sent > 0, "the probe sent nothing across the detach");
        Assert.Equal(0, lost);

        var attachAt = cluster.Timeline.Add($"operator: attach {preferred} on {host}");
        var attach = await RequestAsync(cluster, HttpMethod.Post, $"/hosts/{host}/devices/{preferred}/attach", 202);
        await WaitOperationDoneAsync(cluster, attach.GetProperty("id").GetString()!, TimeSpan.FromSeconds(15));
        Assert.True(await cluster.Topology.LinkUpAsync(host, preferred), $"{preferred} is not up after its attach");
        // Revertive: the port takes its preferred NIC back.
        await cluster.WaitEnslavedAsync(host, port.Port, [preferred], TimeSpan.FromSeconds(10));
        await cluster.WaitUntilAsync(() => cluster.Traffic.LastSeen(p, h) > attachAt + 800, $"{port.Port} forwards on {host} over {preferred}", TimeSpan.FromSeconds(10));
        var (attachSent, attachLost) = cluster.Traffic.Lost(p, h, attachAt, attachAt + 700);
        cluster.Timeline.Add($"attach: {attachLost} of {attachSent} frames of {port.Port} lost on {host} in the 700 ms after the request (the port switches back to {preferred})");
        await cluster.WaitApiPortAsync(port.Port, a => a.Host == host && a.Forwarding && a.Active == $"net/{preferred}",
            $"{port.Port} forwarding over net/{preferred} again", TimeSpan.FromSeconds(10));

        foreach (var other in cluster.Hosts.Where(x => x.Name != host))
            Assert.False(cluster.Traffic.SeenBetween(p, cluster.HostIndex(other.Name), detachAt, cluster.Traffic.LastSentSlot),
                $"{port.Port} forwarded on {other.Name} though it never left {host}");
        Write($"planned detach: {lost} of {sent} frames lost; attach: {attachLost} of {attachSent}");
    }, NicFaultTests.HasPortWithStandby);

    /// <summary>Power saving on the harness's time scale, with no spare NIC kept: an idle port member is unplugged within seconds.</summary>
    private const string EagerPowerSaving = """
        {
          "interval": "00:00:01",
          "loadBalancing": { "mode": "Off" },
          "powerSaving": { "mode": "Auto", "level": 5, "lowFor": "00:00:02", "highFor": "00:00:02",
                           "reserve": { "spareNicsPerPort": 0, "spareHosts": 0 } }
        }
        """;

    private const string PoliciesAdvising = """{ "loadBalancing": { "mode": "Advise" }, "powerSaving": { "mode": "Advise" } }""";

    private static async Task<IReadOnlyList<(string Host, string Device, string By)>> UnpluggedAsync(ReplugCluster cluster) =>
        (await cluster.Api.JsonAsync("/policies"))?.GetProperty("unplugged").EnumerateArray()
            .Select(u => (u.GetProperty("host").GetString()!, u.GetProperty("device").GetString()!, u.GetProperty("by").GetString()!)).ToList() ?? [];

    [HarnessFact]
    public Task Power_saving_in_auto_unplugs_an_idle_NIC_and_pulling_the_ports_active_NIC_plugs_it_back_at_once_on_the_same_host() => RunAsync(async cluster =>
    {
        var (port, host) = await NicFaultTests.PortWithStandbyAsync(cluster);
        var (p, h) = (cluster.PortIndex(port.Port), cluster.HostIndex(host));
        var members = port.Members.Select(Nic).ToList();
        try
        {
            cluster.Timeline.Add("operator: power saving to auto (level 5, 2 s of low demand, no spare NIC kept)");
            await RequestAsync(cluster, HttpMethod.Put, "/policies", 200, EagerPowerSaving);
            var unplugged = "";
            await cluster.WaitUntilAsync(() =>
            {
                var found = UnpluggedAsync(cluster).GetAwaiter().GetResult().FirstOrDefault(u => u.Host == host && members.Contains(Nic(u.Device)));
                unplugged = found.Device is null ? "" : Nic(found.Device);
                return unplugged.Length > 0;
            }, $"power saving to unplug a member of {port.Port} on {host}", TimeSpan.FromSeconds(30));
            // Nothing more is unplugged while the fault is handled: what happens next is the fault's doing.
            await RequestAsync(cluster, HttpMethod.Put, "/policies", 200, PoliciesAdvising);
            var active = members.Single(m => m != unplugged);
            cluster.Timeline.Add($"power saving unplugged {unplugged} on {host}: {port.Port} runs on {active}");
            await cluster.WaitEnslavedAsync(host, port.Port, [active], TimeSpan.FromSeconds(10));
            Assert.False(await cluster.Topology.LinkUpAsync(host, unplugged), $"{unplugged} is still up after power saving unplugged it");
            await cluster.WaitUntilAsync(() => cluster.Traffic.LastSeen(p, h) > cluster.Now - 100, $"{port.Port} forwards on {host} over {active}", TimeSpan.FromSeconds(10));

            var pulledAt = await cluster.DeleteNicAsync(active);
            // A fault wins: the unplugged NIC comes back and the port takes it, on the same host, with no fail-over.
            await cluster.WaitEnslavedAsync(host, port.Port, [unplugged], TimeSpan.FromSeconds(15));
            await cluster.WaitUntilAsync(() => cluster.Traffic.LastSeen(p, h) > pulledAt + 500, $"{port.Port} forwards on {host} over {unplugged} again", TimeSpan.FromSeconds(15));
            // One frame a millisecond: the frames lost after the pull are the outage, in ms.
            var (sent, lost) = cluster.Traffic.Lost(p, h, pulledAt, pulledAt + 3000);
            cluster.Timeline.Add($"{port.Port} forwards on {host} over {unplugged} again: {lost} of {sent} frames lost in the 3 s after {active} was pulled");
            Assert.True(await cluster.Topology.LinkUpAsync(host, unplugged));
            foreach (var other in cluster.Hosts.Where(x => x.Name != host))
                Assert.False(cluster.Traffic.SeenBetween(p, cluster.HostIndex(other.Name), pulledAt, cluster.Traffic.LastSentSlot),
                    $"{port.Port} failed over to {other.Name} though its unplugged NIC could be plugged back");
            var decisions = await cluster.Api.RawAsync("/operations");
            Assert.Contains("fault wins", decisions);
            Write($"{port.Port}: back on {host} over {unplugged}; {lost} of {sent} frames lost after {active} was pulled");
            await cluster.RestoreNicAsync(active, host);
        }
        finally
        {
            // Leave the cluster as it was found: policies advising, every unplugged NIC back in service.
            await cluster.Api.SendAsync(HttpMethod.Put, "/policies", PoliciesAdvising);
            foreach (var (uHost, device, _) in await UnpluggedAsync(cluster))
                await cluster.Api.SendAsync(HttpMethod.Post, $"/hosts/{uHost}/devices/{Nic(device)}/attach");
            await cluster.WaitUntilAsync(() => UnpluggedAsync(cluster).GetAwaiter().GetResult().Count == 0, "every unplugged NIC attached again", TimeSpan.FromSeconds(30));
        }
        await cluster.WaitSettledAsync(TimeSpan.FromSeconds(30), "power saving and the pulled NIC");
    }, NicFaultTests.HasPortWithStandby);
}
