using System.Text.Json;
using Grpc.Core;
using Sluice.Collector.Cli;
using Sluice.Collector.Ingest;
using Sluice.Collector.Policy;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.Policies;
using static Sluice.Collector.Tests.Fleet.FleetCollector;

namespace Sluice.Collector.Tests.Fleet;

/// <summary>
/// Central policy through a running collector and the CLI, on each store: <c>policy set</c> reaches the collector, the
/// heartbeat reply carries the policy only when the agent needs it, and what agents report is shown by <c>agents list</c>,
/// <c>policy show</c>, the report and the dashboard.
/// </summary>
public abstract class PolicyTests : IDisposable
{
    private protected abstract IStoreFactory Stores { get; }

    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-policy-").FullName;

    public virtual void Dispose() => Directory.Delete(_dir, recursive: true);

    protected const string GoodRules = """
        # web servers
        -w /etc/passwd -p wa -k identity
        -a always,exit -F arch=b64 -S execve -k exec
        """;

    protected const string GoodFilters = """
        [
          { "Name": "quiet-cron", "Comm": ["cron"], "Action": "Drop" },
          { "Keys": ["exec"], "Action": "Sample", "SampleEvery": 10 }
        ]
        """;

    private string WriteFile(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private async Task<string> SetAsync(FleetCollector fleet, string group, string rules, string? filters = null)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int rc = await PolicyCommand.RunSetAsync(fleet.StoreSpec, group, WriteFile(group + ".rules", rules), filters is null ? null : WriteFile(group + ".filters.json", filters),
            noCheck: false, stdout, stderr, CancellationToken.None);
        Assert.True(rc == 0, stderr.ToString());
        return stdout.ToString().Trim();
    }

