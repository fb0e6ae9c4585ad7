using Google.Protobuf;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage;

/// <summary>
/// The event columns of schema 9 that come from the agent's process context (<see cref="Event.Context"/>): the context
/// whole, and what search and the report filter on.
/// </summary>
/// <remarks>
/// <para>
/// <c>context</c> holds the <see cref="ProcessContext"/> protobuf bytes exactly as the agent sent them (NULL when the
/// event has none, as every event stored before schema 9). The exact copy of the event (<see cref="EventChunks"/>)
/// holds it too; the column lets the dashboard and the report read it without the chunk.
/// </para>
/// <para>
/// A field is set only when its state is KNOWN (the agent never guesses; see events.proto): <c>parent_exe</c> and
/// <c>parent_pid</c> from <c>parent</c>, <c>container_id</c> and <c>container_runtime</c> from <c>container</c>,
/// <c>unit</c>. <c>parent_chain</c> is the ancestry as one text, farthest first (<see cref="Chain"/>), for the
/// privileged-commands report to group on. Texts are bounded as the other indexed texts (<see cref="IndexedText"/>),
/// with bytes that are not UTF-8 and NUL as U+FFFD.
/// </para>
/// <para>
/// A token holder chooses the context. It is bounded at ingest: an event whose context encodes to more than
/// <see cref="MaxContextBytes"/> is refused with its batch (<see cref="Check"/>, INVALID_ARGUMENT).
/// </para>
/// </remarks>
internal static class ContextColumns
{
    /// <summary>
    /// The most bytes an event's context may take, encoded: 64 KiB. The agent's defaults (8 ancestors, 32 arguments of
    /// at most 1024 bytes for the parent, paths of at most 4096 bytes) stay far below it.
    /// </summary>
    public const int MaxContextBytes = 64 * 1024;

    /// <summary>Between two levels of <c>parent_chain</c>.</summary>
    public const string Arrow = " \u2192 ";

    /// <summary>A level of the chain the agent's table did not know.</summary>
    public const string Unknown = "unknown";

    /// <summary>Why the event's context cannot be stored, or null when it can (or there is none).</summary>
    public static string? Check(Event e)
    {
        if (e.Context is not ProcessContext c)
        {
            return null;
        }
        int size = c.CalculateSize();
        return size > MaxContextBytes ? $"context is {size} bytes, limit {MaxContextBytes}" : null;
    }

    /// <summary>The parent's exe as the agent knew it, or empty.</summary>
    public static ByteString ParentExe(ProcessContext? c) =>
        c is { ParentState: ContextState.Known, Parent: ProcessRef p } ? p.Exe : ByteString.Empty;

    /// <summary>The parent's pid, when the agent knew the parent.</summary>
    public static bool HasParentPid(ProcessContext? c, out long pid)
    {
        if (c is { ParentState: ContextState.Known, Parent: ProcessRef p })
        {
            pid = p.Pid;
            return true;
        }
        pid = 0;
        return false;
    }

    /// <summary>The container the agent recognised, or null (none known, or known to be none).</summary>
    public static Container? ContainerOf(ProcessContext? c) =>
        c is { ContainerState: ContextState.Known, Container: Container k } ? k : null;

    /// <summary>The systemd unit the agent knew, or null.</summary>
    public static string? UnitOf(ProcessContext? c) =>
        c is { UnitState: ContextState.Known } && c.Unit.Length > 0 ? c.Unit : null;

    /// <summary>A text column's value of an agent-chosen string: null when empty, bounded, NUL as U+FFFD.</summary>
    public static string? Text(string? s) =>
        string.IsNullOrEmpty(s) ? null : IndexedText.Bound(s.Contains('\0') ? s.Replace('\0', '\uFFFD') : s);

    /// <summary>
    /// The process's ancestry as one text, the farthest ancestor first and the parent last, joined by
    /// <see cref="Arrow"/>: <c>/usr/sbin/sshd → /usr/bin/bash</c>. A level the agent did not know is
    /// <see cref="Unknown"/> (and the chain stops there); a chain cut by the agent's depth limit starts with <c>…</c>.
    /// Null when the event has no context, or its parent was not looked up; <see cref="Unknown"/> when the parent
    /// was looked up and not found.
    /// </summary>
    public static string? Chain(ProcessContext? c)
    {
        if (c is null || c.ParentState == ContextState.Unset)
        {
            return null;
        }
        if (c.ParentState == ContextState.Unknown || c.Parent is null)
        {
            return Unknown;
        }
        var levels = new List<string>();
        if (c.Ancestry.Count == 0)
        {
            levels.Add(Name(c.Parent.Exe));
        }
        foreach (Ancestor a in c.Ancestry)
        {
            levels.Add(a.Unknown ? Unknown : Name(a.Exe));
        }
        if (c.AncestryTruncated)
        {
            levels.Add("\u2026");
        }
        levels.Reverse();
        return string.Join(Arrow, levels);
    }

    private static string Name(ByteString exe) => exe.IsEmpty ? "?" : EventSummary.SearchText(exe)!;

    /// <summary>The context's protobuf bytes, as the agent sent them (a message re-encodes the fields it holds in number order).</summary>
    public static int Size(ProcessContext c) => c.CalculateSize();

    /// <summary>Writes the context's bytes into <paramref name="destination"/>, which is <see cref="Size"/> long.</summary>
    public static void Encode(ProcessContext c, Span<byte> destination) => c.WriteTo(destination);

    /// <summary>A context read back from its column.</summary>
    public static ProcessContext Decode(byte[] bytes) => ProcessContext.Parser.ParseFrom(bytes);
}
