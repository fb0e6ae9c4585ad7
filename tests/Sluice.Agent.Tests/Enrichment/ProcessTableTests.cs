using Sluice.Agent.Enrichment;

namespace Sluice.Agent.Tests.Enrichment;

public sealed class ProcessTableTests
{
    private static ProcessEntry Entry(int pid, byte[]? exe = null) => new(pid) { Exe = exe ?? "/bin/x"u8.ToArray() };

    [Fact]
    public void Bound_EvictsLeastRecentlyUsed_AndCounts()
    {
        var t = new ProcessTable(3, TimeSpan.FromSeconds(60));
        t.Add(Entry(1), 0);
        t.Add(Entry(2), 0);
        t.Add(Entry(3), 0);
        t.Touch(t.Get(1)!);

        t.Add(Entry(4), 0);

        Assert.Equal(3, t.Count);
        Assert.Null(t.Get(2));
        Assert.NotNull(t.Get(1));
        Assert.Equal(1, t.Evicted);
    }

    [Fact]
    public void Bound_EvictsExitedBeforeLive()
    {
        var t = new ProcessTable(3, TimeSpan.FromSeconds(60));
        t.Add(Entry(1), 0);
        t.Add(Entry(2), 0);
        t.Add(Entry(3), 0);
        t.MarkExited(t.Get(3)!, 0);

        t.Add(Entry(4), 0);

        Assert.Null(t.Get(3));
        Assert.NotNull(t.Get(1));
        Assert.Equal(0, t.ExitedKept);
        Assert.Equal(1, t.Evicted);
    }

    [Fact]
    public void Exited_KeptForTtl_ThenDroppedUncounted()
    {
        var t = new ProcessTable(10, TimeSpan.FromSeconds(60));
        var e = Entry(7);
        t.Add(e, 0);
        t.MarkExited(e, 1_000);
        t.Expire(60_999);
        Assert.Same(e, t.Get(7));
        Assert.Equal(1, t.ExitedKept);

        t.Expire(61_000);

        Assert.Null(t.Get(7));
        Assert.Equal(0, t.Count);
        Assert.Equal(0, t.ExitedKept);
        Assert.Equal(0, t.Evicted);
        Assert.Equal(0, t.Bytes);
    }

    [Fact]
    public void NewIncarnation_ReplacesOld_OldCutsItsOwnParentLink()
    {
        var t = new ProcessTable(10, TimeSpan.FromSeconds(60));
        var grand = Entry(1);
        var old = Entry(5);
        old.Parent = grand;
        t.Add(grand, 0);
        t.Add(old, 0);

        var fresh = Entry(5);
        t.Add(fresh, 10);

        Assert.Same(fresh, t.Get(5));
        Assert.False(old.InTable);
        Assert.Null(old.Parent);
        Assert.Equal(2, t.Count);
        Assert.Equal(0, t.Evicted);
    }

    [Fact]
    public void Bytes_FollowEntries_AndHostileSizesStayBounded()
    {
        var t = new ProcessTable(64, TimeSpan.FromSeconds(1));
        for (int i = 0; i < 1000; i++)
        {
            t.Add(Entry(i, new byte[100]), i);
        }
        Assert.Equal(64, t.Count);
        Assert.Equal(1000 - 64, t.Evicted);
        Assert.InRange(t.Bytes, 64 * 100, 64 * 1000);
    }
}
