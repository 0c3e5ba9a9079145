using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Replug.Ctl;

/// <summary>
/// replugctl's commands over the coordinator's HTTP API. Output goes to <paramref name="output"/>
/// (tables, or the API's JSON as it came with <c>--json</c>), problems to <paramref name="error"/>, each
/// with its exit code (<see cref="ExitCodes"/>). <paramref name="terminal"/>: the output is a terminal
/// (colours, its width); otherwise tables are written as wide as they need, for pipes and files.
/// </summary>
public sealed partial class Ctl(TextWriter output, TextWriter error, Func<string, string?> environment, string currentDirectory, bool terminal)
{
    public const string Name = "replugctl";

    private static readonly string[] Policies = ["load-balancing", "power-saving"];
    private static readonly string[] Modes = ["Off", "Advise", "Auto"];

    private readonly Option<string?> _url = new("--url")
    {
        Description = $"The coordinator's API (else {Connection.UrlVariable}, else {Connection.DefaultUrl})",
        Recursive = true,
    };
    private readonly Option<string?> _tokenFile = new("--token-file")
    {
        Description = $"A file holding the API's bearer token (else {Connection.TokenVariable}, else the file {Connection.TokenFileVariable} names, else ./data/api-token when it exists)",
        Recursive = true,
    };
    private readonly Option<bool> _json = new("--json")
    {
        Description = "Print the API's JSON as it comes (one JSON object per line with --follow), for scripts",
        Recursive = true,
    };

