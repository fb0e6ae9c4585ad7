using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Sluice.Collector.Auth;
using Sluice.Collector.Policy;
using Sluice.Collector.Storage;

namespace Sluice.Collector.Cli;

/// <summary><c>sluice-collector agents add|list|revoke</c>: enrollment in the token file, and what the store knows of each agent.</summary>
/// <remarks>
/// The token file is the one <c>serve</c> reads (--tokens, default <see cref="CliOptions.DefaultTokensFile"/>); a running
/// collector reads it again when it changes, so <c>add</c> and <c>revoke</c> take effect without a restart.
/// </remarks>
internal static class AgentsCommand
{
    public static Command Create()
    {
        var command = new Command("agents", "Enroll agents (a token each, only its digest kept), revoke them, and list them with their last heartbeat and policy.");
        command.Subcommands.Add(Add());
        command.Subcommands.Add(Revoke());
        command.Subcommands.Add(List());
        return command;
    }

    private static Command Add()
    {
        var name = new Argument<string>("NAME") { Description = "The agent's id (its AgentId; default on the agent: its /etc/machine-id)." };
        var group = new Option<string>("--group") { Description = "The agent's group, for central policy.", DefaultValueFactory = _ => AgentTokens.DefaultGroup };
        var tokens = CliOptions.Tokens();
        var command = new Command("add", "Enroll an agent: print a new token once on stdout, and store only its digest (NAME sha256:HEX group=G) in the token file.");
        command.Arguments.Add(name);
        command.Options.Add(group);
        command.Options.Add(tokens);
        command.SetAction(parse => RunAdd(parse.GetValue(tokens) ?? CliOptions.DefaultTokensFile(), parse.GetValue(name)!, parse.GetValue(group)!, Console.Out, Console.Error));
        return command;
    }

    private static Command Revoke()
    {
        var name = new Argument<string>("NAME") { Description = "The agent's id." };
        var tokens = CliOptions.Tokens();
        var command = new Command("revoke", "Remove an agent's line from the token file: a running collector refuses its next call (UNAUTHENTICATED). What it sent stays in the store.");
        command.Arguments.Add(name);
        command.Options.Add(tokens);
        command.SetAction(parse => RunRevoke(parse.GetValue(tokens) ?? CliOptions.DefaultTokensFile(), parse.GetValue(name)!, Console.Error));
        return command;
    }

    private static Command List()
    {
        var store = CliOptions.StoreOrEnvironment();
        var tokens = CliOptions.Tokens();
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table." };
        var command = new Command("list", "Every enrolled agent and every agent in the store: group, last seen, version, policy in force (or refused, with the reason), epoch.");
        command.Options.Add(store);
        command.Options.Add(tokens);
        command.Options.Add(json);
        command.SetAction((parse, ct) => RunListAsync(parse.GetValue(store), parse.GetValue(tokens) ?? CliOptions.DefaultTokensFile(), parse.GetValue(json), Console.Out, Console.Error, ct));
        return command;
    }

    internal static int RunAdd(string tokensPath, string name, string group, TextWriter stdout, TextWriter stderr) =>
        EditTokens("add", stderr, () =>
        {
            string token = TokenFileEditor.Add(tokensPath, name, group);
            stdout.WriteLine(token);
            stderr.WriteLine($"sluice-collector agents add: enrolled '{name}' in group {group} in {tokensPath}; the token above is shown once: " +
                             "put it in the agent's Shipping:TokenFile (0600). A running collector accepts it within a second.");
        });

    internal static int RunRevoke(string tokensPath, string name, TextWriter stderr) =>
        EditTokens("revoke", stderr, () =>
        {
            string group = TokenFileEditor.Revoke(tokensPath, name);
            stderr.WriteLine($"sluice-collector agents revoke: removed '{name}' (group {group}) from {tokensPath}; a running collector refuses its next call.");
        });

