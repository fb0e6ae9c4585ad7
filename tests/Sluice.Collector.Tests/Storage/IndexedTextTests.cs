using System.Text;
using Sluice.Collector.Storage;

namespace Sluice.Collector.Tests.Storage;

public sealed class IndexedTextTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(IndexedText.MaxBytes)]
    public void Bound_AtMostMaxBytes_Unchanged(int bytes)
    {
        string text = new('a', bytes);

        Assert.Same(text, IndexedText.Bound(text));
    }

    [Fact]
    public void Bound_Null_Null() => Assert.Null(IndexedText.Bound(null));

    [Fact]
    public void Bound_OneByteOver_KeepsBothEndsAroundTheMarker()
    {
        string text = "/" + new string('x', IndexedText.MaxBytes - 5) + "/sudo";
        Assert.Equal(IndexedText.MaxBytes + 1, Encoding.UTF8.GetByteCount(text));

        string bounded = IndexedText.Bound(text)!;

        Assert.Equal(text[..510] + "\u2026" + text[^510..], bounded);
        Assert.Equal(1023, Encoding.UTF8.GetByteCount(bounded));
        Assert.EndsWith("/sudo", bounded);
    }

    [Fact]
    public void Bound_MultiByteCharacters_CutsOnlyBetweenCharacters()
    {
        // 'é' is 2 bytes, '€' 3, '😀' 4 (a surrogate pair): no cut may fall inside one.
        var sb = new StringBuilder();
        for (int i = 0; i < 2000; i++)
        {
            sb.Append((i % 3) switch { 0 => "é", 1 => "€", _ => "😀" });
        }
        string text = sb.ToString();

        string bounded = IndexedText.Bound(text)!;

        int marker = bounded.IndexOf('\u2026');
        string head = bounded[..marker];
        string tail = bounded[(marker + 1)..];
        Assert.StartsWith(head, text);
        Assert.EndsWith(tail, text);
        Assert.False(char.IsHighSurrogate(head[^1]));
        Assert.False(char.IsLowSurrogate(tail[0]));
        Assert.InRange(Encoding.UTF8.GetByteCount(head), 510 - 3, 510);
        Assert.InRange(Encoding.UTF8.GetByteCount(tail), 510 - 3, 510);
        Assert.InRange(Encoding.UTF8.GetByteCount(bounded), 1014, IndexedText.MaxBytes);
        // Bounding is a function: the same text always gives the same value, and a bounded value is left as it is.
        Assert.Equal(bounded, IndexedText.Bound(new string(text)));
        Assert.Same(bounded, IndexedText.Bound(bounded));
    }

    [Fact]
    public void Bound_ReplacementCharacters_CountedAsThreeBytesEach()
    {
        // Bytes that are not UTF-8 reach the columns as U+FFFD (EventSummary): 3 bytes each.
        string text = new('\uFFFD', 400);

        string bounded = IndexedText.Bound(text)!;

        Assert.Equal(new string('\uFFFD', 170) + "\u2026" + new string('\uFFFD', 170), bounded);
        Assert.Equal(1023, Encoding.UTF8.GetByteCount(bounded));
    }
}
