namespace Sluice.Collector.Storage.Postgres;

/// <summary>PostgreSQL specifics of the schema: day partitions of events.</summary>
internal static class PostgresSchema
{
    public const long DayMs = 86_400_000;

    /// <summary>The partition holding events of <paramref name="day"/> (days since the epoch, UTC).</summary>
    public static string PartitionName(long day) =>
        "events_p" + DateTimeOffset.FromUnixTimeMilliseconds(day * DayMs).ToString("yyyyMMdd", System.Globalization.CultureInfo.InvariantCulture);
}
