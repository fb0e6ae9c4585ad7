using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Sluice.Collector.Auth;

namespace Sluice.Collector.Dashboard;

/// <summary>Who may read the dashboard API: holders of the dashboard token, or, when there is none, local clients only.</summary>
/// <remarks>
/// The dashboard is for the collector's operators, not for agents: agent tokens are never accepted
/// here, and a dashboard token that is also an agent's token is refused at start. The token file
/// holds one token (at least 16 characters) or its <c>sha256:HEX</c>; only the digest is kept, and
/// compared in constant time. Without a token file, the API answers clients on a loopback address
/// only (reach it through an SSH tunnel), so a collector listening on 0.0.0.0 for agents does not
/// show its events to the network; the request must also be addressed to localhost or a loopback
/// address, so that another site's page cannot reach it through a name that resolves to 127.0.0.1. The page itself (HTML, script, style) holds no data and is served
/// to anyone who can reach the port.
/// </remarks>
internal sealed class DashboardAccess
{
    private const string HashPrefix = "sha256:";
    private readonly byte[]? _digest;

    private DashboardAccess(byte[]? digest) => _digest = digest;

    public static DashboardAccess LocalOnly { get; } = new(null);

    public bool TokenRequired => _digest is not null;

    /// <summary>Reads the token file; refuses one that group or others can read or write, a malformed one, and one that is an enrolled agent's token.</summary>
    public static DashboardAccess Load(string path, AgentTokens? agents)
    {
        string text = SecretFile.ReadAllText(path, "--dashboard-token-file");
        var lines = text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && l[0] != '#').ToList();
        if (lines.Count != 1)
        {
            throw new FormatException($"--dashboard-token-file {path}: expected one line with the token or sha256:HEX, found {lines.Count}");
        }
        string value = lines[0];
        byte[] digest;
        if (value.StartsWith(HashPrefix, StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                digest = Convert.FromHexString(value[HashPrefix.Length..]);
            }
            catch (FormatException)
            {
                throw new FormatException($"--dashboard-token-file {path}: '{value}' is not sha256: followed by hex");
            }
            if (digest.Length != SHA256.HashSizeInBytes)
            {
                throw new FormatException($"--dashboard-token-file {path}: a sha256 digest has {SHA256.HashSizeInBytes * 2} hex digits");
            }
        }
        else
        {
            if (value.Length < 16 || value.Any(char.IsWhiteSpace))
            {
                throw new FormatException($"--dashboard-token-file {path}: the token must be at least 16 characters without spaces");
            }
            digest = Digest(value);
        }
        if (agents?.FindAgentByDigest(digest) is string agent)
        {
            throw new FormatException($"--dashboard-token-file {path}: the dashboard token is agent '{agent}''s token; give the dashboard a token of its own");
        }
        return new DashboardAccess(digest);
    }

    /// <summary>Null when the request may read the API, else the refusal to send.</summary>
    public IResult? Check(HttpContext context)
    {
        if (_digest is null)
        {
            var remote = context.Connection.RemoteIpAddress;
            if (remote is null || !IPAddress.IsLoopback(remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote))
            {
                return ApiError.Problem(StatusCodes.Status403Forbidden,
                    "the dashboard API answers local clients only; start serve with --dashboard-token-file to open it to others");
            }
            // A page from another site, on a name that resolves to 127.0.0.1 (DNS rebinding), would be
            // a local client too: such a request names that site in Host.
            if (!IsLoopbackHost(context.Request.Host.Host))
            {
                return ApiError.Problem(StatusCodes.Status403Forbidden,
                    $"the dashboard API answers local clients only, addressed as localhost or a loopback address, not '{context.Request.Host.Host}'");
            }
            return null;
        }
        string header = context.Request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) || header.Length == scheme.Length)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            return ApiError.Problem(StatusCodes.Status401Unauthorized, "dashboard token required: send 'Authorization: Bearer <token>'");
        }
        if (!CryptographicOperations.FixedTimeEquals(Digest(header[scheme.Length..].Trim()), _digest))
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            return ApiError.Problem(StatusCodes.Status401Unauthorized, "wrong dashboard token");
        }
        return null;
    }

    private static bool IsLoopbackHost(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    private static byte[] Digest(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));
}
