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
        var (code, output) = AgentProcess.RunTool("auditctl", "-s");
        Assert.True(code == 0, $"auditctl -s failed (is auditd installed?): {output}");
        var auditctl = output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' '))
            .ToDictionary(p => p[0], p => p[1]);

        var (exit, stdout, stderr) = AgentProcess.Run("status --json");

        Assert.True(exit == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        string[] shared = ["enabled", "failure", "pid", "rate_limit", "backlog_limit", "lost", "backlog",
            "backlog_wait_time", "backlog_wait_time_actual", "loginuid_immutable"];
        foreach (var name in shared)
        {
            Assert.True(auditctl.ContainsKey(name), $"auditctl -s has no {name}");
            Assert.Equal(auditctl[name], root.GetProperty(name).GetRawText());
        }
        Assert.Equal("4321", root.GetProperty("backlog_limit").GetRawText());
        Assert.Equal("17", root.GetProperty("rate_limit").GetRawText());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("consumer_comm").ValueKind);
        Assert.Equal(KernelSnapshot.Take().Rules.Count, root.GetProperty("rules").GetInt32());
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
