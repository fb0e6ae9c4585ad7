using System.Globalization;
using System.Net;

namespace Sluice.Agent.Metrics;

/// <summary>
/// A <c>Status:MetricsListen</c> value: <c>HOST:PORT</c>, where HOST is an IP address
/// (<c>[IPv6]</c> in brackets) or <c>localhost</c> and PORT 1 to 65535. Empty: no metrics listener.
/// </summary>
internal sealed record MetricsListen(string Host, IPAddress? Address, int Port)
{
    /// <summary>The key, as errors and the log name it.</summary>
    public const string Key = "Status:MetricsListen";

    /// <summary>True for <c>localhost</c> and loopback addresses: only this host can connect.</summary>
    public bool IsLoopback => Address is null || IPAddress.IsLoopback(Address);

    /// <summary>True for <c>0.0.0.0</c> and <c>[::]</c>: every address of the host.</summary>
    public bool IsAny => Address is not null && (Address.Equals(IPAddress.Any) || Address.Equals(IPAddress.IPv6Any));

    /// <summary>The scrape URL (for the log and for a wildcard bind, this host's loopback).</summary>
    public string Url => $"http://{Host}:{Port}/metrics";

    /// <summary>Parses <paramref name="value"/>; null when it is empty (metrics off).</summary>
    /// <exception cref="FormatException">Not HOST:PORT; the message names the key, the value and what is wrong.</exception>
    public static MetricsListen? Parse(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }
        const string Example = "expected HOST:PORT, e.g. 127.0.0.1:9464 (an IP address, [IPv6] or localhost; empty turns metrics off)";
        int colon = value.LastIndexOf(':');
        if (colon <= 0 || colon == value.Length - 1)
        {
            throw new FormatException($"{Key} '{value}': {Example}");
        }
        string host = value[..colon];
        string portText = value[(colon + 1)..];
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
        {
            throw new FormatException($"{Key} '{value}': port '{portText}' is not a number from 1 to 65535");
        }
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            return new MetricsListen("localhost", null, port);
        }
        bool bracketed = host.StartsWith('[') && host.EndsWith(']');
        string bare = bracketed ? host[1..^1] : host;
        // IPAddress.TryParse takes "10" as 0.0.0.10: an IPv4 address here has its four parts.
        if (!IPAddress.TryParse(bare, out var address)
            || (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6) != bracketed
            || (!bracketed && bare.Count(c => c == '.') != 3))
        {
            throw new FormatException($"{Key} '{value}': host '{host}' is not an IPv4 address, an [IPv6] address in brackets or localhost; {Example}");
        }
        return new MetricsListen(host, address, port);
    }
}
