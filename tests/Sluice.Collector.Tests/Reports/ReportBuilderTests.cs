using Sluice.Collector.Reports;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using static Sluice.Collector.Tests.Reports.ReportDataset;

namespace Sluice.Collector.Tests.Reports;

/// <summary>Each report section on <see cref="ReportDataset"/>, for each store: every count against the known content.</summary>
public abstract class ReportBuilderTests : PerStoreTests
{
    private protected ReportBuilderTests(IStoreFactory stores) : base(stores)
    {
    }

    private static readonly TimeProvider Fixed = new FixedTime(End + 60 * Minute);

    private protected async Task<ComplianceReport> BuildAsync(ReportRequest? request = null, string? baseline = null)
    {
        var (store, _) = await Stores.CreateAsync();
        await using var _s = store;
        await FeedAsync(store);
        string? path = null;
        if (baseline is not null)
        {
            path = Path.Combine(Path.GetTempPath(), $"sluice-baseline-{Guid.NewGuid():N}.rules");
            await File.WriteAllTextAsync(path, baseline);
        }
        try
        {
            return await new ReportBuilder(store, Fixed).BuildAsync(request ?? new ReportRequest(T0, End, null, path), CancellationToken.None);
        }
        finally
        {
            if (path is not null) File.Delete(path);
        }
    }

    private static HostCoverage Host(ComplianceReport r, string agent) => r.Coverage.Single(h => h.AgentId == agent);

    [Fact]
    public async Task Coverage_FourHosts_IntervalsVerdictsAndTotalsAsFed()
    {
        var r = await BuildAsync();

        Assert.Equal(["a", "b", "c", "d"], r.Coverage.Select(h => h.AgentId));
        var a = Host(r, "a");
        Assert.Equal([(T0, End, true)], a.Intervals.Select(i => (i.StartUnixMs, i.EndUnixMs, i.Connected)));
        Assert.Equal((4L, 3L, 1L, 0L, 0L, 0L), (a.Loss.Total, a.Loss.KernelLost, a.Loss.SocketOverruns, a.Loss.SerialGaps, a.Loss.SpoolDropped, a.Loss.ReassemblyEvicted));
        Assert.Equal(4, a.Intervals[0].Loss.Total);
        Assert.Equal([(T0 + 30 * Minute, T0 + 40 * Minute, 4L)], a.LossReports.Select(l => (l.StartUnixMs, l.EndUnixMs, l.Loss.Total)));
        Assert.Equal("gaps: 4 lost 2025-11-25 00:30:00 to 2025-11-25 00:40:00 (kernel 3, overrun 1)", a.Verdict);
        Assert.False(a.Complete);
        Assert.Equal((27L, 12L, 120L), (a.Events, a.Batches, a.Heartbeats));
        Assert.Equal([(T0, "h1"), (T0 + 60 * Minute, "h2")], a.RulesHashes.Select(c => (c.AtUnixMs, c.RulesHash)));
        Assert.Equal("h2", a.RulesHash);
        Assert.Equal(End + 10 * Minute + 5, a.LastSeenUnixMs);

        var b = Host(r, "b");
        Assert.Equal([(T0, T0 + 30 * Minute, true), (T0 + 30 * Minute, T0 + 70 * Minute, false), (T0 + 70 * Minute, End, true)],
            b.Intervals.Select(i => (i.StartUnixMs, i.EndUnixMs, i.Connected)));
        Assert.Equal("gaps: no agent 2025-11-25 00:30:00 to 2025-11-25 01:10:00 (40m)", b.Verdict);
        Assert.Equal(40 * Minute, b.DisconnectedMs);
        Assert.Equal(80 * Minute, b.ConnectedMs);
        Assert.Equal((1L, 1L, 81L), (b.Events, b.Batches, b.Heartbeats));

        var c = Host(r, "c");
        Assert.Equal([(T0, End, false)], c.Intervals.Select(i => (i.StartUnixMs, i.EndUnixMs, i.Connected)));
        Assert.Equal("gaps: no agent 2025-11-25 00:00:00 to 2025-11-25 02:00:00 (2h)", c.Verdict);
        Assert.Equal((0L, 0L, 0L), (c.Events, c.Batches, c.Heartbeats));
        Assert.Empty(c.RulesHashes);

        var d = Host(r, "d");
        Assert.Equal("continuous, complete", d.Verdict);
        Assert.True(d.Complete);
        Assert.Equal((0L, 60L), (d.Events, d.Heartbeats));

        Assert.Equal([("a", T0, 18L), ("a", T0 + 60 * Minute, 9L), ("b", T0 + 60 * Minute, 1L)], r.EventsPerHour.Select(h => (h.AgentId, h.HourUnixMs, h.Events)));
        Assert.Equal([("a", T0, 4L)], r.LossOverTime.Select(l => (l.AgentId, l.HourUnixMs, l.Loss.Total)));
    }

