using System.Globalization;
using System.Net;

namespace Sluice.Collector.Hosting;

/// <summary>A <c>--listen HOST:PORT</c> value. HOST is an IP address, <c>[IPv6]</c>, <c>*</c> (all) or <c>localhost</c>.</summary>
internal sealed record ListenEndpoint(string Host, IPAddress? Address, int Port)
{
    public static ListenEndpoint Parse(string value)
    {
        int colon = value.LastIndexOf(':');
        if (colon <= 0 || colon == value.Length - 1)
        {
            throw new FormatException($"--listen '{value}': expected HOST:PORT, e.g. 0.0.0.0:7443");
        }
        string host = value[..colon];
        if (!int.TryParse(value[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > 65535)
        {
            throw new FormatException($"--listen '{value}': port '{value[(colon + 1)..]}' is not a number from 0 to 65535");
        }
        if (host == "*")
        {
            return new ListenEndpoint(host, IPAddress.IPv6Any, port);
        }
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            return new ListenEndpoint(host, null, port);
        }
        string bare = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
        if (!IPAddress.TryParse(bare, out var address))
        {
            throw new FormatException($"--listen '{value}': host '{host}' is not an IP address, '*' or 'localhost'");
        }
        return new ListenEndpoint(host, address, port);
    }
}
