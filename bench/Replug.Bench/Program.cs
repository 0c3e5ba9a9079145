using Replug.Bench;

// Subcommands: adding one is one line here.
BenchCluster.UseBenchLogging();

var commands = new Dictionary<string, (string Description, Func<string[], Task<int>> Run)>(StringComparer.Ordinal)
{
    ["parser"] = ("uevent parser throughput and allocations on real kernel messages", ParserBenchmark.RunAsync),
    ["failover"] = ("local fail-over latency on the real kernel (veths on a bridge in a fresh netns)", FailoverBenchmark.RunAsync),
    ["storm"] = ("uevent storm: thousands of veths created and deleted; overflows, resync, memory", StormBenchmark.RunAsync),
    ["memory"] = ("the agent as its own process: RSS idle, with 10,000 devices, peak, after they leave; the start-up scan timed (root)", MemoryBenchmark.RunAsync),
    ["crosshost"] = ("cross-host fail-over: lost host -> ports attached elsewhere (in-process cluster, SQLite)", CrossHostBenchmark.RunAsync),
    ["handover"] = ("coordinator singleton hand-over: hard stop -> new instance recovered from SQLite", HandoverBenchmark.RunAsync),
    ["simulate"] = ("deterministic simulation of the fail-over protocol: seeds, steps, faults, violations", SimulationBenchmark.RunAsync),
    ["harness-failover"] = ("kill -9 of an agent -> its ports forward elsewhere, measured on traffic (real processes, root)", HarnessBenchmarks.FailoverAsync),
    ["harness-random"] = ("seeded randomized faults on real processes: faults, frames checked, violations (root)", HarnessBenchmarks.RandomAsync),
    ["lease-renewal"] = ("the kernel lease's renewal: netlink batch vs an nft process, per renewal (root)", LeaseRenewalBenchmark.RunAsync),
    ["policies"] = ("load balancing and power saving over a simulated day of a 50-host cluster, against no policy and a naive rule", PolicyDayBenchmark.RunAsync),
    ["switch-latency"] = ("a local switch seen from outside: Replug's agent vs a C reactor, a script and a udev rule, interleaved (root)", SwitchLatencyBenchmark.RunAsync),
    ["unplug-loss"] = ("traffic through a port while its NIC is hot-unplugged: frames lost, outage; Replug vs a udev rule and a C reactor (root)", UnplugLossBenchmark.RunAsync),
    ["migrations"] = ("NIC moves per second: the pure tracker and the coordinator end-to-end with SQLite", MigrationsBenchmark.RunAsync),
};

if (args.Length == 0 || args[0] is "-h" or "--help" or "help" || !commands.TryGetValue(args[0], out var command))
{
    var error = args.Length > 0 && args[0] is not ("-h" or "--help" or "help");
    var writer = error ? Console.Error : Console.Out;
    if (error) writer.WriteLine($"unknown benchmark '{args[0]}'");
    writer.WriteLine("usage: dotnet run -c Release --project bench/Replug.Bench -- <benchmark> [options]");
    writer.WriteLine();
    writer.WriteLine("benchmarks:");
    foreach (var (name, (description, _)) in commands.OrderBy(c => c.Key, StringComparer.Ordinal))
        writer.WriteLine($"  {name,-17} {description}");
    return error || args.Length == 0 ? 2 : 0;
}

return await command.Run(args[1..]);
