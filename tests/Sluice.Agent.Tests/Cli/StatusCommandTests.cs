using System.Globalization;
using System.Text.Json;
using Sluice.Audit.Netlink;
using Sluice.Testing;

namespace Sluice.Agent.Tests.Cli;

[Collection(KernelAuditFixture.Collection)]
public sealed class StatusCommandTests : IDisposable
{
    private readonly KernelStateGuard _guard = new();

    public void Dispose() => _guard.Dispose();

    [Fact]
    public void StatusJson_ComparedWithAuditctl_EverySharedFieldEqual()
    {
        // Make the values distinctive so a wrong field mapping cannot pass by coincidence.
        using (var client = AuditControlClient.Open())
        {
            client.SetBacklogLimit(4321);
            client.SetRateLimit(17);
            client.SetBacklogWaitTime(0);
        }
        var before = AuditctlStatus();

        var (exit, stdout, stderr) = AgentProcess.Run("status --json");

        var after = AuditctlStatus();
        Assert.True(exit == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        string[] settled = ["enabled", "failure", "pid", "rate_limit", "backlog_limit", "backlog_wait_time", "loginuid_immutable"];
        foreach (var name in settled)
        {
            Assert.True(before.ContainsKey(name), $"auditctl -s has no {name}");
            Assert.Equal(before[name], root.GetProperty(name).GetRawText());
        }
        // Live counters move while nobody consumes (every settings change above logs a record):
        // the agent's read lies between the two auditctl reads around it.
        foreach (var name in (string[])["lost", "backlog_wait_time_actual"])
        {
            long value = root.GetProperty(name).GetInt64();
            Assert.InRange(value, long.Parse(before[name], CultureInfo.InvariantCulture), long.Parse(after[name], CultureInfo.InvariantCulture));
        }
        long backlog = root.GetProperty("backlog").GetInt64();
        Assert.InRange(backlog, 0, 4321);
        Assert.True(before.ContainsKey("backlog"), "auditctl -s has no backlog");
        Assert.Equal("4321", root.GetProperty("backlog_limit").GetRawText());
        Assert.Equal("17", root.GetProperty("rate_limit").GetRawText());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("consumer_comm").ValueKind);
        Assert.Equal(KernelSnapshot.Take().Rules.Count, root.GetProperty("rules").GetInt32());
    }

    private static Dictionary<string, string> AuditctlStatus()
    {
        var (code, output) = AgentProcess.RunTool("auditctl", "-s");
        Assert.True(code == 0, $"auditctl -s failed (is auditd installed?): {output}");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' '))
            .ToDictionary(p => p[0], p => p[1]);
    }

    [Fact]
    public void StatusText_UsesAuditctlNamesAndOrder()
    {
        var (code, auditctl) = AgentProcess.RunTool("auditctl", "-s");
        Assert.Equal(0, code);
        var (exit, stdout, stderr) = AgentProcess.Run("status");
        Assert.True(exit == 0, stderr);
        var ours = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0]).ToList();
        var theirs = auditctl.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0]).ToList();
        Assert.Equal(theirs, ours.Take(theirs.Count));
        Assert.Contains("rules", ours);
    }

    [Fact]
    public void Status_AsUnprivilegedUser_ExitsNonZeroSayingWhatToDo()
    {
        var (exit, stdout, stderr) = AgentProcess.Run("status --json", runAsUser: "65534");

        Assert.Equal(4, exit);
        Assert.Equal("", stdout);
        Assert.Contains("permission denied", stderr);
        Assert.Contains("CAP_AUDIT_CONTROL", stderr);
    }
}
