namespace Sluice.Collector.Storage.Postgres;

/// <summary>PostgreSQL specifics of the schema: day partitions of events.</summary>
internal static class PostgresSchema
{
    public const long DayMs = 86_400_000;

    /// <summary>Days since the epoch (UTC) of a time; floor division, so times before 1970 fall in the right day.</summary>
    public static long Day(long unixMs)
    {
        var (quotient, remainder) = Math.DivRem(unixMs, DayMs);
        return remainder < 0 ? quotient - 1 : quotient;
    }

    /// <summary>The partition holding events of <paramref name="day"/> (days since the epoch, UTC).</summary>
    public static string PartitionName(long day) =>
        "events_p" + DateTimeOffset.FromUnixTimeMilliseconds(day * DayMs).ToString("yyyyMMdd", System.Globalization.CultureInfo.InvariantCulture);
}
