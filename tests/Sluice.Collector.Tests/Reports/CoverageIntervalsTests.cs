using Sluice.Collector.Reports;
using Sluice.Collector.Reports.Sections;

namespace Sluice.Collector.Tests.Reports;

/// <summary>How evidence (first, last, silences) becomes connected and disconnected stretches, and the verdict text.</summary>
public sealed class CoverageIntervalsTests
{
    private const long From = 1_000_000, To = 2_000_000, Silence = 1_000;
    private static readonly ReportRequest Request = new(From, To, null, null) { MaxSilenceMs = Silence };

    private static List<(long, long, bool)> Run(long first, long last, params (long, long)[] silences) =>
        [.. CoverageIntervals.Of(Request, new CoverageIntervals.Evidence(first, last, [.. silences])).Select(i => (i.StartUnixMs, i.EndUnixMs, i.Connected))];

    [Fact]
    public void NoEvidence_WholeRangeDisconnected() =>
        Assert.Equal([(From, To, false)], CoverageIntervals.Of(Request, null).Select(i => (i.StartUnixMs, i.EndUnixMs, i.Connected)));

    [Fact]
    public void FirstEvidenceExactlyTheThresholdAfterStart_Connected() =>
        Assert.Equal([(From, To, true)], Run(From + Silence, To - Silence));

    [Fact]
    public void FirstEvidenceOneMillisecondLater_LeadingGap() =>
        Assert.Equal([(From, From + Silence + 1, false), (From + Silence + 1, To, true)], Run(From + Silence + 1, To));

    [Fact]
    public void LastEvidenceMoreThanTheThresholdBeforeEnd_TrailingGap() =>
        Assert.Equal([(From, 1_500_000, true), (1_500_000, To, false)], Run(From - 10, 1_500_000));

    [Fact]
    public void SilenceAcrossTheRangeStart_ClippedToIt() =>
        Assert.Equal([(From, 1_200_000, false), (1_200_000, To, true)], Run(From - 5_000, To + 10, (From - 4_000, 1_200_000)));

    [Fact]
    public void SilenceAcrossTheRangeEnd_ClippedToIt() =>
        Assert.Equal([(From, 1_900_000, true), (1_900_000, To, false)], Run(From, To + 50_000, (1_900_000, To + 40_000)));

    [Fact]
    public void TwoSilences_AlternatingStretchesThatTileTheRange()
    {
        var list = Run(From, To, (1_100_000, 1_200_000), (1_300_000, 1_400_000));

        Assert.Equal([(From, 1_100_000, true), (1_100_000, 1_200_000, false), (1_200_000, 1_300_000, true), (1_300_000, 1_400_000, false), (1_400_000, To, true)], list);
    }

    [Fact]
    public void Verdict_NoGapNoLoss_ContinuousComplete() =>
        Assert.Equal("continuous, complete", CoverageVerdict.Of([new CoverageInterval { StartUnixMs = From, EndUnixMs = To, Connected = true }], []));

    [Fact]
    public void Verdict_ManyItems_FirstTwelveThenHowManyMore()
    {
        var losses = Enumerable.Range(0, 14).Select(i => new LossReport(1_764_028_800_000 + i * 1000, 1_764_028_800_500 + i * 1000, new LossCounts { SpoolDropped = 2, ReassemblyEvicted = 1 })).ToList();

        string v = CoverageVerdict.Of([], losses);

        Assert.StartsWith("gaps: 3 lost 2025-11-25 00:00:00 to 2025-11-25 00:00:00.500 (spool drop 2, evicted 1); ", v);
        Assert.EndsWith("; and 2 more", v);
        Assert.Equal(12, v.Split("; ").Length - 1);
    }
}
