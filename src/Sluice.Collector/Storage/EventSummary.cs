using System.Text;
using Google.Protobuf;
using Sluice.Audit.Tables;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage;

/// <summary>The indexed, searchable columns of one stored event.</summary>
/// <remarks>
/// The canonical copy of an event, raw records included, is its protobuf <c>payload</c>; it
/// round-trips byte for byte. These columns exist to find events (by key, auid, syscall, record
/// type, exe, argv substring) and are text: bytes that are not UTF-8 become U+FFFD here, and so
/// does NUL (PostgreSQL text cannot hold it). node, first_type, syscall, key, exe and comm are
/// bounded (<see cref="IndexedText"/>); argv and paths are not indexed and are kept whole.
/// Match on them, then read the payload.
/// </remarks>
internal readonly record struct EventSummary(
    string? Node,
    string FirstType,
    string RecordTypes,
    string? Syscall,
    bool? Success,
    long? Exit,
    long? Pid,
    long? Ppid,
    long? Uid,
    long? Auid,
    long? Euid,
    long? Ses,
    string? Key,
    string? Exe,
    string? Comm,
    string? Argv,
    string? Paths)
{
    public static EventSummary From(Event e) => new(
        IndexedText.Bound(NullIfEmpty(e.Node)),
        IndexedText.Bound(e.FirstType.Length > 0 ? Sanitize(e.FirstType) : AuditMessageTypeTable.NameOrUnknown(e.Records[0].Type))!,
        RecordTypeList(e),
        IndexedText.Bound(NullIfEmpty(e.Syscall)),
        e.HasSuccess ? e.Success : null,
        e.HasExit ? e.Exit : null,
        e.HasPid ? e.Pid : null,
        e.HasPpid ? e.Ppid : null,
        e.HasUid ? e.Uid : null,
        e.HasAuid ? e.Auid : null,
        e.HasEuid ? e.Euid : null,
        e.HasSes ? e.Ses : null,
        IndexedText.Bound(SearchText(e.Key)),
        IndexedText.Bound(SearchText(e.Exe)),
        IndexedText.Bound(SearchText(e.Comm)),
        Join(e.Argv.Count > 0 ? e.Argv : e.Proctitle),
        PathList(e.Paths));

    /// <summary>"\n/etc/passwd\n/etc/passwd+\n": the PATH names, newline-fenced so LIKE '%\n/etc/passwd\n%' matches a whole name.</summary>
    private static string? PathList(Google.Protobuf.Collections.RepeatedField<ByteString> paths)
    {
        if (paths.Count == 0)
        {
            return null;
        }
        var sb = new StringBuilder("\n");
        foreach (var p in paths)
        {
            sb.Append(Encoding.UTF8.GetString(p.Span).Replace('\n', '\uFFFD')).Append('\n');
        }
        return Sanitize(sb.ToString());
    }

    // Most events repeat a handful of record type sequences and of key/exe/comm values: reuse
    // their strings instead of rebuilding them per event. Both caches stop growing at a fixed size.
    private const int MaxCached = 4096;
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> TypeLists = new(StringComparer.Ordinal);
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<ByteString, string> Texts = new();

    /// <summary>",SYSCALL,EXECVE,PATH," : distinct type names in record order, comma-fenced so LIKE '%,PATH,%' matches whole names.</summary>
    private static string RecordTypeList(Event e)
    {
        Span<char> key = stackalloc char[Math.Min(e.Records.Count, 64) * 2];
        int n = 0;
        foreach (var r in e.Records)
        {
            if (n == key.Length)
            {
                return BuildTypeList(e);
            }
            key[n++] = (char)(r.Type >> 16);
            key[n++] = (char)r.Type;
        }
        var lookup = TypeLists.GetAlternateLookup<ReadOnlySpan<char>>();
        if (lookup.TryGetValue(key[..n], out var cached))
        {
            return cached;
        }
        string built = BuildTypeList(e);
        if (TypeLists.Count < MaxCached)
        {
            TypeLists.TryAdd(new string(key[..n]), built);
        }
        return built;
    }

    private static string BuildTypeList(Event e)
    {
        var seen = new List<uint>(e.Records.Count);
        var sb = new StringBuilder(",");
        foreach (var r in e.Records)
        {
            if (!seen.Contains(r.Type))
            {
                seen.Add(r.Type);
                sb.Append(AuditMessageTypeTable.NameOrUnknown(r.Type)).Append(',');
            }
        }
        return sb.ToString();
    }

    private static string? NullIfEmpty(string s) => s.Length == 0 ? null : Sanitize(s);

    /// <summary>The text of bytes from the audited process, whole: not UTF-8 and NUL become U+FFFD.</summary>
    internal static string? SearchText(ByteString b)
    {
        if (b.IsEmpty)
        {
            return null;
        }
        if (Texts.TryGetValue(b, out var cached))
        {
            return cached;
        }
        string text = Sanitize(Encoding.UTF8.GetString(b.Span));
        if (b.Length <= 256 && Texts.Count < MaxCached)
        {
            Texts.TryAdd(b, text);
        }
        return text;
    }

    private static string? Join(Google.Protobuf.Collections.RepeatedField<ByteString> parts)
    {
        if (parts.Count == 0)
        {
            return null;
        }
        if (parts.Count == 1)
        {
            // Most often a single proctitle: cached like key, exe and comm.
            return SearchText(parts[0]) ?? "";
        }
        var sb = new StringBuilder();
        foreach (var p in parts)
        {
            if (sb.Length > 0)
            {
                sb.Append(' ');
            }
            sb.Append(Encoding.UTF8.GetString(p.Span));
        }
        return Sanitize(sb.ToString());
    }

    private static string Sanitize(string s) => s.Contains('\0') ? s.Replace('\0', '\uFFFD') : s;
}