    [Fact]
    public async Task Privileged_ExecsWithEuid0_ByLoginUserWithArgv_FailedAndOutOfRangeLeftOut()
    {
        var p = (await BuildAsync()).Privileged;

        Assert.Equal((12L, 4L), (p.Total, p.Elevated));
        Assert.Equal([("a", "0", 8L, 0L), ("a", "1000", 2L, 2L), ("a", "unset", 1L, 1L), ("b", "1001", 1L, 1L)],
            p.ByUser.Select(x => (x.AgentId, x.LoginUser, x.Commands, x.Elevated)));
        Assert.Equal([("a", "0", "0", "/usr/bin/id", "id", 8L), ("a", "1000", "0", "/usr/bin/sudo", "sudo id", 2L), ("a", "unset", "0", "/usr/sbin/cron", "cron -f", 1L),
            ("b", "1001", "1001", "/usr/bin/sudo", "sudo systemctl restart nginx", 1L)],
            p.Commands.Select(x => (x.AgentId, x.LoginUser, x.Uid, x.Exe, x.Argv, x.Count)));
        Assert.Equal((T0, End - 1), (p.Commands[0].FirstUnixMs, p.Commands[0].LastUnixMs));
        // b's agent sent the parent chain; a's did not.
        Assert.Equal(["unknown (no context) \u2192 /usr/bin/id", "unknown (no context) \u2192 /usr/bin/sudo", "unknown (no context) \u2192 /usr/sbin/cron",
            "/usr/sbin/sshd \u2192 /usr/bin/bash \u2192 /usr/bin/sudo"], p.Commands.Select(x => x.ParentChain));
        Assert.Equal(0, p.CommandsOmitted);
    }

    [Fact]
    public async Task Privileged_RowLimit_ListsTheLargestAndCountsTheRest()
    {
        var p = (await BuildAsync(new ReportRequest(T0, End, null, null) { MaxRows = 2 })).Privileged;

        Assert.Equal(12, p.Total);
        Assert.Equal([8L, 2L], p.Commands.Select(x => x.Count));
        Assert.Equal(2, p.CommandsOmitted);
    }

    [Fact]
    public async Task Identity_AccountAuthLoginAndIdentityFileWrites_CountedByTypeAndResult()
    {
        var s = (await BuildAsync()).Identity;

        Assert.Equal([("a", "account", "ADD_USER", "success", 1L), ("a", "auth", "USER_AUTH", "failed", 2L), ("a", "auth", "USER_AUTH", "success", 1L),
            ("a", "identity-file", "rename", "success", 1L), ("a", "login", "USER_LOGIN", "success", 1L)],
            s.Counts.Select(x => (x.AgentId, x.Category, x.Type, x.Result, x.Count)));
        Assert.Equal(6, s.Events.Count);
        Assert.Equal("/etc/passwd", s.Events.Single(e => e.Category == "identity-file").Detail);
        Assert.Equal(0, s.EventsOmitted);
    }

    [Fact]
    public async Task AccessFailures_EaccesAndEperm_ByUserAndPath()
    {
        var s = (await BuildAsync()).AccessFailures;

        Assert.Equal(3, s.Total);
        Assert.Equal([("a", "1000", "EPERM", "/etc/hosts", 1L), ("a", "1000", "EACCES", "/root/secret", 2L)],
            s.Rows.Select(x => (x.AgentId, x.LoginUser, x.Error, x.Path, x.Count)));
    }

