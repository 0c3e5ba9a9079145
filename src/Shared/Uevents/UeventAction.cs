namespace Replug.Shared.Uevents;

/// <summary>The kernel's kobject actions (lib/kobject_uevent.c, kobject_actions[]).</summary>
public enum UeventAction : byte
{
    Add,
    Remove,
    Change,
    Move,
    Online,
    Offline,
    Bind,
    Unbind,
}

public static class UeventActions
{
    public static bool TryParse(ReadOnlySpan<char> text, out UeventAction action)
    {
        switch (text)
        {
            case "add": action = UeventAction.Add; return true;
            case "remove": action = UeventAction.Remove; return true;
            case "change": action = UeventAction.Change; return true;
            case "move": action = UeventAction.Move; return true;
            case "online": action = UeventAction.Online; return true;
            case "offline": action = UeventAction.Offline; return true;
            case "bind": action = UeventAction.Bind; return true;
            case "unbind": action = UeventAction.Unbind; return true;
            default: action = default; return false;
        }
    }

    public static string ToKernelString(this UeventAction action) => action switch
    {
        UeventAction.Add => "add",
        UeventAction.Remove => "remove",
        UeventAction.Change => "change",
        UeventAction.Move => "move",
        UeventAction.Online => "online",
        UeventAction.Offline => "offline",
        UeventAction.Bind => "bind",
        UeventAction.Unbind => "unbind",
        _ => throw new ArgumentOutOfRangeException(nameof(action), action, null),
    };
}

/// <summary>Where an event came from; only kernel and replayed events carry a meaningful SEQNUM.</summary>
public enum UeventOrigin : byte
{
    Kernel,
    Replay,
    /// <summary>Synthesised from a sysfs rescan (start-up or after an overflow); SEQNUM is 0.</summary>
    Resync,
}
