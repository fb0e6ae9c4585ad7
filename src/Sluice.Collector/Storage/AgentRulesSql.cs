using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage;

/// <summary>The agent_rules table: each agent's rule lines, once per rules hash.</summary>
internal static class AgentRulesSql
{
    /// <summary>The agent's rule lines under their rules hash, kept once per hash.</summary>
    public static SqlStatement Upsert(SqlDialect d) => d.Statement(p => $"""
        INSERT INTO agent_rules (agent, rules_hash, rules, first_seen_ms, last_seen_ms)
        VALUES ({p("agent")}, {p("rules_hash")}, {p("rules")}, {p("time")}, {p("time")})
        ON CONFLICT (agent, rules_hash) DO UPDATE SET
            rules = excluded.rules, last_seen_ms = {d.Greatest}(agent_rules.last_seen_ms, excluded.last_seen_ms)
        """);

    /// <summary>The heartbeat's rule lines joined by newlines, or null when it carries none.</summary>
    public static string? Text(AgentHeartbeat h) => h.Rules.Count == 0 ? null : string.Join('\n', h.Rules).Replace('\0', '\uFFFD');
}
