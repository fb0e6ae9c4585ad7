namespace Sluice.Collector.Tests.Support;

/// <summary>A clock stopped at <paramref name="unixMs"/>: the "now" a report is built at, which decides what is still open.</summary>
internal sealed class FixedTime(long unixMs) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(unixMs);
}
