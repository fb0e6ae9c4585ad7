using Microsoft.AspNetCore.Http;

namespace Sluice.Collector.Dashboard;

/// <summary>The error body every API refusal has: <c>{"status": N, "error": "...", "parameter": "..."}</c>.</summary>
internal static class ApiError
{
    public static IResult Problem(int status, string message, string? parameter = null) =>
        Results.Json(new ErrorBody(status, message, parameter), DashboardJson.Options, statusCode: status);

    public static IResult From(ApiException e) => Problem(e.Status, e.Message, e.Parameter);

    private sealed record ErrorBody(int Status, string Error, string? Parameter);
}
