using Microsoft.AspNetCore.Http;

namespace Sluice.Collector.Dashboard;

/// <summary>A request the API refuses: the status, what was wrong, and the query parameter at fault if any.</summary>
internal sealed class ApiException(int status, string message, string? parameter = null) : Exception(message)
{
    public int Status { get; } = status;
    public string? Parameter { get; } = parameter;

    public static ApiException BadParameter(string parameter, string message) =>
        new(StatusCodes.Status400BadRequest, $"{parameter}: {message}", parameter);
}
