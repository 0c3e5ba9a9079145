using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Replug.Agent.Hosting;
using Replug.Agent.Linux;
using Replug.Coordinator.Hosting;

namespace Replug.Coordinator.Tests;

/// <summary>
/// Every configuration example of the README, loaded as the executables load them: the program's
/// appsettings.json, then the example (a JSON block, a command line, or settings quoted in the
/// text), through the real binder and every options class's validation. An example an operator
/// copies must start the program.
/// </summary>
public sealed partial class ReadmeExamplesTests
{
    private static readonly Lazy<IReadOnlyDictionary<string, ReadmeExample>> All = new(ReadmeExample.Parse);

    public static TheoryData<string> Examples() => [.. All.Value.Keys];

    [Theory, MemberData(nameof(Examples))]
    public void Every_configuration_example_of_the_README_loads(string example)
    {
        var problems = All.Value[example].Problems();
        Assert.True(problems.Count == 0, $"{example}:\n{All.Value[example].Text}\n=> {string.Join("\n=> ", problems)}");
    }

    [Fact]
    public void The_README_has_examples_of_every_kind()
    {
        var kinds = All.Value.Values.GroupBy(e => e.Kind).ToDictionary(g => g.Key, g => g.Count());
        Assert.True(kinds.GetValueOrDefault(ExampleKind.Json) >= 2, string.Join(", ", kinds));
        Assert.True(kinds.GetValueOrDefault(ExampleKind.AgentCommand) >= 2, string.Join(", ", kinds));
        Assert.True(kinds.GetValueOrDefault(ExampleKind.CoordinatorCommand) >= 3, string.Join(", ", kinds));
        Assert.True(kinds.GetValueOrDefault(ExampleKind.Settings) >= 3, string.Join(", ", kinds));
        Assert.Contains(All.Value.Values, e => e.ExpectedErrors.Count > 0);
    }

    public enum ExampleKind { Json, AgentCommand, CoordinatorCommand, Settings }

