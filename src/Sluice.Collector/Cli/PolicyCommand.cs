using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Sluice.Collector.Auth;
using Sluice.Collector.Policy;
using Sluice.Collector.Storage;
using Sluice.Protocol.Policies;

namespace Sluice.Collector.Cli;

/// <summary><c>sluice-collector policy set|show</c>: the central policy of each group of agents.</summary>
/// <remarks>
/// A policy is an audit.rules file and, optionally, a filters file (a JSON array of filter rules, as the agent's
/// Filters section). <c>set</c> checks both (<see cref="PolicyCheck"/>) and stores them in the store the collectors
/// serve; each running collector reads it within seconds (<see cref="PolicyCache"/>) and sends it to the group's
/// agents with their next heartbeat.
/// </remarks>
internal static class PolicyCommand
{
    public static Command Create()
    {
        var command = new Command("policy", "Central policy per group of agents: audit rules and event filters, sent to the agents with their heartbeats.");
        command.Subcommands.Add(Set());
        command.Subcommands.Add(Show());
        return command;
    }

    private static Command Set()
    {
        var store = CliOptions.StoreOrEnvironment();
        var group = new Option<string>("--group") { Description = "The group whose policy this is.", DefaultValueFactory = _ => AgentTokens.DefaultGroup };
        var rules = new Option<string>("--rules") { Description = "Audit rules file (auditctl syntax, as audit.rules).", Required = true };
        var filters = new Option<string?>("--filters") { Description = "Filters file: a JSON array of filter rules, as the agent's \"Filters\" section. Without it: no filters." };
        var noCheck = new Option<bool>("--no-check") { Description = "Store the rules without compiling them here (for agents whose users, groups or kernels differ from this host's); size, text and filters are still checked." };
        var command = new Command("set", "Check a policy and store it as its group's; the group's agents get it with their next heartbeat.");
        foreach (var o in new Option[] { store, group, rules, filters, noCheck })
        {
            command.Options.Add(o);
        }
        command.SetAction((parse, ct) => RunSetAsync(parse.GetValue(store), parse.GetValue(group)!, parse.GetValue(rules)!, parse.GetValue(filters), parse.GetValue(noCheck),
            Console.Out, Console.Error, ct));
        return command;
    }

    private static Command Show()
    {
        var store = CliOptions.StoreOrEnvironment();
        var group = new Option<string?>("--group") { Description = "Only this group." };
        var tokens = CliOptions.Tokens();
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of text." };
        var command = new Command("show", "Each group's policy (hash, when and by whom it was set) and its agents: in force, refused (with the reason), pending, or running something else.");
        foreach (var o in new Option[] { store, group, tokens, json })
        {
            command.Options.Add(o);
        }
        command.SetAction((parse, ct) => RunShowAsync(parse.GetValue(store), parse.GetValue(group), parse.GetValue(tokens) ?? CliOptions.DefaultTokensFile(), parse.GetValue(json),
            Console.Out, Console.Error, ct));
        return command;
    }

    internal static async Task<int> RunSetAsync(string? storeOption, string group, string rulesPath, string? filtersPath, bool noCheck,
        TextWriter stdout, TextWriter stderr, CancellationToken ct, TimeProvider? time = null)
    {
        GroupPolicy policy;
        int ruleCount, filterCount;
        try
        {
            if (!AgentTokens.IsValidGroup(group))
            {
                throw new ArgumentException($"--group '{group}' is not valid (1-{AgentTokens.MaxGroupLength} characters of A-Z a-z 0-9 . _ -, starting with a letter or digit)");
            }
            string rules = PolicyCheck.Read(rulesPath, PolicyCheck.MaxRulesBytes);
            ruleCount = noCheck ? -1 : PolicyCheck.CheckRules(rules, rulesPath).Rules.Count;
            string filters = filtersPath is null ? "" : PolicyCheck.Read(filtersPath, PolicyCheck.MaxFiltersBytes);
            filterCount = PolicyCheck.CheckFilters(filters, filtersPath ?? "");
            policy = new GroupPolicy(group, PolicyDigest.Compute(rules, filters), rules, filters,
                (time ?? TimeProvider.System).GetUtcNow().ToUnixTimeMilliseconds(), $"{Environment.UserName}@{Environment.MachineName}");
        }
        catch (Exception e) when (e is PolicyFileException or ArgumentException)
        {
            stderr.WriteLine($"sluice-collector policy set: refused: {e.Message}");
            return 2;
        }
        try
        {
            await using var store = await CliOptions.OpenExistingAsync(CliOptions.StoreValue(storeOption), ct);
            var policies = PolicyStore.Of(store) ?? throw new InvalidOperationException("this store cannot hold policies");
            bool changed = await policies.SetAsync(policy, ct);
            stdout.WriteLine(policy.Hash);
            stderr.WriteLine(changed
                ? $"sluice-collector policy set: group {group} now has policy {PolicyStatus.Short(policy.Hash)} ({(ruleCount < 0 ? "rules not checked" : $"rule lines: {ruleCount}")}, filter rules: {filterCount}); its agents get it with their next heartbeat"
                : $"sluice-collector policy set: group {group} has this policy already ({PolicyStatus.Short(policy.Hash)}); nothing changed");
            return 0;
        }
        catch (Exception e) when (e is FormatException or IOException or Npgsql.NpgsqlException or Microsoft.Data.Sqlite.SqliteException or InvalidOperationException)
        {
            stderr.WriteLine($"sluice-collector policy set: {e.Message}");
            return e is FormatException ? 2 : 1;
        }
    }

