using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sluice.Collector.Reports;

/// <summary>The <c>json</c> report format, also what the dashboard's API returns: snake_case keys, times as unix ms and ISO 8601 UTC.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(ComplianceReport))]
internal sealed partial class ReportJsonContext : JsonSerializerContext;

internal static class ReportJson
{
    public static string Serialize(ComplianceReport report) =>
        JsonSerializer.Serialize(report, ReportJsonContext.Default.ComplianceReport).ReplaceLineEndings("\n") + "\n";

    public static async Task WriteAsync(Stream output, ComplianceReport report, CancellationToken ct)
    {
        await JsonSerializer.SerializeAsync(output, report, ReportJsonContext.Default.ComplianceReport, ct);
        output.WriteByte((byte)'\n');
    }
}
