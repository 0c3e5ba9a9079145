namespace Replug.Shared.Hosting;

/// <summary>
/// A Replug program's command line: settings (<c>--Section:Key=value</c> or <c>--Section:Key value</c>),
/// the program's flags (no value) and its switches (<c>--replay FILE</c>). Anything else would be
/// read as a setting nobody reads ("--standalon"), and a switch or setting with no value would be
/// silently left at its default ("--replay" alone reading the real kernel), so both are refused.
/// </summary>
public static class CommandLine
{
    /// <param name="switchProblem">Why a switch may not be used here (null: it may).</param>
    public static IReadOnlyList<string> Check(IReadOnlyList<string> args, IReadOnlyCollection<string> flags, IReadOnlyCollection<string> switches,
        Func<string, string?>? switchProblem = null)
    {
        var errors = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (flags.Contains(arg)) continue;
            var equals = arg.IndexOf('=');
            var key = equals < 0 ? arg : arg[..equals];
            if (switches.Contains(key))
            {
                if (switchProblem?.Invoke(key) is { } problem) errors.Add(problem);
            }
            else if (!(key.StartsWith("--", StringComparison.Ordinal) && key.Contains(':')))
            {
                errors.Add($"'{arg}' is not an option ({string.Join(", ", flags.Concat(switches))}) nor a setting (--Replug:Section:Key=value)");
                continue;
            }
            if (equals >= 0) continue;
            // "--key value": the value is the next argument, which must be there and not another option.
            if (i + 1 >= args.Count || (args[i + 1].StartsWith("--", StringComparison.Ordinal) && args[i + 1].Length > 2))
                errors.Add($"{key} needs a value ({key} VALUE or {key}=VALUE)");
            else i++;
        }
        return errors;
    }
}
