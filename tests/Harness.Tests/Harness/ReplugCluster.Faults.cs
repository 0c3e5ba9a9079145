namespace Replug.Harness;

/// <summary>The faults the harness injects, each stamped on the timeline (the probe's clock) when it takes effect.</summary>
public sealed partial class ReplugCluster
{
    /// <summary>kill -9 of a host's agent; with <paramref name="hold"/> it stays dead until <see cref="StartAgent"/> (a host that crashed), else the supervisor restarts it.</summary>
    public async Task<int> KillAgentAsync(string host, bool hold = true)
    {
        var at = Timeline.Add($"FAULT kill -9 agent {host}{(hold ? " (stays down)" : " (restarted by the supervisor)")}");
        await Agent(host).KillAsync(hold);
        return at;
    }

    /// <summary>Starts a held agent again (or lets the supervisor keep it running).</summary>
    public int StartAgent(string host)
    {
        var at = Timeline.Add($"start agent {host}");
        Agent(host).Start();
        return at;
    }

    /// <summary>SIGSTOP: the agent hangs (a paused VM, a stuck process); its kernel state stays as it is.</summary>
    public int PauseAgent(string host)
    {
        var at = Timeline.Add($"FAULT SIGSTOP agent {host}");
        if (!Agent(host).Signal(Native.SIGSTOP)) throw new HarnessException($"agent {host} is not running: cannot SIGSTOP it");
        return at;
    }

    public int ResumeAgent(string host)
    {
        var at = Timeline.Add($"SIGCONT agent {host}");
        Agent(host).Signal(Native.SIGCONT);
        return at;
    }

    public async Task<int> KillCoordinatorAsync(string name, bool hold = true)
    {
        var at = Timeline.Add($"FAULT kill -9 coordinator {name}{(hold ? " (stays down)" : "")}");
        await Coordinator(name).Process.KillAsync(hold);
        return at;
    }

    public int StartCoordinator(string name)
    {
        var at = Timeline.Add($"start coordinator {name}");
        Coordinator(name).Process.Start();
        return at;
    }

    /// <summary>The NIC is pulled: its veth is deleted (a surprise removal).</summary>
    public async Task<int> DeleteNicAsync(string nic)
    {
        var at = Timeline.Add($"FAULT NIC {nic} removed from {Topology.WhereIs(nic)}");
        await Topology.DeleteNicAsync(nic);
        return at;
    }

    public async Task<int> RestoreNicAsync(string nic, string host)
    {
        var at = Timeline.Add($"NIC {nic} back on {host}");
        await Topology.RestoreNicAsync(nic, host);
        return at;
    }

    /// <summary>The NIC's identity as the coordinator knows it (a veth given its address: "Mac:...").</summary>
    public string NicIdentity(string nic) => $"Mac:{Topology.MacOf(nic)}";

    /// <summary>
    /// A live migration of <paramref name="nic"/> to <paramref name="toHost"/>: announced (POST
    /// /migrations start, the move, complete) or not (the coordinator pairs the removal and the add).
    /// </summary>
    public async Task<int> MigrateNicAsync(string nic, string toHost, bool announced)
    {
        var from = Topology.WhereIs(nic) ?? throw new HarnessException($"{nic} is deleted: it cannot migrate");
        if (announced && !await Api.MigrationAsync(NicIdentity(nic), from, toHost, "start"))
            throw new HarnessException($"no coordinator accepted the migration start of {nic}");
        var at = Timeline.Add($"FAULT NIC {nic} migrated {from} -> {toHost}{(announced ? " (announced)" : " (not announced)")}");
        await Topology.MoveNicAsync(nic, toHost);
        if (announced && !await Api.MigrationAsync(NicIdentity(nic), from, toHost, "complete"))
            throw new HarnessException($"no coordinator accepted the migration complete of {nic}");
        return at;
    }

    /// <summary>The host loses the management network (nftables drops in its namespace); its NICs keep their traffic.</summary>
    public async Task<int> IsolateHostAsync(string host)
    {
        var at = Timeline.Add($"FAULT partition: {host} cut off from the management network");
        await Topology.IsolateAsync(host);
        return at;
    }

    public async Task<int> UnisolateHostAsync(string host)
    {
        var at = Timeline.Add($"partition of {host} healed");
        await Topology.UnisolateAsync(host);
        return at;
    }

    /// <summary>Only the traffic between two agents is dropped; both still reach the coordinators and the other agents.</summary>
    public async Task<int> CutAsync(string a, string b)
    {
        var at = Timeline.Add($"FAULT asymmetric partition: {a} <-> {b} dropped");
        await Topology.CutAsync(a, b);
        return at;
    }

    public async Task<int> UncutAsync(string a, string b)
    {
        var at = Timeline.Add($"partition {a} <-> {b} healed");
        await Topology.UncutAsync(a, b);
        return at;
    }

