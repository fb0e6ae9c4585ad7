using System.Text;

namespace Sluice.Collector.Storage;

/// <summary>
/// The bound on the short text columns of events (<c>exe</c>, <c>key</c>, <c>syscall</c>, <c>first_type</c>,
/// which are indexed, and <c>comm</c> and <c>node</c>): a longer value keeps its first and last bytes around a marker.
/// </summary>
/// <remarks>
/// PostgreSQL refuses a btree entry larger than 2704 bytes (a third of a page) and fails the whole COPY with it
/// (SQLSTATE 54000), and a local user of a monitored host chooses the exe path, the comm and the working directory.
/// <see cref="MaxBytes"/> keeps every entry, text plus <c>time_ms</c> and headers, well inside that, and SQLite gets
/// the same values so that both stores answer searches alike. The exact copy of the event keeps the full bytes.
/// Both ends are kept so that a whole-path search (the bounded term equals the bounded column) and a program-name
/// search (the column ends with "/name"; a file name is at most 255 bytes, NAME_MAX) still find the event; the
/// search then checks the exact copy (<see cref="EventSearchSql"/>).
/// </remarks>
internal static class IndexedText
{
    /// <summary>Most UTF-8 bytes of a bounded column value.</summary>
    public const int MaxBytes = 1024;

    /// <summary>Between the two ends of a bounded value: U+2026 HORIZONTAL ELLIPSIS (3 bytes).</summary>
    public const string Marker = "\u2026";

    /// <summary>UTF-8 bytes kept from each end: (1024 - 3) / 2 = 510.</summary>
    public const int EndBytes = (MaxBytes - 3) / 2;

    /// <summary>
    /// <paramref name="text"/> itself when its UTF-8 is at most <see cref="MaxBytes"/>, otherwise its first and
    /// last <see cref="EndBytes"/> bytes (whole characters only) joined by <see cref="Marker"/>.
    /// </summary>
    public static string? Bound(string? text)
    {
        // Fewer than MaxBytes / 3 UTF-16 units cannot make more than MaxBytes bytes.
        if (text is null || text.Length <= MaxBytes / 3 || Encoding.UTF8.GetByteCount(text) <= MaxBytes)
        {
            return text;
        }
        int head = 0;
        for (int bytes = 0; ;)
        {
            Rune.DecodeFromUtf16(text.AsSpan(head), out var rune, out int chars);
            if (bytes + Utf8Length(rune) > EndBytes)
            {
                break;
            }
            bytes += Utf8Length(rune);
            head += chars;
        }
        int tail = text.Length;
        for (int bytes = 0; ;)
        {
            Rune.DecodeLastFromUtf16(text.AsSpan(0, tail), out var rune, out int chars);
            if (bytes + Utf8Length(rune) > EndBytes)
            {
                break;
            }
            bytes += Utf8Length(rune);
            tail -= chars;
        }
        return string.Concat(text.AsSpan(0, head), Marker, text.AsSpan(tail));
    }

    // A lone surrogate is written as U+FFFD (3 bytes) by Encoding.UTF8, and decoded as such here.
    private static int Utf8Length(Rune rune) => rune.Utf8SequenceLength;
}
