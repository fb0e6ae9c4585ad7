using Grpc.Core;

namespace Sluice.Collector.Auth;

/// <summary>Checks the <c>authorization: Bearer TOKEN</c> metadata of an ingest call.</summary>
/// <remarks>
/// The check needs the header only. The front door (<see cref="Hosting.IngestFrontDoor"/>) runs it
/// before gRPC reads the body; the service runs it again on the call it is given.
/// </remarks>
internal sealed class AgentAuthenticator
{
    private readonly AgentTokens? _fixed;
    private readonly AgentTokenFile? _file;

    /// <param name="tokens">The enrolled agents; null turns authentication off (serve --insecure-no-auth).</param>
    public AgentAuthenticator(AgentTokens? tokens) => _fixed = tokens;

    /// <param name="file">The token file, read again when it changes (<see cref="AgentTokenFile"/>).</param>
    public AgentAuthenticator(AgentTokenFile file) => _file = file;

    public bool Enabled => _fixed is not null || _file is not null;

    /// <summary>The token file when there is one: its reload counts.</summary>
    public AgentTokenFile? File => _file;

    /// <summary>The enrolled agents now; null when authentication is off.</summary>
    private AgentTokens? Tokens => _file?.Current ?? _fixed;

    /// <summary>The group of an agent at this collector: its token line's group=, or <see cref="AgentTokens.DefaultGroup"/>.</summary>
    public string GroupOf(string? agentId) =>
        agentId is null ? AgentTokens.DefaultGroup : (_file?.Snapshot ?? _fixed)?.GroupOf(agentId) ?? AgentTokens.DefaultGroup;

    /// <summary>The agent id the caller's token belongs to; null when authentication is off.</summary>
    /// <exception cref="RpcException">Unauthenticated: no token, a malformed header, or an unknown token.</exception>
    public string? Authenticate(ServerCallContext context) =>
        TryAuthenticate(context.RequestHeaders.GetValue("authorization"), out string? agent, out string? refusal)
            ? agent
            : throw new RpcException(new Status(StatusCode.Unauthenticated, refusal));

    /// <summary>Checks an <c>authorization</c> header value.</summary>
    /// <param name="agent">The token's agent; null when authentication is off.</param>
    /// <param name="refusal">Why the header is refused, for the UNAUTHENTICATED status.</param>
    public bool TryAuthenticate(string? header, out string? agent, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? refusal)
    {
        agent = null;
        refusal = null;
        var tokens = Tokens;
        if (tokens is null)
        {
            return true;
        }
        if (string.IsNullOrEmpty(header))
        {
            refusal = "no agent token: send metadata 'authorization: Bearer <token>' with a token from the collector's token file";
            return false;
        }
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) || header.Length == scheme.Length)
        {
            refusal = "malformed authorization metadata: expected 'Bearer <token>'";
            return false;
        }
        agent = tokens.FindAgent(header[scheme.Length..].Trim());
        if (agent is null)
        {
            refusal = "unknown agent token: it matches no enrolled agent in the collector's token file";
            return false;
        }
        return true;
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