    /// <summary>Parses <paramref name="args"/> and runs the command; a usage error is exit code 2 with the problem on stderr.</summary>
    public async Task<int> Run(string[] args, CancellationToken ct)
    {
        var parsed = Commands().Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var problem in parsed.Errors) await error.WriteLineAsync($"{Name}: {problem.Message}");
            await error.WriteLineAsync($"Run '{Name} --help' for the commands, or '{Name} COMMAND --help' for one.");
            return ExitCodes.Usage;
        }
        // Ctrl-C is the caller's (ct): System.CommandLine's own handler would exit on its own terms.
        return await parsed.InvokeAsync(new InvocationConfiguration { Output = output, Error = error, ProcessTerminationTimeout = null }, ct);
    }

    private RootCommand Commands()
    {
        var root = new RootCommand($"""
            Operate a Replug cluster through its coordinator's HTTP API.

            {ExitCodes.Help}
            """);
        root.Add(_url);
        root.Add(_tokenFile);
        root.Add(_json);

        root.Add(Read("hosts", "Every host: status, drained, NICs, ports, fail-over capacity and load", "/hosts", Views.Hosts));
        var hostFilter = new Option<string?>("--host") { Description = "Only this host's NICs" };
        var devices = new Command("devices", "Every NIC of every host (or of --host)") { hostFilter };
        devices.SetAction((p, ct) => Call(p, ct, c => c.Get("/devices", ct), Views.Devices,
            transform: p.GetValue(hostFilter) is { } host ? body => Only(body, "devices", "host", host) : null));
        root.Add(devices);
        root.Add(Read("nics", "Every NIC identity and where it is", "/nics", Views.Nics));
        root.Add(Read("ports", "Every logical port: host, state, active device, fail-over", "/ports", Views.Ports));
        root.Add(Followable("failovers", "Fail-overs, newest first; --follow: each fail-over event as it happens", "/failovers", Views.Failovers,
            type => type.StartsWith("Failover", StringComparison.Ordinal)));
        root.Add(Followable("events", "The coordinator's recent events (--max, 1-1000); --follow: each new one as it happens", "/events", Views.Events,
            _ => true, withMax: true));
        var decisionsMax = MaxOption();
        var decisions = new Command("decisions", "The policies' verdicts, newest first") { decisionsMax };
        decisions.SetAction((p, ct) => Call(p, ct, c => c.Get(WithMax("/decisions", p.GetValue(decisionsMax)), ct), Views.Decisions));
        root.Add(decisions);
        root.Add(Read("operations", "Planned detach and attach operations, newest first", "/operations", Views.Operations));

        root.Add(HostChange("drain", "Take HOST out of fail-over placement", host => $"/hosts/{host}/drain"));
        root.Add(HostChange("undrain", "Put HOST back into fail-over placement", host => $"/hosts/{host}/undrain"));
        root.Add(Forget());
        root.Add(DeviceOperation("detach", "Take DEVICE out of service on HOST (its ports move to another member first)"));
        root.Add(DeviceOperation("attach", "Bring DEVICE back on HOST"));
        root.Add(Policy());
        root.Add(Migrate());
        return root;
    }

    // ---- the commands ------------------------------------------------------------------------

    private Command Read(string name, string description, string path, Func<JsonElement, IRenderable> view)
    {
        var command = new Command(name, description);
        command.SetAction((p, ct) => Call(p, ct, c => c.Get(path, ct), view));
        return command;
    }

    private Command Followable(string name, string description, string path, Func<JsonElement, IRenderable> view, Func<string, bool> wanted, bool withMax = false)
    {
        var follow = new Option<bool>("--follow", "-f") { Description = "Print each new event as a line (a JSON line with --json) until Ctrl-C" };
        var max = MaxOption();
        var command = new Command(name, description) { follow };
        if (withMax) command.Add(max);
        command.SetAction((p, ct) => p.GetValue(follow)
            ? Follow(p, wanted, ct)
            : Call(p, ct, c => c.Get(withMax ? WithMax(path, p.GetValue(max)) : path, ct), view));
        return command;
    }

    private Command HostChange(string name, string description, Func<string, string> path)
    {
        var host = HostArgument();
        var command = new Command(name, description) { host };
        command.SetAction((p, ct) => Call(p, ct, c => c.Post(path(Segment(p.GetRequiredValue(host))), null, ct), Views.Fields));
        return command;
    }

    private Command Forget()
    {
        var host = HostArgument();
        var command = new Command("forget", "Remove HOST (gone for good) from the coordinator's state: DELETE /hosts/HOST") { host };
        command.SetAction((p, ct) => Call(p, ct, c => c.Delete($"/hosts/{Segment(p.GetRequiredValue(host))}", ct), Views.Fields, refusal: r =>
            // No such route (an older coordinator): 405 for a method the path does not take, 404 for none at all.
            r.Status == 405 || (r.Status == 404 && Views.ErrorReason(r.Body).StartsWith("no such resource", StringComparison.Ordinal))
                ? $"this coordinator cannot forget hosts (it has no DELETE /hosts/{{host}}; answered {r.Status}): update it"
                : null));
        return command;
    }

    private Command DeviceOperation(string name, string description)
    {
        var host = HostArgument();
        var device = new Argument<string>("DEVICE") { Description = "eth1, net:eth1, pci:0000:03:00.0 or 0000:03:00.0" };
        var reason = new Option<string?>("--reason") { Description = "Why (recorded with the operation, at most 200 characters)" };
        var command = new Command(name, description) { host, device, reason };
        command.SetAction((p, ct) => Call(p, ct, c => c.Post($"/hosts/{Segment(p.GetRequiredValue(host))}/devices/{Segment(p.GetRequiredValue(device))}/{name}",
            p.GetValue(reason) is { } why ? JsonSerializer.Serialize(new Dictionary<string, string> { ["reason"] = why }) : null, ct), Views.OperationAccepted));
        return command;
    }

    private Command Policy()
    {
        var get = new Command("get", "Both policies' settings, hosts in standby, devices unplugged");
        get.SetAction((p, ct) => Call(p, ct, c => c.Get("/policies", ct), Views.Policies));

        var name = PolicyArgument();
        var mode = new Option<string?>("--mode") { Description = "Off, Advise or Auto" };
        mode.AcceptOnlyFromAmong(StringComparer.OrdinalIgnoreCase, Modes);
        var level = new Option<int?>("--level") { Description = "1 (gentle) to 5 (eager)" };
        var set = new Command("set", "Change a policy's mode and/or level (its other settings stay as they are)") { name, mode, level };
        set.SetAction((p, ct) => SetPolicy(p, p.GetRequiredValue(name), p.GetValue(mode), p.GetValue(level), ct));

        var dryName = PolicyArgument();
        var dryRun = new Command("dry-run", "What a policy would do now, with its reasons; changes nothing") { dryName };
        dryRun.SetAction((p, ct) => Call(p, ct, c => c.Post($"/policies/{p.GetRequiredValue(dryName)}/dry-run", null, ct), Views.DryRun));

        return new Command("policy", "The load-balancing and power-saving policies") { get, set, dryRun };
    }

    private Command Migrate()
    {
        var command = new Command("migrate", "Tell the coordinator about a live migration of a NIC between two registered hosts");
        foreach (var (name, phase, description) in new[]
        {
            ("announce", "start", "Before the VM moves: the NIC's removal on --from and arrival on --to are a migration, not a fault"),
            ("complete", "complete", "After the VM moved"),
            ("abort", "abort", "The migration was called off"),
        })
        {
            var nic = new Argument<string>("NIC") { Description = "As 'replugctl nics' shows it: PermanentMac:52:54:00:12:34:56, Mac:..., Pci:8086:10fb@0000:03:00.0" };
            var from = new Option<string>("--from") { Description = "The host the NIC leaves", Required = true };
            var to = new Option<string>("--to") { Description = "The host the NIC arrives on", Required = true };
            var sub = new Command(name, description) { nic, from, to };
            sub.SetAction((p, ct) => Call(p, ct, c => c.Post("/migrations", JsonSerializer.Serialize(new Dictionary<string, string>
            {
                ["nic"] = p.GetRequiredValue(nic), ["from"] = p.GetRequiredValue(from), ["to"] = p.GetRequiredValue(to), ["phase"] = phase,
            }), ct), Views.Fields));
            command.Add(sub);
        }
        return command;
    }

    private static Argument<string> HostArgument() => new("HOST") { Description = "The host's name, as 'replugctl hosts' shows it" };

    private static Argument<string> PolicyArgument()
    {
        var name = new Argument<string>("NAME") { Description = string.Join(" or ", Policies) };
        name.AcceptOnlyFromAmong(Policies);
        return name;
    }

    private static Option<int?> MaxOption() => new("--max") { Description = "How many, newest last (1-1000; the API's default: 100)" };

    private static string WithMax(string path, int? max) => max is { } n ? $"{path}?max={n}" : path;

    /// <summary>A value in a path segment: "net/eth1" stays one segment (the API takes it escaped).</summary>
    private static string Segment(string value) => Uri.EscapeDataString(value);

    /// <summary>The API's JSON with only the items of <paramref name="list"/> whose <paramref name="field"/> is <paramref name="value"/>.</summary>
    private static string Only(string body, string list, string field, string value)
    {
        using var document = JsonDocument.Parse(body);
        var kept = document.RootElement.GetProperty(list).EnumerateArray()
            .Where(item => item.TryGetProperty(field, out var f) && f.ValueKind == JsonValueKind.String && f.GetString() == value).ToList();
        return JsonSerializer.Serialize(new Dictionary<string, List<JsonElement>> { [list] = kept }, new JsonSerializerOptions { WriteIndented = true });
    }
}
