namespace Replug.Shared.Uevents;

/// <summary>Why a message was not accepted as a kernel uevent. Each is logged once and counted.</summary>
public enum UeventRejection : byte
{
    None = 0,
    Empty,
    /// <summary>Over <see cref="UeventParser.MaxMessageBytes"/>: no kernel message is that large.</summary>
    TooLarge,
    InvalidUtf8,
    /// <summary>A libudev message ("libudev\0" magic) or other non-kernel format.</summary>
    NotKernelFormat,
    /// <summary>No "ACTION@DEVPATH" header first.</summary>
    MissingHeader,
    /// <summary>A field without '=' or with an empty key.</summary>
    MalformedField,
    /// <summary>More than <see cref="UeventParser.MaxFields"/> fields: the kernel sends at most 64.</summary>
    TooManyFields,
    /// <summary>One of the keys the kernel writes once (ACTION, DEVPATH, SUBSYSTEM, SEQNUM, ...) appears twice.</summary>
    DuplicateKey,
    MissingAction,
    UnknownAction,
    HeaderActionMismatch,
    MissingDevPath,
    /// <summary>DEVPATH not absolute, or with "." / ".." segments, NULs or control characters.</summary>
    InvalidDevPath,
    HeaderDevPathMismatch,
    MissingSubsystem,
    MissingSeqNum,
    InvalidSeqNum,
    InvalidIfIndex,
    /// <summary>A udev (not kernel) event in a udevadm capture.</summary>
    NotKernelEvent,
    /// <summary>A NUL inside a text capture, where the kernel format cannot have one.</summary>
    EmbeddedNul,
}
