using Sluice.Audit.Records;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Export;

/// <summary>One PATH record, read for the OCSF file object: the event's summary keeps only the names.</summary>
/// <param name="Name">The name as recorded (absolute, or relative to the cwd or a directory descriptor); never empty.</param>
/// <param name="NameType">PARENT, NORMAL, CREATE, DELETE, UNKNOWN; empty if the record has none.</param>
/// <param name="Mode">The inode's st_mode, when the record has one (no inode: the name did not resolve).</param>
/// <param name="Ouid">The inode's owner.</param>
/// <param name="Index">Position among the event's PATH records (parallel to <c>Event.paths</c>).</param>
internal sealed record PathItem(byte[] Name, string NameType, uint? Mode, uint? Ouid, int Index);

/// <summary>
/// The fields of a user-space record's <c>msg='...'</c> (USER_LOGIN, ADD_USER, ...): who the message is about
/// and from where. The event's summary keeps pid, uid, auid, ses, exe and res; these it does not.
/// </summary>
internal sealed class UserMessage
{
    /// <summary><c>acct=</c>: the account name (quoted, or hex when it holds unusual bytes).</summary>
    public byte[]? Acct { get; private set; }

    /// <summary><c>id=</c>: the account's uid.</summary>
    public uint? Id { get; private set; }

    /// <summary><c>hostname=</c> as written, unless <c>?</c>.</summary>
    public byte[]? Hostname { get; private set; }

    /// <summary><c>addr=</c> as written, unless <c>?</c>.</summary>
    public byte[]? Addr { get; private set; }

    /// <summary><c>terminal=</c> as written, unless <c>?</c>.</summary>
    public byte[]? Terminal { get; private set; }

    /// <summary><c>op=</c> as written (shadow-utils writes words: <c>op=adding user</c>).</summary>
    public byte[]? Op { get; private set; }

    /// <summary>The other fields of the message, in order, values as written (quotes removed): for <c>unmapped.msg</c>.</summary>
    public List<(string Key, byte[] Value)> Others { get; } = [];

    /// <summary>True when the message names an account (<c>acct=</c> or <c>id=</c>): an OCSF user.</summary>
    public bool HasUser => Acct is not null || Id is not null;

    /// <summary>Reads the <c>msg='...'</c> fields of <paramref name="record"/>; empty when it has none or does not parse.</summary>
    public static UserMessage Read(Record record)
    {
        var m = new UserMessage();
        if (!AuditRecordReader.TryCreate(record.Raw.Span, out _, out AuditRecordReader r))
        {
            return m;
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (r.Read())
        {
            if (!r.InMessage || !IsPlainKey(r.Key))
            {
                // fields outside msg='...' (pid, uid, auid, ses) are the summary's; odd keys stay in raw_data only
                continue;
            }
            string key = System.Text.Encoding.ASCII.GetString(r.Key);
            if (!seen.Add(key))
            {
                // a repeated field: the first one counts, as for the summary's fields
                continue;
            }
            ReadOnlySpan<byte> v = r.Value;
            // "?" is user space's "not known" (hostname=?, acct="?")
            bool unknown = v.SequenceEqual("?"u8);
            switch (key)
            {
                case "acct":
                    // libaudit writes acct quoted, or hex when the name needs it
                    m.Acct = unknown ? null : AuditValues.DecodeString(v, r.ValueKind);
                    break;
                case "id":
                    m.Id = AuditValues.TryParseUInt32(v, out uint id) && id != uint.MaxValue ? id : null;
                    if (m.Id is null && !unknown)
                    {
                        m.Others.Add((key, v.ToArray()));
                    }
                    break;
                case "hostname":
                    m.Hostname = unknown ? null : v.ToArray();
                    break;
                case "addr":
                    m.Addr = unknown ? null : v.ToArray();
                    break;
                case "terminal":
                    m.Terminal = unknown ? null : v.ToArray();
                    break;
                case "exe" or "res":
                    // in the summary already (exe, success)
                    break;
                case "op":
                    m.Op = v.ToArray();
                    m.Others.Add((key, m.Op));
                    break;
                default:
                    m.Others.Add((key, v.ToArray()));
                    break;
            }
        }
        return m;
    }

    // Field names are words; anything else (a hostile message's bytes) is not made a JSON key.
    private static bool IsPlainKey(ReadOnlySpan<byte> key)
    {
        if (key.IsEmpty || key.Length > 64)
        {
            return false;
        }
        foreach (byte b in key)
        {
            if (!(b is >= (byte)'a' and <= (byte)'z' or >= (byte)'A' and <= (byte)'Z' or >= (byte)'0' and <= (byte)'9' or (byte)'_' or (byte)'-' or (byte)'.'))
            {
                return false;
            }
        }
        return true;
    }
}

/// <summary>Reads what the OCSF mapping needs from an event's raw records.</summary>
internal static class OcsfRecords
{
    /// <summary>The event's PATH records that carry a name, in order.</summary>
    public static List<PathItem> Paths(Event e)
    {
        var items = new List<PathItem>();
        int index = 0;
        foreach (Record record in e.Records)
        {
            if (record.Type != (uint)Sluice.Audit.Tables.AuditMessageType.Path)
            {
                continue;
            }
            int at = index++;
            if (!AuditRecordReader.TryCreate(record.Raw.Span, out _, out AuditRecordReader r))
            {
                continue;
            }
            byte[]? name = null;
            string nameType = "";
            uint? mode = null, ouid = null;
            while (r.Read())
            {
                ReadOnlySpan<byte> k = r.Key;
                if (k.SequenceEqual("name"u8))
                {
                    name = AuditValues.DecodeString(r.Value, r.ValueKind);
                }
                else if (k.SequenceEqual("nametype"u8))
                {
                    nameType = System.Text.Encoding.ASCII.GetString(r.Value);
                }
                else if (k.SequenceEqual("mode"u8))
                {
                    mode = ParseOctal(r.Value);
                }
                else if (k.SequenceEqual("ouid"u8) && AuditValues.TryParseUInt32(r.Value, out uint o))
                {
                    ouid = o;
                }
            }
            if (name is { Length: > 0 })
            {
                items.Add(new PathItem(name, nameType, mode, ouid, at));
            }
        }
        return items;
    }

    /// <summary>The main record of an event without a SYSCALL record: its first (the one <c>first_type</c> names).</summary>
    public static Record? MainUserRecord(Event e) => e.Syscall.Length == 0 && e.Records.Count > 0 ? e.Records[0] : null;

    private static uint? ParseOctal(ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty || value.Length > 11)
        {
            return null;
        }
        uint mode = 0;
        foreach (byte b in value)
        {
            if (b is < (byte)'0' or > (byte)'7')
            {
                return null;
            }
            mode = (mode << 3) | (uint)(b - '0');
        }
        return mode;
    }
}
