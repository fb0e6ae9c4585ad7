using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sluice.Collector.Dashboard;

/// <summary>The API's JSON: snake_case names as in the report's JSON and /api/ingest, nulls written out so every row has the same keys.</summary>
internal static class DashboardJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        NumberHandling = JsonNumberHandling.Strict,
        // Served as application/json, never inside HTML: quotes and the like need no escaping.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}
