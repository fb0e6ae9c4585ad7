using System.Text;

namespace Sluice.Collector.Tests.Support;

/// <summary>Decodes a JSON string literal written with lone-surrogate escapes (\udc80..\udcff) back to the exact bytes.</summary>
public static class JsonBytes
{
    public static byte[] Decode(string literal)
    {
        if (literal.Length < 2 || literal[0] != '"' || literal[^1] != '"')
        {
            throw new FormatException("not a JSON string literal: " + literal);
        }
        var bytes = new List<byte>();
        var pending = new StringBuilder();
        void FlushText()
        {
            bytes.AddRange(Encoding.UTF8.GetBytes(pending.ToString()));
            pending.Clear();
        }
        for (int i = 1; i < literal.Length - 1; i++)
        {
            char c = literal[i];
            if (c != '\\')
            {
                pending.Append(c);
                continue;
            }
            char k = literal[++i];
            switch (k)
            {
                case 'n': pending.Append('\n'); break;
                case 'r': pending.Append('\r'); break;
                case 't': pending.Append('\t'); break;
                case 'b': pending.Append('\b'); break;
                case 'f': pending.Append('\f'); break;
                case 'u':
                    int code = Convert.ToInt32(literal.Substring(i + 1, 4), 16);
                    i += 4;
                    if (code is >= 0xDC80 and <= 0xDCFF)
                    {
                        FlushText();
                        bytes.Add((byte)(code - 0xDC00));
                    }
                    else
                    {
                        pending.Append((char)code);
                    }
                    break;
                default: pending.Append(k); break;
            }
        }
        FlushText();
        return [.. bytes];
    }
}
