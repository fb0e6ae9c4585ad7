namespace Sluice.Collector.Reports.Sections;

/// <summary>An event's result as the report shows it, from the events table's success column.</summary>
internal static class EventResult
{
    /// <summary>"success", "failed", or "unknown" when the event records none.</summary>
    public static string Of(bool? success) => success switch { true => "success", false => "failed", null => "unknown" };
}
