namespace Sluice.Audit.Records;

/// <summary>How a field's value was written in the record.</summary>
public enum AuditValueKind : byte
{
    /// <summary>Unquoted: a number, a word, or the hex form of a string (which one depends on the field).</summary>
    Unquoted,
    /// <summary><c>"quoted"</c>: the text between the quotes, taken as is.</summary>
    Quoted,
    /// <summary><c>(null)</c>: the kernel had no value.</summary>
    Null,
}

/// <summary>Why a record was rejected.</summary>
public enum AuditParseError : byte
{
    None,
    /// <summary>No <c>audit(SEC.MSEC:SERIAL):</c> header where one must be.</summary>
    BadHeader,
    /// <summary>A <c>"</c> with no closing quote.</summary>
    UnterminatedQuote,
    /// <summary>A log line with no (or an unknown) <c>type=</c>.</summary>
    BadType,
    /// <summary>An empty line, or one over the size limit.</summary>
    BadLength,
}

/// <summary>
/// Forward-only reader of the <c>key=value</c> fields of one audit record, in place over its bytes,
/// in the manner of <see cref="System.Text.Json.Utf8JsonReader"/>: nothing is allocated; <see cref="Key"/>
/// and <see cref="Value"/> are slices of the input.
/// </summary>
/// <remarks>
/// It reads the three value forms the kernel writes (<c>"quoted"</c>, unquoted words and hex, <c>(null)</c>),
/// the fields inside a user-space record's <c>msg='...'</c> envelope (reported with
/// <see cref="InMessage"/> set; the <c>msg</c> field itself is not reported), and stops at auditd's
/// ENRICHED separator (0x1d). Words with no <c>=</c> (as in <c>op=adding group</c>, written by shadow-utils)
/// extend the unquoted value before them; leading words with no <c>=</c> (an AVC's
/// <c>avc:  denied  { read } for</c>) are skipped, and stay in the raw text.
/// </remarks>
public ref struct AuditRecordReader
{
    /// <summary>auditd's separator between the kernel text and its interpreted fields (log_format = ENRICHED).</summary>
    public const byte EnrichedSeparator = 0x1d;

    private readonly ReadOnlySpan<byte> _text;
    private int _position;
    private bool _inMessage;
    private int _peekStart;
    private int _peekStop;

    /// <summary>Reads the fields of <paramref name="fields"/>, which holds no header.</summary>
    public AuditRecordReader(ReadOnlySpan<byte> fields)
    {
        int gs = fields.IndexOf(EnrichedSeparator);
        _text = gs < 0 ? fields : fields[..gs];
        _position = 0;
        _inMessage = false;
        _peekStart = -1;
        _peekStop = 0;
        Key = default;
        Value = default;
        ValueKind = AuditValueKind.Unquoted;
        InMessage = false;
        Error = AuditParseError.None;
    }

    /// <summary>The current field's name.</summary>
    public ReadOnlySpan<byte> Key { get; private set; }

    /// <summary>The current field's value; for <see cref="AuditValueKind.Quoted"/>, without the quotes.</summary>
    public ReadOnlySpan<byte> Value { get; private set; }

    public AuditValueKind ValueKind { get; private set; }

    /// <summary>True for the fields inside a user-space record's <c>msg='...'</c>.</summary>
    public bool InMessage { get; private set; }

    /// <summary>The text not read yet: after the current field's value (and any field peeked at).</summary>
    internal readonly ReadOnlySpan<byte> Remaining => _position < _text.Length ? _text[_position..] : default;

    /// <summary>Set when <see cref="Read"/> returned false because the text is malformed.</summary>
    public AuditParseError Error { get; private set; }

    /// <summary>Reads a record's kernel text (<c>audit(SEC.MSEC:SERIAL): fields</c>): its header and a reader for its fields.</summary>
    public static bool TryCreate(ReadOnlySpan<byte> kernelText, out AuditRecordHeader header, out AuditRecordReader reader)
    {
        if (!AuditRecordHeader.TryParse(kernelText, out header))
        {
            reader = default;
            return false;
        }
        reader = new AuditRecordReader(kernelText[header.FieldsStart..]);
        return true;
    }

    /// <summary>Moves to the next field. False at the end, or on malformed text (<see cref="Error"/> says which).</summary>
    public bool Read()
    {
        ReadOnlySpan<byte> text = _text;
        int p = _position;
        while (true)
        {
            while (p < text.Length && text[p] == (byte)' ')
            {
                p++;
            }
            if (p >= text.Length)
            {
                _position = p;
                return false;
            }
            if (_inMessage && text[p] == (byte)'\'')
            {
                // end of the msg='...' envelope; anything after it is more top-level fields
                _inMessage = false;
                p++;
                continue;
            }
            // keys are short: a scalar scan beats a vectorized search here
            int k = p == _peekStart ? _peekStop : ScanKey(text, p);
            if (k >= text.Length || text[k] != (byte)'=' || k == p)
            {
                // a word that is not key=value (an AVC's "avc:  denied  { read } for"): skip it
                p = TokenEnd(text, k);
                continue;
            }
            Key = text[p..k];
            int v = k + 1;
            InMessage = _inMessage;
            if (v < text.Length && text[v] == (byte)'"')
            {
                int close = text[(v + 1)..].IndexOf((byte)'"');
                if (close < 0)
                {
                    Error = AuditParseError.UnterminatedQuote;
                    _position = text.Length;
                    return false;
                }
                Value = text.Slice(v + 1, close);
                ValueKind = AuditValueKind.Quoted;
                _position = v + 1 + close + 1;
                return true;
            }
            if (!_inMessage && v < text.Length && text[v] == (byte)'\'' && Key.SequenceEqual("msg"u8))
            {
                _inMessage = true;
                p = v + 1;
                continue;
            }
            int end = TokenEnd(text, v);
            // words with no '=' after an unquoted value belong to it ("op=adding group acct=...")
            while (true)
            {
                int q = end;
                while (q < text.Length && text[q] == (byte)' ')
                {
                    q++;
                }
                if (q >= text.Length || text[q] == (byte)'"' || (_inMessage && text[q] == (byte)'\''))
                {
                    break;
                }
                int stop = ScanKey(text, q);
                if (stop < text.Length && text[stop] == (byte)'=')
                {
                    // the next field; remember where its key ends so the next Read does not scan it again
                    _peekStart = q;
                    _peekStop = stop;
                    break;
                }
                end = TokenEnd(text, stop);
            }
            Value = text[v..end];
            ValueKind = Value.Length == 6 && Value.SequenceEqual("(null)"u8) ? AuditValueKind.Null : AuditValueKind.Unquoted;
            _position = end;
            return true;
        }
    }

    // Index of the first '=', space or (inside msg='...') quote at or after start; text.Length if none.
    private readonly int ScanKey(ReadOnlySpan<byte> text, int start)
    {
        int i = start;
        if (_inMessage)
        {
            while (i < text.Length && text[i] is not ((byte)'=' or (byte)' ' or (byte)'\''))
            {
                i++;
            }
        }
        else
        {
            while (i < text.Length && text[i] is not ((byte)'=' or (byte)' '))
            {
                i++;
            }
        }
        return i;
    }

    /// <summary>Reads fields until one named <paramref name="key"/>; false if there is none.</summary>
    public bool TryFind(ReadOnlySpan<byte> key)
    {
        while (Read())
        {
            if (Key.SequenceEqual(key))
            {
                return true;
            }
        }
        return false;
    }

    // A token ends at a space, at the end, or (inside msg='...') at the closing quote.
    private readonly int TokenEnd(ReadOnlySpan<byte> text, int start)
    {
        // most values are short numbers: look at the first bytes one by one, then search vectorized
        int limit = Math.Min(text.Length, start + 16);
        int j = start;
        if (_inMessage)
        {
            for (; j < limit; j++)
            {
                if (text[j] is (byte)' ' or (byte)'\'')
                {
                    return j;
                }
            }
        }
        else
        {
            for (; j < limit; j++)
            {
                if (text[j] == (byte)' ')
                {
                    return j;
                }
            }
        }
        if (j >= text.Length)
        {
            return text.Length;
        }
        ReadOnlySpan<byte> rest = text[j..];
        int i = _inMessage ? rest.IndexOfAny((byte)' ', (byte)'\'') : rest.IndexOf((byte)' ');
        return i < 0 ? text.Length : j + i;
    }
}
