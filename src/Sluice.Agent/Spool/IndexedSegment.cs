namespace Sluice.Agent.Spool;

/// <summary>
/// A segment file as the index knows it: its published entries in sequence order, how many of
/// them are done with (acknowledged, set aside or dropped), and whether the writer has moved on
/// to a newer segment. Guarded by the <see cref="SpoolIndex"/> lock once the index holds it.
/// </summary>
internal sealed class IndexedSegment(SegmentFile file, bool isSealed)
{
    public SegmentFile File { get; } = file;

    /// <summary>Published entries, in sequence order.</summary>
    public List<IndexEntry> Entries { get; } = [];

    /// <summary>Entries before this index are acknowledged or dropped.</summary>
    public int FirstLive { get; set; }

    /// <summary>No more entries come: the writer moved on (or the segment was found at open).</summary>
    public bool Sealed { get; set; } = isSealed;

    public ulong LastSequence => Entries.Count > 0 ? Entries[^1].Sequence : 0;

    public bool AllDone => FirstLive == Entries.Count;

    /// <summary>Finds a published entry of <paramref name="segments"/> (in sequence order), done with or not.</summary>
    public static bool TryFind(List<IndexedSegment> segments, ulong sequence, out IndexEntry entry)
    {
        foreach (var segment in segments)
        {
            if (segment.Entries.Count == 0 || segment.LastSequence < sequence)
            {
                continue;
            }
            int at = segment.Entries.BinarySearch(new IndexEntry(sequence, 0, 0, 0, 0, null), SequenceComparer.Instance);
            entry = at >= 0 ? segment.Entries[at] : default;
            return at >= 0;
        }
        entry = default;
        return false;
    }

    /// <summary>The first live entry at or after <paramref name="sequence"/>; the segment's last sequence must be at least that.</summary>
    public IndexEntry FirstLiveFrom(ulong sequence)
    {
        int lo = FirstLive;
        int hi = Entries.Count - 1;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (Entries[mid].Sequence < sequence)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        return Entries[lo];
    }

    private sealed class SequenceComparer : IComparer<IndexEntry>
    {
        public static readonly SequenceComparer Instance = new();

        public int Compare(IndexEntry x, IndexEntry y) => x.Sequence.CompareTo(y.Sequence);
    }
}
