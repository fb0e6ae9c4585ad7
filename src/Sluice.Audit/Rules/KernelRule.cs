using System.Buffers.Binary;
using static Sluice.Audit.Interop.Interop;

namespace Sluice.Audit.Rules;

/// <summary>
/// One rule in the kernel's binary form: a struct audit_rule_data followed by its string
/// buffer. This is what ADD_RULE/DEL_RULE take and LIST_RULES returns; two rules are the same
/// rule to the kernel exactly when these bytes are equal.
/// </summary>
public sealed class KernelRule : IEquatable<KernelRule>
{
    private readonly byte[] _data;

    private KernelRule(byte[] data) => _data = data;

    /// <summary>Wraps a copy of an audit_rule_data as the kernel sends or takes it.</summary>
    /// <exception cref="ArgumentException">The bytes are shorter than the struct, or buflen disagrees.</exception>
    public static KernelRule FromBytes(ReadOnlySpan<byte> data)
    {
        if (data.Length < AUDIT_RULE_DATA_SIZE)
        {
            throw new ArgumentException($"audit_rule_data needs {AUDIT_RULE_DATA_SIZE} bytes, got {data.Length}", nameof(data));
        }
        uint buflen = BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(1036));
        if (buflen > data.Length - AUDIT_RULE_DATA_SIZE)
        {
            throw new ArgumentException($"audit_rule_data buflen {buflen} exceeds the {data.Length - AUDIT_RULE_DATA_SIZE} bytes that follow", nameof(data));
        }
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(8));
        if (count > AUDIT_MAX_FIELDS)
        {
            throw new ArgumentException($"audit_rule_data field_count {count} exceeds {AUDIT_MAX_FIELDS}", nameof(data));
        }
        return new KernelRule(data.Slice(0, AUDIT_RULE_DATA_SIZE + (int)buflen).ToArray());
    }

    /// <summary>Builds a rule from its parts. Strings in <paramref name="buffer"/> are in field order.</summary>
    public static KernelRule Create(uint list, uint action, ReadOnlySpan<uint> mask,
        ReadOnlySpan<(uint Field, uint Op, uint Value)> fields, ReadOnlySpan<byte> buffer)
    {
        if (mask.Length > AUDIT_BITMASK_SIZE)
        {
            throw new ArgumentException($"mask has {mask.Length} words, at most {AUDIT_BITMASK_SIZE}", nameof(mask));
        }
        if (fields.Length > AUDIT_MAX_FIELDS)
        {
            throw new ArgumentException($"{fields.Length} fields, at most {AUDIT_MAX_FIELDS}", nameof(fields));
        }
        var data = new byte[AUDIT_RULE_DATA_SIZE + buffer.Length];
        var span = data.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(span, list);
        BinaryPrimitives.WriteUInt32LittleEndian(span.Slice(4), action);
        BinaryPrimitives.WriteUInt32LittleEndian(span.Slice(8), (uint)fields.Length);
        for (int i = 0; i < mask.Length; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(span.Slice(MaskOffset + 4 * i), mask[i]);
        }
        for (int i = 0; i < fields.Length; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(span.Slice(FieldsOffset + 4 * i), fields[i].Field);
            BinaryPrimitives.WriteUInt32LittleEndian(span.Slice(ValuesOffset + 4 * i), fields[i].Value);
            BinaryPrimitives.WriteUInt32LittleEndian(span.Slice(FieldFlagsOffset + 4 * i), fields[i].Op);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(span.Slice(1036), (uint)buffer.Length);
        buffer.CopyTo(span.Slice(AUDIT_RULE_DATA_SIZE));
        return new KernelRule(data);
    }

    private const int MaskOffset = 12;
    private const int FieldsOffset = 268;
    private const int ValuesOffset = 524;
    private const int FieldFlagsOffset = 780;

    /// <summary>The filter list (AUDIT_FILTER_*): user 0, task 1, exit 4, exclude 5, fs 6, io_uring 7.</summary>
    public uint List => U32(0);

    /// <summary>AUDIT_NEVER (0) or AUDIT_ALWAYS (2).</summary>
    public uint Action => U32(4);

    public int FieldCount => (int)U32(8);

    public uint Mask(int word) => U32(MaskOffset + 4 * word);

    public uint Field(int i) => U32(FieldsOffset + 4 * i);

    public uint Value(int i) => U32(ValuesOffset + 4 * i);

    /// <summary>The operator of field <paramref name="i"/> (AUDIT_EQUAL, AUDIT_NOT_EQUAL, ...).</summary>
    public uint Operator(int i) => U32(FieldFlagsOffset + 4 * i);

    /// <summary>The string buffer: the strings of string-valued fields, in field order, no NULs.</summary>
    public ReadOnlySpan<byte> Buffer => _data.AsSpan(AUDIT_RULE_DATA_SIZE);

    /// <summary>The exact bytes sent to or received from the kernel.</summary>
    public ReadOnlySpan<byte> Bytes => _data;

    /// <summary>The filter keys (AUDIT_FILTERKEY) of this rule; auditctl joins several with 0x01.</summary>
    public IReadOnlyList<string> Keys
    {
        get
        {
            var keys = new List<string>();
            int offset = 0;
            for (int i = 0; i < FieldCount; i++)
            {
                uint fieldId = Field(i);
                if (IsStringField(fieldId))
                {
                    int len = (int)Value(i);
                    if (offset + len > Buffer.Length)
                    {
                        break;
                    }
                    if (fieldId == AUDIT_FILTERKEY)
                    {
                        foreach (var k in System.Text.Encoding.UTF8.GetString(Buffer.Slice(offset, len)).Split('\x01'))
                        {
                            keys.Add(k);
                        }
                    }
                    offset += len;
                }
            }
            return keys;
        }
    }

    /// <summary>
    /// Fields whose value is a length into the string buffer (docs/kernel-audit.md, "Rules"):
    /// subj/obj LSM fields, watch, dir, filterkey, exe; fstype is numeric.
    /// </summary>
    public static bool IsStringField(uint field) => field switch
    {
        13 or 14 or 15 or 16 or 17 => true,          // AUDIT_SUBJ_USER..AUDIT_SUBJ_CLR
        19 or 20 or 21 or 22 or 23 => true,          // AUDIT_OBJ_USER..AUDIT_OBJ_LEV_HIGH
        105 or 107 or 112 => true,                    // AUDIT_WATCH, AUDIT_DIR, AUDIT_EXE
        AUDIT_FILTERKEY => true,
        _ => false,
    };

    private uint U32(int offset) => BinaryPrimitives.ReadUInt32LittleEndian(_data.AsSpan(offset));

    public bool Equals(KernelRule? other) => other is not null && _data.AsSpan().SequenceEqual(other._data);

    public override bool Equals(object? obj) => Equals(obj as KernelRule);

    public override int GetHashCode()
    {
        var h = new HashCode();
        h.AddBytes(_data);
        return h.ToHashCode();
    }
}
