using Sluice.Audit.Netlink;
using Sluice.Audit.Rules;
using Sluice.Testing;

namespace Sluice.Audit.Tests.Rules;

/// <summary>
/// For single rules, the audit_rule_data Sluice builds is byte-equal to what the kernel lists
/// back after auditctl loaded the same rule.
/// </summary>
[Collection(KernelAuditFixture.Collection)]
public sealed class RuleBytesTests : IDisposable
{
    private readonly KernelStateGuard _guard = new();

    public static TheoryData<string> Rules =>
    [
        "-a always,exit -F arch=b64 -S execve -k sluice-test-bytes",
        "-a always,exit -F arch=b32 -S execve,execveat -k sluice-test-bytes",
        "-A always,exit -F arch=b64 -S getppid -F pid=1 -k sluice-test-bytes",
        "-a never,exit -F arch=b64 -S all -F uid=4242",
        "-a always,exit -S open -k sluice-test-bytes",
        "-a always,exit -F arch=b64 -S open,openat -F exit=-EACCES -F auid>=1000 -F auid!=unset -k sluice-test-bytes",
        "-a always,exit -F arch=b64 -S openat -F exit=-2 -F success=0",
        "-a always,exit -F arch=b64 -S socket -F a0=2 -F a1&=0x3 -F a2&0x10 -F a3!=-1",
        "-a always,exit -F arch=b64 -S setuid -C uid!=euid -C auid=obj_uid -k sluice-test-bytes",
        "-a always,exit -F arch=b64 -S chmod -F dir=/etc/pam.d -F perm=wa -F filetype=file -k sluice-test-bytes",
        "-a always,exit -F path=/etc/sluice-test-bytes -F perm=x -F auid>=1000 -k sluice-test-bytes",
        "-a always,exit -F arch=b64 -S execve -F exe=/usr/bin/sluice-test -F euid=0 -F egid!=0",
        "-a always,exit -F arch=b64 -S open -F obj_uid=0 -F obj_gid=0 -F suid=1 -F fsuid<5 -F sgid>2 -F fsgid<=3",
        "-a always,exit -F arch=b64 -S setsid -F sessionid>0 -F pers=0 -F ppid=1 -F inode=5 -F devmajor=8 -F devminor&1",
        "-a always,exit -F arch=b64 -S connect -F saddr_fam=10 -F uid>=1000 -F uid<=60000",
        "-a always,exit -F arch=b64 -S open -F subj_user=u -F subj_role=r -F subj_type=t -F obj_lev_low=s0 -F obj_lev_high=s0:c1",
        "-a always,exit -F arch!=b32 -S 59 -F gid=root",
        "-a always,exit -F arch=b32 -S socketcall -F a0=3 -F exit<-1",
        "-w /etc/sluice-test-bytes -p wa -k sluice-test-bytes",
        "-w /etc/pam.d/ -p r -k sluice-test-bytes",
        "-w /etc/sluice-test-bytes-2 -k sluice-test-bytes -k second",
        "-a always,user -F msgtype=USER_LOGIN -F auid>=1000 -F auid!=-1",
        "-a never,user -F exe=/usr/sbin/sluice-test -k sluice-test-bytes",
        "-a never,exclude -F msgtype=CWD",
        "-a never,exclude -F msgtype>=2100 -F msgtype<=2199",
        "-a always,exclude -F msgtype=PATH -F uid=65534 -F pid=4242",
        "-a never,task -F uid=65534",
        "-a always,task -F auid=unset",
        "-a always,filesystem -F fstype=tracefs -k sluice-test-bytes",
    ];

    [Theory]
    [MemberData(nameof(Rules))]
    public void Compile_SingleRule_BytesEqualKernelListingOfAuditctlLoad(string line)
    {
        var set = RuleParser.Parse(line, "bytes.rules");
        Assert.True(set.IsValid, string.Join("; ", set.Errors));
        var compiled = Assert.Single(set.Rules);

        using var client = AuditControlClient.Open();
        var before = client.ListRules();
        var (code, _, stderr) = Auditctl.Run(line.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.True(code == 0, $"auditctl {line}: {stderr}");
        var added = client.ListRules().Where(r => !before.Contains(r)).ToList();
        AuditctlOracleTests.DeleteAllBut(client, before);

        var listed = Assert.Single(added);
        Assert.Equal(Convert.ToHexString(listed.Bytes), Convert.ToHexString(compiled.Listed.Bytes));

        // And the bytes we send are accepted and listed back the same way.
        client.AddRule(compiled.Rule);
        var ours = client.ListRules().Where(r => !before.Contains(r)).ToList();
        AuditctlOracleTests.DeleteAllBut(client, before);
        Assert.Equal(listed, Assert.Single(ours));
    }

    public void Dispose() => KernelLeftAsFound.RestoreAndVerify(_guard);
}
