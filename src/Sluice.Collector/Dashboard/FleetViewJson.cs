using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Sluice.Collector.Dashboard;

/// <summary>
/// A fleet view's JSON answer: the bytes serialised once per build (<see cref="Parts"/>), and the view's age written between
/// them for each request, so that a request costs a copy of the bytes rather than a serialisation of every host.
/// </summary>
internal sealed class FleetViewJson(FleetViewJson.Parts parts, long ageMs) : IResult
{
    /// <summary>A view's JSON cut where its <c>age_ms</c> value goes: the bytes before the value, and those after it.</summary>
    internal sealed record Parts(byte[] Head, byte[] Tail);

    /// <summary>An age no view has, serialised in its place and found again to cut the JSON there.</summary>
    private const long AgeMarker = long.MinValue;

    private static readonly byte[] AgeKey = "\"age_ms\":"u8.ToArray();

    /// <summary>The key and the marker as the serialiser writes them: what <see cref="Split"/> looks for.</summary>
    private static readonly byte[] MarkedAge = [.. AgeKey, .. System.Text.Encoding.ASCII.GetBytes(AgeMarker.ToString(CultureInfo.InvariantCulture))];

    /// <summary>The view's JSON as <see cref="DashboardJson.Options"/> writes it, cut at its age.</summary>
    public static Parts Split(FleetView view)
    {
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(view with { AgeMs = AgeMarker }, DashboardJson.Options);
        int at = json.AsSpan().IndexOf(MarkedAge);
        if (at < 0)
        {
            throw new InvalidOperationException("a fleet view's JSON has no age_ms where the view puts it");
        }
        int tail = at + MarkedAge.Length;
        return new Parts(json[..(at + AgeKey.Length)], json[tail..]);
    }

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        byte[] age = System.Text.Encoding.ASCII.GetBytes(ageMs.ToString(CultureInfo.InvariantCulture));
        var response = httpContext.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json; charset=utf-8";
        response.ContentLength = parts.Head.Length + age.Length + parts.Tail.Length;
        var body = response.Body;
        await body.WriteAsync(parts.Head, httpContext.RequestAborted);
        await body.WriteAsync(age, httpContext.RequestAborted);
        await body.WriteAsync(parts.Tail, httpContext.RequestAborted);
    }
}