    private static async Task<JsonElement> JsonOfAsync(Func<TextWriter, TextWriter, Task<int>> run)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int rc = await run(stdout, stderr);
        Assert.True(rc == 0, stderr.ToString());
        return JsonDocument.Parse(stdout.ToString()).RootElement.Clone();
    }

    [Fact]
    public async Task PolicySet_ReachesRunningCollector_ReplyCarriesPolicyOnlyWhenAgentHasNeitherInForceNorRefused()
    {
        await using var fleet = await StartAsync(Stores);
        var client = fleet.Client();
        string web = fleet.Add("web-1", "web");
        string db = fleet.Add("db-1");
        await EventuallyAsync(() => fleet.HeartbeatStatusAsync(client, "web-1", web), s => s == StatusCode.OK, "web-1 enrolled");
        Assert.Equal(StatusCode.OK, await fleet.HeartbeatStatusAsync(client, "db-1", db));

        // No policy yet: the reply names the group and no policy.
        var before = await client.HeartbeatAsync(Beat("web-1"), Bearer(web));
        Assert.Equal(("web", "", (Sluice.Protocol.V1.Policy?)null), (before.Group, before.PolicyHash, before.Policy));

        string hash = await SetAsync(fleet, "web", GoodRules, GoodFilters);
        Assert.Equal(PolicyDigest.Compute(GoodRules, GoodFilters.ReplaceLineEndings("\n")), hash);

        // Set by another store connection (as another process would): the running collector answers with it within seconds.
        var reply = await EventuallyAsync(() => client.HeartbeatAsync(Beat("web-1"), Bearer(web)).ResponseAsync, r => r.PolicyHash == hash, "the policy reached the collector");
        Assert.NotNull(reply.Policy);
        Assert.Equal((hash, "web", GoodRules), (reply.Policy.Hash, reply.Policy.Group, reply.Policy.Rules));
        Assert.True(PolicyDigest.Matches(reply.Policy));
        Assert.True(reply.Policy.SetUnixMs > 0);

        // In force at the agent: the reply names the hash, without the policy.
        var inForce = await client.HeartbeatAsync(Beat("web-1", policyHash: hash), Bearer(web));
        Assert.Equal((hash, (Sluice.Protocol.V1.Policy?)null), (inForce.PolicyHash, inForce.Policy));
        // Refused by the agent: not sent again.
        var refused = await client.HeartbeatAsync(Beat("web-1", refusedHash: hash, refusal: "web.rules:3: 'execve': no such syscall"), Bearer(web));
        Assert.Equal((hash, (Sluice.Protocol.V1.Policy?)null), (refused.PolicyHash, refused.Policy));
        // An older central policy in force: the new one is sent.
        var stale = await client.HeartbeatAsync(Beat("web-1", policyHash: new string('0', 64)), Bearer(web));
        Assert.Equal(hash, stale.Policy?.Hash);
        // Another group's agent gets none.
        var other = await client.HeartbeatAsync(Beat("db-1"), Bearer(db));
        Assert.Equal(("", "", (Sluice.Protocol.V1.Policy?)null), (other.Group, other.PolicyHash, other.Policy));
        Assert.Equal(2, fleet.Server.Counters.PoliciesSent);

        // The same policy again changes nothing; a new one replaces it.
        Assert.Equal(hash, await SetAsync(fleet, "web", GoodRules, GoodFilters));
        string second = await SetAsync(fleet, "web", GoodRules + "\n-w /etc/shadow -p wa -k identity\n");
        var next = await EventuallyAsync(() => client.HeartbeatAsync(Beat("web-1", policyHash: hash), Bearer(web)).ResponseAsync, r => r.PolicyHash == second, "the second policy");
        Assert.Equal("", next.Policy.Filters);
        Assert.True(PolicyDigest.Matches(next.Policy));
    }

    [Fact]
    public async Task Heartbeats_ManyCalls_PoliciesReadFromTheStoreOncePerRefreshInterval_NotPerCall()
    {
        await using var fleet = await StartAsync(Stores, policyRefresh: TimeSpan.FromHours(1));
        var client = fleet.Client();
        string token = fleet.Add("web-1", "web");
        string hash = await SetAsync(fleet, "web", GoodRules);
        await EventuallyAsync(() => fleet.HeartbeatStatusAsync(client, "web-1", token), s => s == StatusCode.OK, "enrolled");

        for (int i = 0; i < 20; i++)
        {
            var reply = await client.HeartbeatAsync(Beat("web-1", policyHash: i == 0 ? "" : hash), Bearer(token));
            Assert.Equal(hash, reply.PolicyHash);
            Assert.Equal(i == 0, reply.Policy is not null);
        }

        var cache = (PolicyCache)fleet.Server.Services.GetService(typeof(PolicyCache))!;
        // The first heartbeat read the policies; the others answered from memory.
        Assert.Equal(1, cache.Refreshes);
        Assert.Equal(0, cache.RefreshFailures);
    }

    [Fact]
    public async Task AgentRefusal_ShownByPolicyShowAgentsListReportAndDashboard_AndLoggedOnce()
    {
        await using var fleet = await StartAsync(Stores);
        var client = fleet.Client();
        string web1 = fleet.Add("web-1", "web");
        string web2 = fleet.Add("web-2", "web");
        string web3 = fleet.Add("web-3", "web");
        fleet.Add("web-4", "web");
        await EventuallyAsync(() => fleet.HeartbeatStatusAsync(client, "web-3", web3), s => s == StatusCode.OK, "enrolled");
        string hash = await SetAsync(fleet, "web", GoodRules, GoodFilters);
        await EventuallyAsync(() => client.HeartbeatAsync(Beat("web-1"), Bearer(web1)).ResponseAsync, r => r.PolicyHash == hash, "the policy reached the collector");

        const string reason = "central policy line 3: 'execve': the kernel refused the rule: Invalid argument";
        await client.HeartbeatAsync(Beat("web-1", policyHash: hash, version: "0.1.0"), Bearer(web1));
        await client.HeartbeatAsync(Beat("web-2", refusedHash: hash, refusal: reason, version: "0.1.1"), Bearer(web2));
        await client.HeartbeatAsync(Beat("web-2", refusedHash: hash, refusal: reason, version: "0.1.1"), Bearer(web2));
        await client.HeartbeatAsync(Beat("web-3"), Bearer(web3));

        // policy show: the group's hash and each agent's state, the refusal with its reason.
        var show = await JsonOfAsync((o, e) => PolicyCommand.RunShowAsync(fleet.StoreSpec, "web", fleet.TokensPath, json: true, o, e, CancellationToken.None));
        var group = Assert.Single(show.GetProperty("groups").EnumerateArray());
        Assert.Equal(hash, group.GetProperty("policy").GetProperty("hash").GetString());
        var states = group.GetProperty("agents").EnumerateArray().ToDictionary(a => a.GetProperty("agent_id").GetString()!, a => a.GetProperty("policy"));
        Assert.Equal("in-force", states["web-1"].GetProperty("state").GetString());
        Assert.Equal("refused", states["web-2"].GetProperty("state").GetString());
        Assert.Equal(reason, states["web-2"].GetProperty("refusal").GetString());
        Assert.Equal("local", states["web-3"].GetProperty("state").GetString());
        Assert.Equal("unknown", states["web-4"].GetProperty("state").GetString());
        var text = new StringWriter();
        Assert.Equal(0, await PolicyCommand.RunShowAsync(fleet.StoreSpec, null, fleet.TokensPath, json: false, text, new StringWriter(), CancellationToken.None));
        Assert.Contains($"group web: policy {hash} set ", text.ToString());
        Assert.Contains($"refused {hash[..12]}: {reason}", text.ToString());

        // agents list: group, version, policy in force, the refusal, the epoch.
        var list = await JsonOfAsync((o, e) => AgentsCommand.RunListAsync(fleet.StoreSpec, fleet.TokensPath, json: true, o, e, CancellationToken.None));
        var agents = list.GetProperty("agents").EnumerateArray().ToDictionary(a => a.GetProperty("agent_id").GetString()!);
        Assert.Equal(["web-1", "web-2", "web-3", "web-4"], agents.Keys.Order());
        Assert.Equal("web", agents["web-2"].GetProperty("group").GetString());
        Assert.Equal("0.1.1", agents["web-2"].GetProperty("version").GetString());
        Assert.Equal(Epoch, agents["web-2"].GetProperty("epoch").GetString());
        Assert.Equal(hash, agents["web-2"].GetProperty("policy").GetProperty("refused_hash").GetString());
        Assert.Equal(reason, agents["web-2"].GetProperty("policy").GetProperty("refusal").GetString());
        Assert.Equal(hash, agents["web-1"].GetProperty("policy").GetProperty("in_force").GetString());
        Assert.Equal(JsonValueKind.Null, agents["web-4"].GetProperty("last_seen").ValueKind);
        var table = new StringWriter();
        Assert.Equal(0, await AgentsCommand.RunListAsync(fleet.StoreSpec, fleet.TokensPath, json: false, table, new StringWriter(), CancellationToken.None));
        string web2Line = Assert.Single(table.ToString().Split('\n'), l => l.StartsWith("web-2 ", StringComparison.Ordinal));
        Assert.Contains($"local; refused {hash[..12]}: {reason}", web2Line);
        Assert.Contains("refused", web2Line);
        Assert.Contains(Epoch, web2Line);
        Assert.Contains($"{hash[..12]}", Assert.Single(table.ToString().Split('\n'), l => l.StartsWith("web-1 ", StringComparison.Ordinal)));

        // The report names the hosts that differ (refused, local; web-4 never reported), in every format.
        string from = DateTimeOffset.UtcNow.AddHours(-1).ToString("O");
        string to = DateTimeOffset.UtcNow.AddMinutes(5).ToString("O");
        string jsonPath = Path.Combine(_dir, "report.json");
        var stderr = new StringWriter();
        Assert.True(await ReportCommand.RunAsync(fleet.StoreSpec, from, to, null, "json", jsonPath, null, null, null, stderr, CancellationToken.None) == 0, stderr.ToString());
        var report = JsonDocument.Parse(await File.ReadAllTextAsync(jsonPath)).RootElement.GetProperty("policy");
        Assert.Equal(["web-2", "web-3"], report.GetProperty("differing").EnumerateArray().Select(x => x.GetString()!));
        var host2 = report.GetProperty("hosts").EnumerateArray().Single(h => h.GetProperty("agent_id").GetString() == "web-2");
        Assert.Equal(("refused", reason, hash), (host2.GetProperty("state").GetString(), host2.GetProperty("refusal").GetString(), host2.GetProperty("group_policy").GetString()));
        Assert.Equal(hash, report.GetProperty("changes").EnumerateArray().Single().GetProperty("hash").GetString());
        foreach (var format in new[] { "md", "html", "csv" })
        {
            string outPath = Path.Combine(_dir, "report." + format);
            Assert.Equal(0, await ReportCommand.RunAsync(fleet.StoreSpec, from, to, null, format, outPath, null, null, null, new StringWriter(), CancellationToken.None));
            string written = format == "csv" ? await File.ReadAllTextAsync(Path.Combine(_dir, "report.policy.csv")) : await File.ReadAllTextAsync(outPath);
            Assert.Contains("web-2", written);
            Assert.Contains(format == "csv" ? "refused,yes" : "2 hosts differ from their group", written);
        }

        // The dashboard's fleet and host views.
        var fleetView = await fleet.ApiAsync("/api/fleet");
        Assert.Equal(["web-2", "web-3"], fleetView.GetProperty("policy_differing").EnumerateArray().Select(x => x.GetString()!));
        var row = fleetView.GetProperty("hosts").EnumerateArray().Single(h => h.GetProperty("agent_id").GetString() == "web-2");
        Assert.Equal("refused", row.GetProperty("policy").GetProperty("state").GetString());
        Assert.True(row.GetProperty("policy").GetProperty("differs").GetBoolean());
        var hostView = await fleet.ApiAsync("/api/hosts/web-1");
        Assert.Equal("in-force", hostView.GetProperty("host").GetProperty("policy").GetProperty("state").GetString());

        // One log line for the refusal, however often it is repeated.
        string logged = Assert.Single(fleet.Log.With(172));
        Assert.Contains($"Agent web-2 (group web) refused central policy {hash[..12]}", logged);
        Assert.Contains(reason, logged);
    }

    [Fact]
    public async Task Heartbeat_Forged100KbRefusal_StoredCutToLimitMarkedAndCounted_BadPolicyHashRefused()
    {
        await using var fleet = await StartAsync(Stores);
        var client = fleet.Client();
        string token = fleet.Add("web-1", "web");
        await EventuallyAsync(() => fleet.HeartbeatStatusAsync(client, "web-1", token), s => s == StatusCode.OK, "enrolled");
        string huge = string.Concat(Enumerable.Repeat("refusal-", 100 * 1024 / 8));

        await client.HeartbeatAsync(Beat("web-1", refusedHash: new string('a', 64), refusal: huge), Bearer(token));

        Assert.Equal(1, fleet.Server.Counters.PolicyRefusalsTruncated);
        Assert.Single(fleet.Log.With(173));
        var list = await JsonOfAsync((o, e) => AgentsCommand.RunListAsync(fleet.StoreSpec, fleet.TokensPath, json: true, o, e, CancellationToken.None));
        string stored = list.GetProperty("agents")[0].GetProperty("policy").GetProperty("refusal").GetString()!;
        Assert.Equal(IngestLimits.MaxPolicyRefusalLength, stored.Length);
        Assert.StartsWith("refusal-refusal-", stored);
        Assert.EndsWith($" ... (cut by the collector: {huge.Length} characters)", stored);

        // A policy hash that is not one, or a refusal with a NUL, is refused as any malformed heartbeat is, and counted.
        var e = await Assert.ThrowsAsync<RpcException>(() => client.HeartbeatAsync(Beat("web-1", policyHash: "not-a-hash"), Bearer(token)).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("policy_hash 'not-a-hash' is not a policy hash", e.Status.Detail);
        e = await Assert.ThrowsAsync<RpcException>(() => client.HeartbeatAsync(Beat("web-1", refusedHash: new string('a', 64), refusal: "a\0b"), Bearer(token)).ResponseAsync);
        Assert.Contains("policy_refusal contains a NUL character", e.Status.Detail);
        Assert.Equal(2, fleet.Server.Counters.RefusedInvalid);
    }

    [Fact]
    public async Task PolicySet_BrokenRulesOrFilters_RefusedNamingLineAndReason_NothingStored_NoCheckStoresRules()
    {
        await using var fleet = await StartAsync(Stores);
        string rules = WriteFile("broken.rules", "-w /etc/passwd -p wa -k identity\n\n-a always,exit -F arch=b64 -S no_such_call -k x\n");
        var stderr = new StringWriter();

        int rc = await PolicyCommand.RunSetAsync(fleet.StoreSpec, "web", rules, null, noCheck: false, new StringWriter(), stderr, CancellationToken.None);

        Assert.Equal(2, rc);
        Assert.Contains($"refused: {rules}:3: 'no_such_call'", stderr.ToString());
        string filters = WriteFile("broken.json", "[\n  { \"Action\": \"Drop\" },\n  { \"Action\": \"Dropp\" }\n]\n");
        stderr = new StringWriter();
        rc = await PolicyCommand.RunSetAsync(fleet.StoreSpec, "web", WriteFile("good.rules", GoodRules), filters, noCheck: true, new StringWriter(), stderr, CancellationToken.None);
        Assert.Equal(2, rc);
        Assert.Contains($"refused: {filters}:3: filter rule 1, \"Action\": 'Dropp' is not one of Keep, Drop, Sample, RateLimit", stderr.ToString());
        var show = await JsonOfAsync((o, e) => PolicyCommand.RunShowAsync(fleet.StoreSpec, null, fleet.TokensPath, json: true, o, e, CancellationToken.None));
        Assert.Empty(show.GetProperty("groups").EnumerateArray());

        // --no-check stores rules this host cannot compile (a syscall of another kernel); the agent compiles them.
        var stdout = new StringWriter();
        Assert.Equal(0, await PolicyCommand.RunSetAsync(fleet.StoreSpec, "web", rules, null, noCheck: true, stdout, new StringWriter(), CancellationToken.None));
        show = await JsonOfAsync((o, e) => PolicyCommand.RunShowAsync(fleet.StoreSpec, null, fleet.TokensPath, json: true, o, e, CancellationToken.None));
        Assert.Equal(stdout.ToString().Trim(), show.GetProperty("groups")[0].GetProperty("policy").GetProperty("hash").GetString());
    }
}

public sealed class SqlitePolicyTests : PolicyTests
{
    private readonly SqliteStoreFactory _stores = new();
    private protected override IStoreFactory Stores => _stores;

    public override void Dispose()
    {
        _stores.Dispose();
        base.Dispose();
    }
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresPolicyTests(PostgresFixture pg) : PolicyTests
{
    private protected override IStoreFactory Stores { get; } = new PostgresStoreFactory(pg.Cluster);
}
