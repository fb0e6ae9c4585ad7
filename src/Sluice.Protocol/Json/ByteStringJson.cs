using System.Buffers;
using System.Text;

namespace Sluice.Protocol.Json;

/// <summary>
/// Writes arbitrary bytes as a JSON string so that they round-trip exactly, and reads them back.
/// </summary>
/// <remarks>
/// Encoding (Python's "surrogateescape"): valid UTF-8 is written as is (with JSON's usual escapes for
/// <c>"</c>, <c>\</c> and control characters); each byte that is not part of valid UTF-8 is written as
/// the lone surrogate escape <c>\udc80</c>..<c>\udcff</c> (0xDC00 + the byte). In Python,
/// <c>json.loads(line)["argv"][0].encode("utf-8", "surrogateescape")</c> gives the exact bytes; in .NET,
/// <see cref="TryDecode"/> does, from a <see cref="System.Text.Json.Utf8JsonReader"/>'s <c>ValueSpan</c>
/// (System.Text.Json refuses lone surrogates in <c>GetString()</c>).
/// </remarks>
public static class ByteStringJson
{
    private static readonly SearchValues<byte> NeedsCare = SearchValues.Create(BuildNeedsCare());

    /// <summary>Appends <paramref name="value"/> as a quoted JSON string literal.</summary>
    public static void WriteLiteral(ReadOnlySpan<byte> value, IBufferWriter<byte> output)
    {
        // worst case: every byte becomes \udcXX (6 bytes), plus the quotes
        Span<byte> dest = output.GetSpan((value.Length * 6) + 2);
        int d = 0;
        dest[d++] = (byte)'"';
        int i = 0;
        while (i < value.Length)
        {
            int run = value[i..].IndexOfAny(NeedsCare);
            if (run < 0)
            {
                run = value.Length - i;
            }
            value.Slice(i, run).CopyTo(dest[d..]);
            d += run;
            i += run;
            if (i >= value.Length)
            {
                break;
            }
            byte b = value[i];
            if (b >= 0x80)
            {
                if (Rune.DecodeFromUtf8(value[i..], out _, out int consumed) == OperationStatus.Done)
                {
                    value.Slice(i, consumed).CopyTo(dest[d..]);
                    d += consumed;
                    i += consumed;
                }
                else
                {
                    d += WriteEscape(0xDC00 + b, dest[d..]);
                    i++;
                }
                continue;
            }
            dest[d++] = (byte)'\\';
            switch (b)
            {
                case (byte)'"': dest[d++] = (byte)'"'; break;
                case (byte)'\\': dest[d++] = (byte)'\\'; break;
                case (byte)'\n': dest[d++] = (byte)'n'; break;
                case (byte)'\r': dest[d++] = (byte)'r'; break;
                case (byte)'\t': dest[d++] = (byte)'t'; break;
                case (byte)'\b': dest[d++] = (byte)'b'; break;
                case (byte)'\f': dest[d++] = (byte)'f'; break;
                default:
                    d--;
                    d += WriteEscape(b, dest[d..]);
                    break;
            }
            i++;
        }
        dest[d++] = (byte)'"';
        output.Advance(d);
    }

    /// <summary>
    /// Decodes the content of a JSON string (without its quotes, escapes still in place, as
    /// <c>Utf8JsonReader.ValueSpan</c> gives it) back to bytes.
    /// </summary>
    /// <returns>False if the content is not a valid JSON string, or holds a lone surrogate outside \udc80..\udcff.</returns>
    public static bool TryDecode(ReadOnlySpan<byte> escaped, out byte[] bytes)
    {
        var output = new ArrayBufferWriter<byte>(Math.Max(16, escaped.Length));
        bytes = [];
        int i = 0;
        while (i < escaped.Length)
        {
            int bs = escaped[i..].IndexOf((byte)'\\');
            int run = bs < 0 ? escaped.Length - i : bs;
            output.Write(escaped.Slice(i, run));
            i += run;
            if (i >= escaped.Length)
            {
                break;
            }
            if (i + 1 >= escaped.Length)
            {
                return false;
            }
            byte e = escaped[i + 1];
            i += 2;
            byte simple = e switch
            {
                (byte)'"' => (byte)'"',
                (byte)'\\' => (byte)'\\',
                (byte)'/' => (byte)'/',
                (byte)'n' => (byte)'\n',
                (byte)'r' => (byte)'\r',
                (byte)'t' => (byte)'\t',
                (byte)'b' => (byte)'\b',
                (byte)'f' => (byte)'\f',
                _ => 0,
            };
            if (simple != 0)
            {
                output.Write([simple]);
                continue;
            }
            if (e != (byte)'u' || !TryHex4(escaped, i, out int unit))
            {
                return false;
            }
            i += 4;
            if (unit is >= 0xD800 and <= 0xDBFF && i + 6 <= escaped.Length && escaped[i] == (byte)'\\' && escaped[i + 1] == (byte)'u'
                && TryHex4(escaped, i + 2, out int low) && low is >= 0xDC00 and <= 0xDFFF)
            {
                i += 6;
                WriteRune(new Rune((char)unit, (char)low), output);
            }
            else if (unit is >= 0xDC80 and <= 0xDCFF)
            {
                output.Write([(byte)(unit - 0xDC00)]);
            }
            else if (unit is >= 0xD800 and <= 0xDFFF)
            {
                return false;
            }
            else
            {
                WriteRune(new Rune(unit), output);
            }
        }
        bytes = output.WrittenSpan.ToArray();
        return true;
    }

    private static void WriteRune(Rune rune, ArrayBufferWriter<byte> output)
    {
        Span<byte> utf8 = stackalloc byte[4];
        int n = rune.EncodeToUtf8(utf8);
        output.Write(utf8[..n]);
    }

    private static bool TryHex4(ReadOnlySpan<byte> s, int at, out int value)
    {
        value = 0;
        if (at + 4 > s.Length)
        {
            return false;
        }
        for (int k = 0; k < 4; k++)
        {
            int c = s[at + k];
            int n = c is >= '0' and <= '9' ? c - '0' : (c | 0x20) is >= 'a' and <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
            if (n < 0)
            {
                return false;
            }
            value = (value << 4) | n;
        }
        return true;
    }

    private static int WriteEscape(int unit, Span<byte> dest)
    {
        const string hex = "0123456789abcdef";
        dest[0] = (byte)'\\';
        dest[1] = (byte)'u';
        dest[2] = (byte)hex[(unit >> 12) & 0xF];
        dest[3] = (byte)hex[(unit >> 8) & 0xF];
        dest[4] = (byte)hex[(unit >> 4) & 0xF];
        dest[5] = (byte)hex[unit & 0xF];
        return 6;
    }

    private static byte[] BuildNeedsCare()
    {
        var list = new List<byte>();
        for (int b = 0; b < 0x20; b++)
        {
            list.Add((byte)b);
        }
        list.Add((byte)'"');
        list.Add((byte)'\\');
        for (int b = 0x80; b < 0x100; b++)
        {
            list.Add((byte)b);
        }
        return [.. list];
    }
}
