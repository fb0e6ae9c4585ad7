using Grpc.Core;

namespace Sluice.Collector.Auth;

/// <summary>Checks the <c>authorization: Bearer TOKEN</c> metadata of an ingest call.</summary>
public sealed class AgentAuthenticator
{
    private readonly AgentTokens? _tokens;

    /// <param name="tokens">The enrolled agents; null turns authentication off (serve --insecure-no-auth).</param>
    public AgentAuthenticator(AgentTokens? tokens) => _tokens = tokens;

    public bool Enabled => _tokens is not null;

    /// <summary>The agent id the caller's token belongs to; null when authentication is off.</summary>
    /// <exception cref="RpcException">Unauthenticated: no token, a malformed header, or an unknown token.</exception>
    public string? Authenticate(ServerCallContext context)
    {
        if (_tokens is null)
        {
            return null;
        }
        string? header = context.RequestHeaders.GetValue("authorization");
        if (string.IsNullOrEmpty(header))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated,
                "no agent token: send metadata 'authorization: Bearer <token>' with a token from the collector's token file"));
        }
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) || header.Length == scheme.Length)
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated,
                "malformed authorization metadata: expected 'Bearer <token>'"));
        }
        string? agent = _tokens.FindAgent(header[scheme.Length..].Trim());
        return agent ?? throw new RpcException(new Status(StatusCode.Unauthenticated,
            "unknown agent token: it matches no enrolled agent in the collector's token file"));
    }

    /// <summary>Refuses a message whose agent_id is not the one the token was issued to.</summary>
    /// <exception cref="RpcException">PermissionDenied.</exception>
    public static void CheckAgent(string? authenticatedAgent, string claimedAgent, string what)
    {
        if (authenticatedAgent is not null && !string.Equals(authenticatedAgent, claimedAgent, StringComparison.Ordinal))
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"{what} claims agent_id '{claimedAgent}' but the token belongs to agent '{authenticatedAgent}'"));
        }
    }
}
