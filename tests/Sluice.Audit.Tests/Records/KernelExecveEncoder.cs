using System.Text;

namespace Sluice.Audit.Tests.Records;

/// <summary>
/// Writes argv as EXECVE records the way the kernel does (docs/kernel-audit.md, "Records and events"):
/// <c>argc=N</c> first; each argument quoted when it is plain, hex when it holds a byte ≤ 0x20, <c>"</c>
/// or ≥ 0x7f (audit_string_contains_control); an argument too long for one record is split into
/// <c>aN_len=L aN[0]=.. aN[1]=..</c> chunks; a new record starts when the current one is full.
/// </summary>
internal static class KernelExecveEncoder
{
    /// <summary>The kernel's MAX_EXECVE_AUDIT_LEN: the most field text per EXECVE record.</summary>
    public const int MaxExecveAuditLen = 7500;

    /// <summary>The field text of each EXECVE record for <paramref name="argv"/>.</summary>
    /// <param name="budget">Field text per record; smaller than the kernel's to force more splits in tests.</param>
    public static List<string> Encode(IReadOnlyList<byte[]> argv, int budget = MaxExecveAuditLen)
    {
        var records = new List<string>();
        var current = new StringBuilder($"argc={argv.Count}");
        void NewRecord()
        {
            records.Add(current.ToString());
            current.Clear();
        }
        for (int n = 0; n < argv.Count; n++)
        {
            byte[] arg = argv[n];
            bool encode = arg.Any(b => b < 0x21 || b == (byte)'"' || b > 0x7e);
            string whole = Value(arg, encode);
            string field = $" a{n}={whole}";
            if (field.Length <= budget)
            {
                if (current.Length + field.Length > budget)
                {
                    NewRecord();
                }
                current.Append(field);
                continue;
            }
            // too long for any record: split into chunks, each fitting what is left of a record
            int offset = 0;
            int chunk = 0;
            int lenField = encode ? arg.Length * 2 : arg.Length;
            string prefix = $" a{n}_len={lenField}";
            if (current.Length + prefix.Length + 32 > budget)
            {
                NewRecord();
            }
            current.Append(prefix);
            while (offset < arg.Length || chunk == 0)
            {
                string head = $" a{n}[{chunk}]=";
                int room = budget - current.Length - head.Length - (encode ? 0 : 2);
                if (room < 16)
                {
                    NewRecord();
                    continue;
                }
                int take = Math.Min(arg.Length - offset, encode ? room / 2 : room);
                current.Append(head).Append(Value(arg.AsSpan(offset, take).ToArray(), encode));
                offset += take;
                chunk++;
            }
        }
        if (current.Length > 0)
        {
            NewRecord();
        }
        return records;
    }

    private static string Value(byte[] arg, bool encode) =>
        encode ? Convert.ToHexString(arg) : "\"" + Encoding.ASCII.GetString(arg) + "\"";
}