    /// <summary>Runs an edit of the token file: a bad name or group exits 2, a file that cannot be read or written 1.</summary>
    private static int EditTokens(string verb, TextWriter stderr, Action edit)
    {
        try
        {
            edit();
            return 0;
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            stderr.WriteLine($"sluice-collector agents {verb}: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"sluice-collector agents {verb}: {e.Message}");
            return 1;
        }
    }

    /// <summary>One line of <c>agents list</c>.</summary>
    internal sealed record AgentListing(string AgentId, string Group, bool Enrolled, string Hostname, long? LastSeenUnixMs, string Version, PolicyStatus Policy, string Epoch);

    internal static async Task<int> RunListAsync(string? storeOption, string tokensPath, bool json, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        AgentTokens? tokens = null;
        try
        {
            tokens = AgentTokens.Load(tokensPath);
        }
        catch (FormatException e)
        {
            // Still useful without it: the store knows every agent that ever called.
            stderr.WriteLine($"sluice-collector agents list: warning: {e.Message}; listing the agents in the store only");
        }
        IReadOnlyList<AgentListing> listing;
        try
        {
            await using var store = await CliOptions.OpenExistingAsync(CliOptions.StoreValue(storeOption), ct);
            listing = await ReadAsync(store, tokens, ct);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or IOException or Npgsql.NpgsqlException or Microsoft.Data.Sqlite.SqliteException or InvalidOperationException)
        {
            stderr.WriteLine($"sluice-collector agents list: {e.Message}");
            return e is FormatException ? 2 : 1;
        }
        stdout.Write(json ? ToJson(listing) : ToText(listing));
        return 0;
    }

    /// <summary>The agents of the token file and of the store, joined by id, with their policy status against their group's policy.</summary>
    internal static async Task<IReadOnlyList<AgentListing>> ReadAsync(IEventStore store, AgentTokens? tokens, CancellationToken ct)
    {
        var policyStore = PolicyStore.Of(store) ?? throw new InvalidOperationException("this store cannot list agents");
        var rows = (await policyStore.GetAgentsAsync(ct)).ToDictionary(r => r.AgentId, StringComparer.Ordinal);
        var policies = (await policyStore.GetHashesAsync(ct)).ToDictionary(p => p.Key, p => new GroupPolicyRef(p.Key, p.Value.Hash, p.Value.SetUnixMs), StringComparer.Ordinal);
        var ids = new SortedSet<string>(rows.Keys, StringComparer.Ordinal);
        if (tokens is not null)
        {
            ids.UnionWith(tokens.Agents);
        }
        var list = new List<AgentListing>();
        foreach (string id in ids)
        {
            rows.TryGetValue(id, out var row);
            bool enrolled = tokens?.Agents.Contains(id, StringComparer.Ordinal) ?? true;
            // The token file says which group the agent is in now; the store, which it was in at its last heartbeat.
            string group = tokens is not null && enrolled ? tokens.GroupOf(id) : row?.Group ?? AgentTokens.DefaultGroup;
            var status = PolicyStatus.Of(policies.GetValueOrDefault(group), row?.PolicyHash ?? "", row?.RefusedHash ?? "", row?.Refusal ?? "", row?.LastHeartbeatUnixMs);
            long? seen = row is null ? null : Max(row.LastSeenUnixMs, row.LastHeartbeatUnixMs);
            list.Add(new AgentListing(id, group, enrolled, row?.Hostname ?? "", seen, row?.Version ?? "", status, row?.Epoch ?? ""));
        }
        return list;
    }

    private static long? Max(long? a, long? b) => a is null ? b : b is null ? a : Math.Max(a.Value, b.Value);

    internal static string ToJson(IReadOnlyList<AgentListing> listing)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartArray("agents");
            foreach (var a in listing)
            {
                w.WriteStartObject();
                w.WriteString("agent_id", a.AgentId);
                w.WriteString("group", a.Group);
                w.WriteBoolean("enrolled", a.Enrolled);
                w.WriteString("hostname", a.Hostname);
                CliText.WriteTime(w, "last_seen", a.LastSeenUnixMs);
                w.WriteString("version", a.Version);
                WritePolicy(w, a.Policy);
                w.WriteString("epoch", a.Epoch);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    /// <summary>"policy": {state, differs, group_hash, in_force, refused_hash, refusal}.</summary>
    internal static void WritePolicy(Utf8JsonWriter w, PolicyStatus p)
    {
        w.WriteStartObject("policy");
        w.WriteString("state", p.State);
        w.WriteBoolean("differs", p.Differs);
        w.WriteString("group_hash", p.Expected);
        w.WriteString("in_force", p.InForce);
        w.WriteString("refused_hash", p.Refused);
        w.WriteString("refusal", p.Refusal);
        w.WriteEndObject();
    }

    internal static string ToText(IReadOnlyList<AgentListing> listing)
    {
        if (listing.Count == 0)
        {
            return "no agents\n";
        }
        var rows = new List<string[]> { new[] { "AGENT", "GROUP", "LAST SEEN (UTC)", "VERSION", "POLICY IN FORCE", "STATE", "EPOCH" } };
        foreach (var a in listing)
        {
            rows.Add(
            [
                a.Enrolled ? a.AgentId : a.AgentId + " (revoked)",
                a.Group,
                a.LastSeenUnixMs is long ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) : "never",
                a.Version.Length == 0 ? "-" : a.Version,
                CliText.OneLine(a.Policy.InForceShort),
                a.Policy.State,
                a.Epoch.Length == 0 ? "-" : a.Epoch,
            ]);
        }
        return CliText.Table(rows);
    }
}
