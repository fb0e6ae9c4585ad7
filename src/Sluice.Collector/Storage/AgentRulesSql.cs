using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage;

/// <summary>The agent_rules table: each agent's rule lines, once per rules hash.</summary>
internal static class AgentRulesSql
{
    /// <param name="max">The SQL function of the larger of two values: "max" in SQLite, "greatest" in PostgreSQL.</param>
    public static string Upsert(string max) => $"""
        INSERT INTO agent_rules (agent, rules_hash, rules, first_seen_ms, last_seen_ms)
        VALUES (@agent, @rules_hash, @rules, @time, @time)
        ON CONFLICT (agent, rules_hash) DO UPDATE SET
            rules = excluded.rules, last_seen_ms = {max}(agent_rules.last_seen_ms, excluded.last_seen_ms)
        """;

    /// <summary>The heartbeat's rule lines joined by newlines, or null when it carries none.</summary>
    public static string? Text(AgentHeartbeat h) => h.Rules.Count == 0 ? null : string.Join('\n', h.Rules).Replace('\0', '\uFFFD');
}
