namespace Sluice.Agent.Draining;

/// <summary>
/// Sizes the socket receive buffer, the reservoir records wait in between drains:
/// peak rate × interval × per-record truesize × headroom, within [floor, cap]
/// (docs/kernel-audit.md, "The periodic drain works when the reservoir is big enough").
/// </summary>
internal static class ReservoirSizer
{
    public static int Size(double peakRecordsPerSecond, TimeSpan interval, int truesizeBytes, double headroom, int floor, int cap)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(peakRecordsPerSecond);
        ArgumentOutOfRangeException.ThrowIfLessThan(headroom, 1.0);
        if (floor > cap)
        {
            throw new ArgumentException($"floor {floor} exceeds cap {cap}");
        }
        // A drain that runs late still has to fit: count at least one second of records.
        double seconds = Math.Max(interval.TotalSeconds, 1.0);
        double bytes = peakRecordsPerSecond * seconds * truesizeBytes * headroom;
        return (int)Math.Clamp(bytes, floor, cap);
    }
}
