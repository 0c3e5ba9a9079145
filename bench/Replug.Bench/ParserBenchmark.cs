using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using System.Text;
using Replug.Shared.Uevents;

namespace Replug.Bench;

/// <summary>
/// Throughput and allocations of <see cref="UeventParser.ParseKernelMessage"/> on one thread,
/// over the real kernel messages captured in tests/Shared.Tests/Uevents/Fixtures.
/// Goal: at least 2,000,000 events/s on one core, and no allocation per field.
/// </summary>
public static class ParserBenchmark
{
    private const double GoalEventsPerSecond = 2_000_000;

    public static Task<int> RunAsync(string[] args)
    {
        var runs = 7;
        var runSeconds = 1.0;
        var warmupSeconds = 3.0;
        string? fixtures = null;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--runs" when i + 1 < args.Length: runs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--seconds" when i + 1 < args.Length: runSeconds = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--warmup" when i + 1 < args.Length: warmupSeconds = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--fixtures" when i + 1 < args.Length: fixtures = args[++i]; break;
                default:
                    Console.Error.WriteLine("usage: parser [--runs N] [--seconds S] [--warmup S] [--fixtures DIR]");
                    return Task.FromResult(2);
            }
        }

        fixtures ??= FindFixtures();
        if (fixtures is null || !Directory.Exists(fixtures))
        {
            Console.Error.WriteLine("fixtures not found: run from the repository, or pass --fixtures tests/Shared.Tests/Uevents/Fixtures");
            return Task.FromResult(2);
        }

        var messages = Directory.GetFiles(fixtures, "*.bin").Order(StringComparer.Ordinal)
            .SelectMany(f => Split(File.ReadAllBytes(f)))
            .Where(m => UeventParser.ParseKernelMessage(m).IsAccepted)
            .ToArray();
        if (messages.Length == 0)
        {
            Console.Error.WriteLine($"no valid messages in {fixtures}");
            return Task.FromResult(2);
        }

        var meanBytes = messages.Average(m => m.Length);
        var meanFields = messages.Average(m => UeventParser.ParseKernelMessage(m).Event!.FieldCount);
        Console.WriteLine($"uevent parser: {messages.Length} real kernel messages from {fixtures}");
        Console.WriteLine($"  mean {meanBytes:F0} bytes, {meanFields:F1} fields; {Environment.ProcessorCount} CPUs, " +
                          $"{(GCSettings.IsServerGC ? "server" : "workstation")} GC, .NET {Environment.Version}");
        Console.WriteLine($"  {runs} runs of >= {runSeconds:F1} s after {warmupSeconds:F1} s warm-up, one thread");
        Console.WriteLine();

        // Throughput.
        Thread.CurrentThread.Priority = ThreadPriority.Highest;
        var parseOnly = Measure("parse", messages, ParseOnly, runs, runSeconds, warmupSeconds);
        var parseAndRead = Measure("parse + Subsystem, KernelName, IfIndex", messages, ParseAndRead, runs, runSeconds, warmupSeconds / 2);

        Console.WriteLine($"{"throughput (events/s)",-42} {"median",12} {"min",12} {"max",12}");
        foreach (var (name, rates) in new[] { parseOnly, parseAndRead })
            Console.WriteLine($"{name,-42} {Median(rates),12:N0} {rates.Min(),12:N0} {rates.Max(),12:N0}");
        Console.WriteLine();

        // Allocations: the real mix, and one message with few fields against one with many.
        var few = messages.Where(m => UeventParser.ParseKernelMessage(m).Event!.FieldCount <= 4).OrderBy(m => m.Length).First();
        var fewEvent = UeventParser.ParseKernelMessage(few).Event!;
        var many = Encoding.UTF8.GetBytes(
            $"add@{fewEvent.DevPath}\0ACTION=add\0DEVPATH={fewEvent.DevPath}\0SUBSYSTEM={fewEvent.Subsystem}\0" +
            string.Concat(Enumerable.Range(0, 36).Select(i => $"K{i}=v{i}\0")) + "SEQNUM=1\0");
        var manyEvent = UeventParser.ParseKernelMessage(many).Event!;

        Console.WriteLine($"{"allocation per event",-42} {"fields",6} {"bytes",6} {"B/event",8} {"string",7} {"fields[]",8} {"other",6}");
        var rows = new[]
        {
            ("real mix (cycled)", messages, meanFields, meanBytes),
            ($"real, few fields ({fewEvent.Subsystem})", new[] { few }, fewEvent.FieldCount, few.Length),
            ("synthetic, many fields", new[] { many }, manyEvent.FieldCount, many.Length),
        };
        var others = new List<double>();
        foreach (var (name, set, fields, bytes) in rows)
        {
            var perEvent = AllocatedPerEvent(set);
            // The parser's own allocations: the message as one string, one array of field
            // offsets, and the event. Only the first two grow with the message.
            var stringBytes = set.Average(m => StringSize(Encoding.UTF8.GetCharCount(m)));
            var arrayBytes = set.Average(m => ArraySize(UeventParser.ParseKernelMessage(m).Event!.FieldCount, 16));
            var other = perEvent - stringBytes - arrayBytes;
            others.Add(other);
            Console.WriteLine($"{name,-42} {fields,6:F1} {bytes,6:F0} {perEvent,8:F1} {stringBytes,7:F1} {arrayBytes,8:F1} {other,6:F1}");
        }
        Console.WriteLine("  string = the message text (one per event); fields[] = one offsets array (16 B a field); other = the rest");
        Console.WriteLine();

        var median = Median(parseOnly.Rates);
        var constant = others.Max() - others.Min() < 1;
        Console.WriteLine($"goal >= {GoalEventsPerSecond:N0} events/s on one thread: {(median >= GoalEventsPerSecond ? "met" : "MISSED")} ({median:N0})");
        Console.WriteLine($"no allocation per field (fixed part the same for {fewEvent.FieldCount} and {manyEvent.FieldCount} fields): {(constant ? "met" : "MISSED")}");
        return Task.FromResult(median >= GoalEventsPerSecond && constant ? 0 : 1);
    }

    private static ulong ParseOnly(byte[] message) => UeventParser.ParseKernelMessage(message).Event!.SeqNum;

    private static ulong ParseAndRead(byte[] message)
    {
        var e = UeventParser.ParseKernelMessage(message).Event!;
        return e.SeqNum + (ulong)e.Subsystem.Length + (ulong)e.KernelName.Length + (ulong)(e.IfIndex ?? 0);
    }

    private static (string Name, double[] Rates) Measure(string name, byte[][] messages, Func<byte[], ulong> parse,
        int runs, double runSeconds, double warmupSeconds)
    {
        ulong sink = 0;
        var warmup = Stopwatch.StartNew();
        while (warmup.Elapsed.TotalSeconds < warmupSeconds)
            foreach (var m in messages) sink += parse(m);

        var rates = new double[runs];
        for (var r = 0; r < runs; r++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            long count = 0;
            var clock = Stopwatch.StartNew();
            do
            {
                for (var k = 0; k < 64; k++)
                    foreach (var m in messages) sink += parse(m);
                count += 64L * messages.Length;
            } while (clock.Elapsed.TotalSeconds < runSeconds);
            rates[r] = count / clock.Elapsed.TotalSeconds;
        }
        if (sink == 42) Console.Write(""); // keep the results alive
        return (name, rates);
    }

    private static double AllocatedPerEvent(byte[][] messages)
    {
        const int rounds = 20_000;
        ulong sink = 0;
        foreach (var m in messages) sink += ParseOnly(m); // warm
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var r = 0; r < rounds; r++)
            foreach (var m in messages) sink += ParseOnly(m);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        if (sink == 42) Console.Write("");
        return (double)allocated / ((long)rounds * messages.Length);
    }

    // 64-bit object sizes: header + method table, then the payload, rounded up to 8 bytes.
    private static double StringSize(int chars) => Align(8 + 8 + 4 + 2 * (chars + 1));
    private static double ArraySize(int length, int elementSize) => Align(8 + 8 + 8 + length * elementSize);
    private static double Align(int bytes) => (bytes + 7) & ~7;

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string? FindFixtures()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "tests", "Shared.Tests", "Uevents", "Fixtures");
                if (Directory.Exists(candidate)) return candidate;
            }
        }
        return null;
    }

    /// <summary>Splits concatenated wire messages: a message starts at a token with '@' before any '='.</summary>
    private static IEnumerable<byte[]> Split(byte[] data)
    {
        var messages = new List<byte[]>();
        int start = -1, pos = 0;
        while (pos < data.Length)
        {
            var end = Array.IndexOf(data, (byte)0, pos);
            var tokenEnd = end < 0 ? data.Length : end;
            var token = data.AsSpan(pos, tokenEnd - pos);
            var at = token.IndexOf((byte)'@');
            var eq = token.IndexOf((byte)'=');
            if (at > 0 && (eq < 0 || at < eq))
            {
                if (start >= 0) messages.Add(data[start..pos]);
                start = pos;
            }
            pos = tokenEnd + 1;
        }
        if (start >= 0) messages.Add(data[start..]);
        return messages;
    }
}