    /// <summary>One group in <c>policy show</c>: its policy (null when it has none) and its agents.</summary>
    internal sealed record GroupView(string Group, GroupPolicy? Policy, IReadOnlyList<AgentsCommand.AgentListing> Agents);

    internal static async Task<int> RunShowAsync(string? storeOption, string? group, string tokensPath, bool json, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        AgentTokens? tokens = null;
        try
        {
            tokens = AgentTokens.Load(tokensPath);
        }
        catch (FormatException)
        {
            // The groups the agents had at their last heartbeat, from the store, do instead.
        }
        IReadOnlyList<GroupView> groups;
        try
        {
            await using var store = await CliOptions.OpenExistingAsync(CliOptions.StoreValue(storeOption), ct);
            groups = await ReadAsync(store, tokens, group, ct);
        }
        catch (Exception e) when (e is FormatException or IOException or Npgsql.NpgsqlException or Microsoft.Data.Sqlite.SqliteException or InvalidOperationException)
        {
            stderr.WriteLine($"sluice-collector policy show: {e.Message}");
            return e is FormatException ? 2 : 1;
        }
        stdout.Write(json ? ToJson(groups) : ToText(groups));
        return 0;
    }

    internal static async Task<IReadOnlyList<GroupView>> ReadAsync(IEventStore store, AgentTokens? tokens, string? onlyGroup, CancellationToken ct)
    {
        var policyStore = PolicyStore.Of(store) ?? throw new InvalidOperationException("this store cannot hold policies");
        var policies = (await policyStore.GetPoliciesAsync(null, ct)).ToDictionary(p => p.Group, StringComparer.Ordinal);
        var agents = await AgentsCommand.ReadAsync(store, tokens, ct);
        var names = new SortedSet<string>(policies.Keys, StringComparer.Ordinal);
        names.UnionWith(agents.Where(a => a.Enrolled).Select(a => a.Group));
        if (onlyGroup is not null)
        {
            names = new SortedSet<string>([onlyGroup], StringComparer.Ordinal);
        }
        return [.. names.Select(g => new GroupView(g, policies.GetValueOrDefault(g), [.. agents.Where(a => a.Enrolled && a.Group == g)]))];
    }

    internal static string ToText(IReadOnlyList<GroupView> groups)
    {
        if (groups.Count == 0)
        {
            return "no groups: no policy set and no agent enrolled\n";
        }
        var sb = new System.Text.StringBuilder();
        foreach (var g in groups)
        {
            sb.Append("group ").Append(g.Group).Append(": ");
            if (g.Policy is { } p)
            {
                sb.Append($"policy {p.Hash} set {Iso(p.SetUnixMs)} by {p.SetBy}\n");
            }
            else
            {
                sb.Append("no policy (its agents run their local files, or keep the last central policy they had)\n");
            }
            int inForce = g.Agents.Count(a => a.Policy.State == "in-force");
            sb.Append($"  agents: {g.Agents.Count}, in force {inForce}, differing {g.Agents.Count(a => a.Policy.Differs)}\n");
            if (g.Agents.Count == 0)
            {
                continue;
            }
            var rows = new List<string[]> { new[] { "  AGENT", "STATE", "IN FORCE", "DETAIL" } };
            foreach (var a in g.Agents)
            {
                string detail = a.Policy.State switch
                {
                    "refused" => $"refused {PolicyStatus.Short(a.Policy.Refused)}: {a.Policy.Refusal}",
                    "pending" => "no heartbeat since the policy was set",
                    "local" => "runs its local files",
                    "stale" => "runs another central policy",
                    "unknown" => "never sent a heartbeat",
                    _ => a.Policy.Refused.Length > 0 ? $"refused {PolicyStatus.Short(a.Policy.Refused)} before: {a.Policy.Refusal}" : "",
                };
                rows.Add(["  " + a.AgentId, a.Policy.State, a.Policy.InForce.Length == 0 ? "local" : PolicyStatus.Short(a.Policy.InForce), CliText.OneLine(detail)]);
            }
            sb.Append(CliText.Table(rows));
        }
        return sb.ToString();
    }

    internal static string ToJson(IReadOnlyList<GroupView> groups)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartArray("groups");
            foreach (var g in groups)
            {
                w.WriteStartObject();
                w.WriteString("group", g.Group);
                if (g.Policy is { } p)
                {
                    w.WriteStartObject("policy");
                    w.WriteString("hash", p.Hash);
                    CliText.WriteTime(w, "set", p.SetUnixMs);
                    w.WriteString("set_by", p.SetBy);
                    w.WriteNumber("rules_bytes", System.Text.Encoding.UTF8.GetByteCount(p.Rules));
                    w.WriteNumber("filters_bytes", System.Text.Encoding.UTF8.GetByteCount(p.Filters));
                    w.WriteEndObject();
                }
                else
                {
                    w.WriteNull("policy");
                }
                w.WriteStartArray("agents");
                foreach (var a in g.Agents)
                {
                    w.WriteStartObject();
                    w.WriteString("agent_id", a.AgentId);
                    w.WriteString("hostname", a.Hostname);
                    CliText.WriteTime(w, "last_seen", a.LastSeenUnixMs);
                    AgentsCommand.WritePolicy(w, a.Policy);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    private static string Iso(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
}