    [Fact]
    public async Task AuditChanges_ConfigModuleTimeRulesAndAgentRestarts_Counted()
    {
        var s = (await BuildAsync()).AuditChanges;

        Assert.Equal([("a", "audit-config", 2L), ("a", "kernel-module", 1L), ("a", "rules-change", 1L), ("a", "time", 1L), ("b", "agent-silent", 1L), ("b", "agent-start", 1L)],
            s.Counts.Select(x => (x.AgentId, x.Category, x.Count)));
        Assert.Equal(7, s.Changes.Count);
        Assert.Equal(["CONFIG_CHANGE", "CONFIG_CHANGE (sendto)"], s.Changes.Where(c => c.Category == "audit-config").Select(c => c.Type));
        Assert.Equal("rules hash h1 -> h2", s.Changes.Single(c => c.Category == "rules-change").Detail);
        Assert.Equal(T0 + 70 * Minute, s.Changes.Single(c => c.Category == "agent-start").TimeUnixMs);
        Assert.Equal(T0 + 30 * Minute, s.Changes.Single(c => c.Category == "agent-silent").TimeUnixMs);
    }

    [Fact]
    public async Task Baseline_HostRulesAgainstFile_ListsWhatIsMissing()
    {
        var s = (await BuildAsync(baseline: BaselineText)).Baseline;

        Assert.Equal(3, s.BaselineRules.Count);
        var a = s.Hosts.Single(h => h.AgentId == "a");
        Assert.True(a.Known);
        Assert.Equal(("h2", 3), (a.RulesHash, a.RulesInForce));
        Assert.Equal(["-w /etc/shadow -p wa -k identity"], a.Missing);
        Assert.Equal(["-a always,exit -F arch=b64 -S execve -F key=exec"], a.Extra);
        Assert.False(a.Compliant);
        Assert.All(s.Hosts.Where(h => h.AgentId != "a"), h => Assert.Equal((false, 3), (h.Known, h.Missing.Count)));
    }

    [Fact]
    public async Task AgentFilter_OneHost_OnlyItsRows()
    {
        var r = await BuildAsync(new ReportRequest(T0, End, "b", null));

        Assert.Equal(["b"], r.Coverage.Select(h => h.AgentId));
        Assert.Equal(1, r.Privileged.Total);
        Assert.Empty(r.Identity.Counts);
        Assert.Equal(0, r.AccessFailures.Total);
        Assert.Equal(["agent-silent", "agent-start"], r.AuditChanges.Counts.Select(c => c.Category));
    }

    [Fact]
    public async Task RulesHash_BackToAnEarlierHash_EachChangeListed()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var _s = store;
        string[] hashes = ["h1", "h1", "h2", "h2", "h1", "h3"];
        for (int i = 0; i < hashes.Length; i++)
        {
            await store.StoreHeartbeatAsync(Heartbeat("f", T0 + i * Minute, started: T0 - Minute, hash: hashes[i]), T0 + i * Minute, CancellationToken.None);
        }

        var r = await new ReportBuilder(store, Fixed).BuildAsync(new ReportRequest(T0, T0 + 6 * Minute, null, null), CancellationToken.None);

        var f = Host(r, "f");
        Assert.Equal([(T0, "h1"), (T0 + 2 * Minute, "h2"), (T0 + 4 * Minute, "h1"), (T0 + 5 * Minute, "h3")], f.RulesHashes.Select(c => (c.AtUnixMs, c.RulesHash)));
        Assert.Equal(3, r.AuditChanges.Counts.Single(c => c.Category == "rules-change").Count);
    }

    [Fact]
    public async Task UnknownAgent_ArgumentErrorNamingIt()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => BuildAsync(new ReportRequest(T0, End, "nope", null)));
        Assert.Contains("--agent 'nope': no such agent", e.Message);
    }
}

public sealed class SqliteReportBuilderTests() : ReportBuilderTests(new SqliteStoreFactory());

[Collection(PostgresCollection.Name)]
public sealed class PostgresReportBuilderTests(PostgresFixture pg) : ReportBuilderTests(new PostgresStoreFactory(pg.Cluster));