    /// <summary>One example, where the README has it, and what the README says it prints when it is a bad one.</summary>
    public sealed partial record ReadmeExample(int Line, ExampleKind Kind, string Text, IReadOnlyList<string> Arguments,
        IReadOnlyList<string> ExpectedErrors, bool ForCoordinator, bool Standalone)
    {
        private static string RepositoryRoot()
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "README.md")) && File.Exists(Path.Combine(dir.FullName, "Cluster.sln")))
                    return dir.FullName;
            throw new InvalidOperationException($"no repository above {AppContext.BaseDirectory}");
        }

        private static string AppSettings(bool coordinator) =>
            Path.Combine(RepositoryRoot(), "src", coordinator ? "Coordinator" : "Agent", "appsettings.json");

        /// <summary>The first JSON block of the agent: what settings quoted in the text modify.</summary>
        private static string? _agentExample;

        public static IReadOnlyDictionary<string, ReadmeExample> Parse()
        {
            var lines = File.ReadAllLines(Path.Combine(RepositoryRoot(), "README.md"));
            var found = new List<ReadmeExample>();
            for (var i = 0; i < lines.Length; i++)
            {
                if (!lines[i].StartsWith("```", StringComparison.Ordinal))
                {
                    foreach (Match span in InlineCode().Matches(lines[i])) AddInline(found, i + 1, span.Groups[1].Value);
                    continue;
                }
                var language = lines[i][3..].Trim();
                var start = i + 1;
                var end = Array.FindIndex(lines, start, l => l.StartsWith("```", StringComparison.Ordinal));
                var block = lines[start..end];
                i = end;
                if (language == "json" && block.Any(l => l.Contains("\"Replug\"")))
                {
                    var json = string.Join("\n", block).Trim();
                    if (!json.StartsWith('{')) json = "{" + json + "}";
                    _agentExample ??= json.Contains("\"Agent\"") ? json : null;
                    found.Add(new ReadmeExample(start, ExampleKind.Json, json, [], [], json.Contains("\"Coordinator\""), false));
                }
                else if (language is "bash" or "")
                {
                    AddCommands(found, start, block);
                }
            }
            return found.ToDictionary(e => $"README.md:{e.Line} {e.Kind}");
        }

        /// <summary>`dotnet run --project src/…` lines (continued with '\'), and a `$ ` line with the output the README shows under it.</summary>
        private static void AddCommands(List<ReadmeExample> found, int firstLine, string[] block)
        {
            for (var j = 0; j < block.Length; j++)
            {
                var line = firstLine + j;
                var text = new StringBuilder(block[j]);
                while (text.ToString().TrimEnd().EndsWith('\\') && j + 1 < block.Length)
                {
                    text.Length = text.ToString().TrimEnd().Length - 1;
                    text.Append(' ').Append(block[++j]);
                }
                var command = text.ToString().Trim();
                var prompted = command.StartsWith("$ ", StringComparison.Ordinal);
                if (prompted) command = command[2..];
                var expected = new List<string>();
                if (prompted)
                    for (var k = j + 1; k < block.Length && !block[k].StartsWith("$ ", StringComparison.Ordinal); k++)
                        if (block[k].IndexOf("bad configuration: ", StringComparison.Ordinal) is var at and >= 0)
                            expected.Add(block[k][(at + "bad configuration: ".Length)..]);
                if (AsCommand(line, command, expected) is { } example) found.Add(example);
            }
        }

        private static void AddInline(List<ReadmeExample> found, int line, string code)
        {
            // Placeholders and fragments of keys ("--Replug:Section:KEY=VALUE", "REPLUG__…") are no examples.
            if (code.Contains('…') || code.Contains("KEY=VALUE") || code.Contains('<')) return;
            if (AsCommand(line, code, []) is { } command)
            {
                found.Add(command);
                return;
            }
            var words = Words(code);
            if (words.Count == 0) return;
            if (words.All(w => w.StartsWith("--Replug:", StringComparison.Ordinal)))
            {
                var coordinator = words.Any(w => w.StartsWith("--Replug:Coordinator:", StringComparison.Ordinal));
                found.Add(new ReadmeExample(line, ExampleKind.Settings, code, words, [], coordinator, coordinator));
            }
            else if (words.All(w => w.StartsWith("REPLUG__", StringComparison.Ordinal) && w.Contains('=')))
            {
                // An environment variable: "__" separates the sections, as the configuration's environment source reads it.
                string[] arguments = [.. words.Select(w => "--" + w[..w.IndexOf('=')].Replace("__", ":") + w[w.IndexOf('=')..])];
                var coordinator = arguments.Any(a => a.StartsWith("--REPLUG:COORDINATOR:", StringComparison.OrdinalIgnoreCase));
                found.Add(new ReadmeExample(line, ExampleKind.Settings, code, arguments, [], coordinator, coordinator));
            }
        }

        private static ReadmeExample? AsCommand(int line, string command, IReadOnlyList<string> expected)
        {
            var words = Words(command);
            var project = words.IndexOf("--project");
            if (words.Take(3).All(w => w != "dotnet") || !words.Contains("run") || project < 0 || project + 1 >= words.Count) return null;
            var target = words[project + 1].TrimEnd('/');
            if (target is not ("src/Agent" or "src/Coordinator")) return null;
            var separator = words.IndexOf("--", project);
            List<string> arguments = separator < 0 ? [] : words[(separator + 1)..];
            var coordinator = target == "src/Coordinator";
            return new ReadmeExample(line, coordinator ? ExampleKind.CoordinatorCommand : ExampleKind.AgentCommand, command,
                arguments, expected, coordinator, coordinator && arguments.Contains(CoordinatorHost.StandaloneFlag));
        }

        /// <summary>A shell's words: quotes removed, a word starting with '#' ends the line.</summary>
        private static List<string> Words(string command)
        {
            var words = new List<string>();
            var word = new StringBuilder();
            var inWord = false;
            char? quote = null;
            foreach (var c in command)
            {
                if (quote is { } q)
                {
                    if (c == q) quote = null;
                    else word.Append(c);
                }
                else if (c is '"' or '\'')
                {
                    quote = c;
                    inWord = true;
                }
                else if (char.IsWhiteSpace(c))
                {
                    if (inWord) words.Add(word.ToString());
                    word.Clear();
                    inWord = false;
                }
                else if (c == '#' && !inWord)
                {
                    break;
                }
                else
                {
                    word.Append(c);
                    inWord = true;
                }
            }
            if (inWord) words.Add(word.ToString());
            return words;
        }

        /// <summary>The problems the program would name at start; the environment's own (the demo's namespace, a sysfs mount) left out.</summary>
        public IReadOnlyList<string> Problems()
        {
            var builder = new ConfigurationBuilder().AddJsonFile(AppSettings(ForCoordinator), optional: false);
            if (Kind == ExampleKind.Json) builder.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(Text)));
            if (Kind == ExampleKind.Settings && !ForCoordinator && _agentExample is { } agent)
                builder.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(agent)));
            var settings = Arguments.Where(a => a != CoordinatorHost.StandaloneFlag).ToArray();
            builder.AddCommandLine(settings, AgentHost.Switches);
            var configuration = builder.Build();

            var problems = new List<string>();
            if (ForCoordinator)
            {
                problems.AddRange(CoordinatorHost.CheckArguments(settings, Standalone));
                problems.AddRange(CoordinatorHost.CheckConfiguration(configuration, Standalone, out _, out _, out _));
            }
            else
            {
                problems.AddRange(AgentHost.CheckConfiguration(configuration, out _, out _));
            }
            var environment = EnvironmentProblems(configuration);
            var left = problems.Where(p => !environment.Contains(p)).ToList();
            if (ExpectedErrors.Count == 0) return left;
            // A bad example: it must fail exactly as the README shows.
            return [.. ExpectedErrors.Where(e => !left.Contains(e)).Select(e => $"the README shows '{e}', the program says: {string.Join("; ", left)}")];
        }

        /// <summary>What a valid example reports on a machine that lacks what it names: the demo's namespace, its sysfs mount.</summary>
        private static HashSet<string> EnvironmentProblems(IConfiguration configuration)
        {
            var missing = new HashSet<string>();
            if (configuration[$"{AgentOptions.Section}:NetworkNamespace"] is { } ns && Shared.Devices.DeviceNames.IsSafe(ns)
                && !File.Exists(Path.Combine(NetworkNamespace.RunDirectory, ns)))
                missing.Add($"{AgentOptions.Section}:NetworkNamespace: '{ns}' is not a network namespace in {NetworkNamespace.RunDirectory}");
            if (configuration[$"{AgentOptions.Section}:SysfsRoot"] is { } root && !Directory.Exists(root))
                missing.Add($"{AgentOptions.Section}:SysfsRoot: '{root}' does not exist");
            // An example's certificates (/etc/replug/tls/…) are the operator's, not this machine's.
            var tls = new Shared.Hosting.ClusterTlsOptions();
            configuration.GetSection(Shared.Hosting.ClusterTlsOptions.Section).Bind(tls);
            if (new[] { tls.Certificate, tls.Key, tls.Authority }.Any(f => f is not null && !File.Exists(f)))
                missing.UnionWith(tls.Validate());
            // A token file of an example (/etc/replug/ops.token) is the operator's, not this machine's.
            var tokens = configuration.GetSection($"{Replug.Coordinator.Api.ApiAccessOptions.Section}:Tokens").GetChildren();
            foreach (var token in tokens)
                if (token["File"] is { } file && !File.Exists(file))
                    missing.Add($"{Replug.Coordinator.Api.ApiAccessOptions.Section}:Tokens:{token.Key}:File: {Replug.Coordinator.Api.ApiAccessOptions.ReadTokenFile(file).Problem}");
            return missing;
        }

        [GeneratedRegex("`([^`]+)`")]
        private static partial Regex InlineCode();
    }
}
