namespace Sluice.Collector.Policy;

/// <summary>Where an agent stands against its group's central policy.</summary>
/// <param name="State">
/// <c>in-force</c>: it runs its group's policy. <c>refused</c>: it refused that policy (see <paramref name="Refusal"/>) and
/// keeps what it had. <c>pending</c>: no heartbeat since the policy was set. <c>local</c>: it runs its local files though
/// its group has a policy. <c>stale</c>: it runs another central policy than its group's, after a heartbeat that could
/// have brought the new one. <c>unknown</c>: it never sent a heartbeat. Where the group has no policy: <c>none</c> (local
/// files) or <c>kept</c> (the last central policy it had). The first five, and <c>unknown</c> under a policy, differ.
/// </param>
internal sealed record PolicyStatus(string State, bool Differs, string Expected, string InForce, string Refused, string Refusal)
{
    /// <summary>The status of an agent that reported <paramref name="inForce"/> and <paramref name="refused"/>, against <paramref name="expected"/>.</summary>
    /// <param name="lastHeartbeatUnixMs">Received time of its last heartbeat; null if it never sent one.</param>
    public static PolicyStatus Of(GroupPolicyRef? expected, string inForce, string refused, string refusal, long? lastHeartbeatUnixMs)
    {
        string hash = expected?.Hash ?? "";
        string refusalShown = refused.Length > 0 ? refusal : "";
        (string state, bool differs) = expected switch
        {
            _ when lastHeartbeatUnixMs is null => ("unknown", expected is not null),
            null => (inForce.Length == 0 ? "none" : "kept", false),
            _ when inForce == hash => ("in-force", false),
            _ when refused == hash => ("refused", true),
            _ when lastHeartbeatUnixMs < expected.SetUnixMs => ("pending", true),
            _ when inForce.Length == 0 => ("local", true),
            _ => ("stale", true),
        };
        return new PolicyStatus(state, differs, hash, inForce, refused, refusalShown);
    }

    /// <summary>"1a2b3c4d5e6f" or "local", then "; refused 0f0e0d0c0b0a: REASON" when the agent refused one.</summary>
    public string InForceShort => (InForce.Length == 0 ? "local" : Short(InForce)) + (Refused.Length == 0 ? "" : $"; refused {Short(Refused)}: {Refusal}");

    /// <summary>The first 12 hex digits of a policy hash.</summary>
    public static string Short(string hash) => hash.Length <= 12 ? hash : hash[..12];
}

/// <summary>A group's policy as far as comparing agents with it needs: its hash and when it was set.</summary>
internal sealed record GroupPolicyRef(string Group, string Hash, long SetUnixMs);