    /// <summary>Every agent and coordinator stopped at once (SIGTERM, or kill -9 with <paramref name="crash"/>), then all started again.</summary>
    public async Task<int> RestartEverythingAsync(bool crash)
    {
        var at = Timeline.Add($"FAULT restart of every process ({(crash ? "kill -9" : "SIGTERM")})");
        var all = _agents.Values.Concat(_coordinators.Select(c => c.Process)).ToList();
        if (crash) await Task.WhenAll(all.Select(p => p.KillAsync(hold: true)));
        else await Task.WhenAll(all.Select(p => p.StopAsync(TimeSpan.FromSeconds(20))));
        Timeline.Add("every process has exited; starting them again");
        foreach (var c in _coordinators)
        {
            c.Process.Start();
            await c.Process.WaitRunningAsync(TimeSpan.FromSeconds(10));
        }
        foreach (var agent in _agents.Values) agent.Start();
        return at;
    }

    /// <summary>
    /// Waits until every agent's readiness (<c>/health/ready</c>: its cluster membership is Up) has
    /// held for a gossip round. The coordinator's GET /hosts can say Up from its journal while a
    /// restarted agent is still joining; a fault then met with agents not yet Up everywhere leaves
    /// keep-majority counting too few members on the majority side, and it downs itself (Akka's
    /// rule, a double fault during a membership change, not the scenario under test). Bounded and
    /// never failing: a readiness that does not come is noted in the timeline, and the test goes on.
    /// </summary>
    public async Task WaitAgentsMembersUpAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        DateTime? allReadySince = null;
        while (DateTime.UtcNow < deadline)
        {
            var ready = true;
            foreach (var host in Hosts)
            {
                try { ready &= (await http.GetAsync($"http://{host.Address}:9464/health/ready")).IsSuccessStatusCode; }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { ready = false; }
            }
            if (!ready) allReadySince = null;
            else if ((allReadySince ??= DateTime.UtcNow) <= DateTime.UtcNow - TimeSpan.FromSeconds(1.5)) return;
            await Task.Delay(100);
        }
        Timeline.Add($"not every agent was ready (member Up) within {timeout.TotalSeconds:0} s; going on");
    }

    /// <summary>Polls the API until <paramref name="host"/> has <paramref name="status"/> (Up, Unreachable, Down; several: "Unreachable|Down").</summary>
    public async Task WaitHostStatusAsync(string host, string status, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var wanted = status.Split('|');
        while (true)
        {
            var hosts = await Api.HostsAsync();
            if (hosts?.FirstOrDefault(h => h.Host == host)?.Status is { } now && wanted.Contains(now)) return;
            if (DateTime.UtcNow > deadline)
                throw new HarnessException($"{host} is not {status} in GET /hosts after {timeout.TotalSeconds:0} s " +
                    $"(it is {hosts?.FirstOrDefault(h => h.Host == host)?.Status ?? "not listed"})");
            await Task.Delay(100);
        }
    }

    /// <summary>Polls the kernel until exactly <paramref name="nics"/> are enslaved to <paramref name="port"/>'s bridge on <paramref name="host"/>.</summary>
    public async Task WaitEnslavedAsync(string host, string port, IReadOnlyList<string> nics, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        IReadOnlyList<string> now = [];
        while (true)
        {
            now = await Topology.EnslavedAsync(host, port);
            if (now.Order().SequenceEqual(nics.Order())) return;
            if (DateTime.UtcNow > deadline)
                throw new HarnessException($"on {host}, br-{port} holds [{string.Join(", ", now)}], not [{string.Join(", ", nics)}], after {timeout.TotalSeconds:0} s");
            await Task.Delay(50);
        }
    }

    /// <summary>Polls <c>GET /ports</c> until <paramref name="port"/> satisfies <paramref name="condition"/>; returns how the API listed it.</summary>
    public async Task<ApiPort> WaitApiPortAsync(string port, Func<ApiPort, bool> condition, string what, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        ApiPort? last = null;
        while (true)
        {
            last = (await Api.PortsAsync())?.FirstOrDefault(p => p.Port == port) ?? last;
            if (last is not null && condition(last)) return last;
            if (DateTime.UtcNow > deadline)
                throw new HarnessException($"the API did not show {what} within {timeout.TotalSeconds:0} s (last: {last?.ToString() ?? "nothing"})");
            await Task.Delay(100);
        }
    }

    /// <summary>Ends whatever faults are left: partitions, stopped or held processes, removed NICs (back where they were).</summary>
    public async Task HealAsync()
    {
        Timeline.Add("healing whatever faults are left");
        await Topology.HealAllAsync();
        foreach (var host in Hosts)
        {
            Agent(host.Name).Signal(Native.SIGCONT);
            if (!Agent(host.Name).Running) Agent(host.Name).Start();
        }
        foreach (var c in _coordinators) if (!c.Process.Running) c.Process.Start();
        foreach (var (nic, where) in Topology.NicLocations)
            if (where is null && Topology.LastHostOf(nic) is { } host) await RestoreNicAsync(nic, host);
    }
}
