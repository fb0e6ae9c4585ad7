using System.Globalization;

namespace Sluice.Agent.Monitoring;

/// <summary>
/// What the agent process itself costs: resident memory now and at its peak (VmRSS and VmHWM of
/// /proc/self/status, what ps and top show) and CPU time in user and kernel mode since it started.
/// </summary>
internal readonly record struct ProcessResources(long RssBytes, long PeakRssBytes, TimeSpan UserCpu, TimeSpan SystemCpu)
{
    public TimeSpan TotalCpu => UserCpu + SystemCpu;

    /// <summary>This process now; memory 0 where /proc/self/status cannot be read.</summary>
    public static ProcessResources Self()
    {
        var cpu = Environment.CpuUsage;
        long rss = 0, peak = 0;
        try
        {
            (rss, peak) = ParseStatus(File.ReadAllText("/proc/self/status"));
        }
        catch (IOException)
        {
        }
        return new(rss, peak, cpu.UserTime, cpu.PrivilegedTime);
    }

    /// <summary>VmRSS and VmHWM, in bytes, of a /proc/PID/status text; 0 for a line that is missing (a kernel thread has none).</summary>
    public static (long Rss, long Peak) ParseStatus(string status)
    {
        long rss = 0, peak = 0;
        foreach (var line in status.AsSpan().EnumerateLines())
        {
            if (line.StartsWith("VmRSS:"))
            {
                rss = Kilobytes(line["VmRSS:".Length..]) * 1024;
            }
            else if (line.StartsWith("VmHWM:"))
            {
                peak = Kilobytes(line["VmHWM:".Length..]) * 1024;
            }
        }
        return (rss, peak);
    }

    private static long Kilobytes(ReadOnlySpan<char> value)
    {
        value = value.Trim();
        if (value.EndsWith(" kB"))
        {
            value = value[..^3].TrimEnd();
        }
        return long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long kb) ? kb : 0;
    }

    /// <summary>Share of one core used between two readings <paramref name="elapsed"/> apart, in percent (200 is two cores busy).</summary>
    public static float CpuPercent(ProcessResources before, ProcessResources after, TimeSpan elapsed) =>
        elapsed > TimeSpan.Zero ? (float)(100.0 * (after.TotalCpu - before.TotalCpu).TotalSeconds / elapsed.TotalSeconds) : 0;
}
