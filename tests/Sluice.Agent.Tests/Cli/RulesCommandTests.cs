using System.Diagnostics;
using Sluice.Agent.Cli;
using Sluice.Audit.Netlink;
using Sluice.Audit.Rules;
using Sluice.Testing;

namespace Sluice.Agent.Tests.Cli;

public sealed class RulesCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-rules-cli-").FullName;

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Check_FileWithErrors_Exit2AndEachErrorWithFileAndLine()
    {
        string path = Write("bad.rules", "-a always,exit -F arch=b64 -S open\n-a always,exit -S open -F arch=b64\n-w etc/passwd\n");
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        int rc = RulesCommand.Check([path], null, stdout, stderr);

        Assert.Equal(RulesCommand.ExitRuleErrors, rc);
        Assert.Equal("", stdout.ToString());
        string[] lines = stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith($"{path}:2: 'arch=b64': arch must be given before -S", lines[0]);
        Assert.StartsWith($"{path}:3: 'etc/passwd': a watch path must be absolute", lines[1]);
        Assert.Equal("sluice-agent rules check: 2 error(s); nothing loaded", lines[2]);
    }

    [Fact]
    public void Check_ForAarch64_UsesThatSyscallTable()
    {
        string path = Write("a.rules", "-a always,exit -F arch=b64 -S openat,execve -k x\n");
        var stdout = new StringWriter();

        int rc = RulesCommand.Check([path], "aarch64", stdout, new StringWriter());

        Assert.Equal(0, rc);
        Assert.Equal("-a always,exit -F arch=b64 -S openat,execve -F key=x\n", stdout.ToString());
    }

    [Fact]
    public void Check_UnknownMachine_Exit2()
    {
        var stderr = new StringWriter();
        Assert.Equal(RulesCommand.ExitRuleErrors, RulesCommand.Check([Write("a.rules", "")], "sparc", new StringWriter(), stderr));
        Assert.Contains("unknown machine 'sparc'", stderr.ToString());
    }

    [Fact]
    public void Check_ControlLines_NotedOnStderrNotInListing()
    {
        string path = Write("c.rules", "-D\n-b 8192\n-a always,exit -F arch=b64 -S open\n-e 2\n");
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        Assert.Equal(0, RulesCommand.Check([path], "x86_64", stdout, stderr));

        Assert.Equal("-a always,exit -F arch=b64 -S open\n", stdout.ToString());
        Assert.Contains($"{path}:4: control -e 2", stderr.ToString());
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}

[Collection(KernelAuditFixture.Collection)]
public sealed class RulesCommandKernelTests : IDisposable
{
    private readonly KernelStateGuard _guard = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-rules-cli-").FullName;
    private readonly string _key = $"sluice-test-cli-{Environment.ProcessId}";

    private string RulesFile()
    {
        string path = Path.Combine(_dir, "audit.rules");
        File.WriteAllText(path, $"""
            ## a small baseline
            -w /etc/passwd -p wa -k {_key}
            -w {_dir} -p rwxa -k {_key}
            -a always,exit -F arch=b64 -S execve -F euid=0 -F auid>=1000 -F auid!=unset -k {_key}
            -a always,exit -F arch=b32 -S open,openat -F exit=-EACCES -k {_key}
            -A always,exit -F arch=b64 -S getppid -C auid!=uid -k {_key}
            -a never,exclude -F msgtype=BPRM_FCAPS
            -a always,user -F msgtype=USER_CMD -F uid=0
            """);
        return path;
    }

    private static (int Code, string Stdout, string Stderr) Auditctl(params string[] args)
    {
        string exe = new[] { "/sbin/auditctl", "/usr/sbin/auditctl" }.First(File.Exists);
        var psi = new ProcessStartInfo(exe, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout, err.Result);
    }

    [Fact]
    public void Check_File_PrintsWhatAuditctlListsAfterLoadingIt()
    {
        string path = RulesFile();
        var (code, _, stderr) = Auditctl("-R", path);
        Assert.True(code == 0, stderr);
        string listed = Auditctl("-l").Stdout;
        _guard.Dispose();

        var stdout = new StringWriter();
        Assert.Equal(0, RulesCommand.Check([path], null, stdout, new StringWriter()));

        // Only our rules are compared: the kernel may have held others before.
        var before = _guard.Before.Rules.Select(r => RuleFormatter.Format(r)).ToList();
        var ours = listed.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !before.Remove(l));
        Assert.Equal(string.Join('\n', ours) + "\n", stdout.ToString());
    }

    [Fact]
    public void LoadListDelete_ThroughTheVerb_ChangesOnlyOurRules()
    {
        string state = Path.Combine(_dir, "state.json");
        var options = new RuleLoadOptions { StateFile = state };
        var stdout = new StringWriter();

        Assert.Equal(0, RulesCommand.Load([RulesFile()], options, stdout, new StringWriter()));
        Assert.StartsWith("added 7, deleted 0, kept 0", stdout.ToString());

        var list = new StringWriter();
        Assert.Equal(0, RulesCommand.List(_key, list, new StringWriter()));
        Assert.Equal(5, list.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal(Auditctl("-l", "-k", _key).Stdout, list.ToString());

        var deleted = new StringWriter();
        Assert.Equal(0, RulesCommand.Delete(_key, options, deleted, new StringWriter()));
        Assert.Equal($"deleted 5 rule(s) with key {_key}\n", deleted.ToString());
        using var client = AuditControlClient.Open();
        Assert.DoesNotContain(client.ListRules(), r => r.Keys.Contains(_key));
    }

    [Fact]
    public void Load_FileWithError_Exit2AndKernelUnchanged()
    {
        string path = Path.Combine(_dir, "bad.rules");
        File.WriteAllText(path, $"-a always,exit -F arch=b64 -S getppid -k {_key}\n-a always,exit -F arch=b64 -S getppid -F uid&1\n");
        var stderr = new StringWriter();

        int rc = RulesCommand.Load([path], new RuleLoadOptions { StateFile = Path.Combine(_dir, "s.json") }, new StringWriter(), stderr);

        Assert.Equal(RulesCommand.ExitRuleErrors, rc);
        Assert.Contains($"{path}:2: 'uid&1': uid does not take the bit operators", stderr.ToString());
        Assert.Empty(_guard.Before.Differences(KernelSnapshot.Take()));
    }

    [Fact]
    public void Load_ImmutableLine_RefusedExit2RulesStillLoaded()
    {
        string path = Path.Combine(_dir, "e2.rules");
        File.WriteAllText(path, $"-a always,exit -F arch=b64 -S getppid -k {_key}\n-e 2\n");
        var stderr = new StringWriter();

        int rc = RulesCommand.Load([path], new RuleLoadOptions { StateFile = Path.Combine(_dir, "s.json") }, new StringWriter(), stderr);

        Assert.Equal(RulesCommand.ExitRuleErrors, rc);
        Assert.Contains($"{path}:2: -e 2 (lock the audit configuration until reboot) refused", stderr.ToString());
        Assert.NotEqual(2u, KernelSnapshot.Take().Status.Enabled);
    }

    public void Dispose()
    {
        _guard.Dispose();
        Directory.Delete(_dir, recursive: true);
        var diffs = _guard.Before.Differences(KernelSnapshot.Take());
        if (diffs.Count > 0)
        {
            throw new InvalidOperationException("the kernel was not left as found: " + string.Join("; ", diffs));
        }
    }
}
