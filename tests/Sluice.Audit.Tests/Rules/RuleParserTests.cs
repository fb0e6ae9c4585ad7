using Sluice.Audit.Rules;
using Sluice.Audit.Tables;

namespace Sluice.Audit.Tests.Rules;

public class RuleParserTests
{
    // Names resolve from fixed tables, so the tests do not depend on this host's accounts or files.
    private static readonly RuleParserOptions s_options = new()
    {
        MachineArch = AuditArch.X86_64,
        ResolveUser = n => n switch { "root" => 0, "daemon" => 1, _ => null },
        ResolveGroup = n => n switch { "root" => 0, "adm" => 4, _ => null },
        IsDirectory = p => p is "/etc" or "/etc/audit",
    };

    private static RuleSet Parse(string text) => RuleParser.Parse(text, "test.rules", s_options);

    private static KernelRule Single(string line)
    {
        var set = Parse(line);
        Assert.True(set.IsValid, string.Join("; ", set.Errors));
        return Assert.Single(set.Rules).Rule;
    }

    [Fact]
    public void Parse_ArchAndSyscall_MatchesDesignExample()
    {
        var rule = Single("-a always,exit -F arch=b64 -S execve -k exec");
        Assert.Equal(4u, rule.List);
        Assert.Equal(2u, rule.Action);
        Assert.Equal(2, rule.FieldCount);
        Assert.Equal(FieldTable.Arch, rule.Field(0));
        Assert.Equal(AuditArch.X86_64, rule.Value(0));
        Assert.Equal(FieldTable.FilterKey, rule.Field(1));
        Assert.Equal(4u, rule.Value(1));
        Assert.Equal(1u << 27, rule.Mask(1));
        Assert.Equal("exec"u8.ToArray(), rule.Buffer.ToArray());
    }

    [Fact]
    public void Parse_ListAndActionReversed_SameRule()
    {
        Assert.Equal(Single("-a always,exit -F arch=b64 -S open"), Single("-a exit,always -F arch=b64 -S open"));
    }

    [Fact]
    public void Parse_SeveralKeys_JoinedWithSoh()
    {
        var rule = Single("-a always,exit -F key=a -F arch=b64 -S open -k b -k c");
        Assert.Equal(new[] { "a", "b", "c" }, rule.Keys);
        Assert.Equal(FieldTable.FilterKey, rule.Field(rule.FieldCount - 1));
    }

    [Fact]
    public void Parse_WatchOnDirectory_IsTreeWatchWithDefaultPerms()
    {
        var rule = Single("-w /etc/audit/ -k audit");
        Assert.Equal(FieldTable.Dir, rule.Field(0));
        Assert.Equal(FieldTable.Perm, rule.Field(1));
        Assert.Equal(0xFu, rule.Value(1));
        Assert.Equal("/etc/auditaudit"u8.ToArray(), rule.Buffer.ToArray());
        Assert.Equal("-w /etc/audit -p rwxa -k audit", RuleFormatter.Format(rule, AuditArch.X86_64));
    }

    [Fact]
    public void Parse_WatchWithExtraField_PrintsAsSyscallRule()
    {
        var rule = Single("-w /etc/x -F auid=5 -p wa");
        Assert.Equal("-a always,exit -S all -F path=/etc/x -F perm=wa -F auid=5", RuleFormatter.Format(rule, AuditArch.X86_64));
    }

    [Theory]
    [InlineData("-a always,exit -F arch=b64 -S open -F auid>=1000 -F auid!=unset", "-a always,exit -F arch=b64 -S open -F auid>=1000 -F auid!=-1")]
    [InlineData("-a always,exit -F arch=b64 -S open -F auid!=4294967295", "-a always,exit -F arch=b64 -S open -F auid!=-1")]
    [InlineData("-a always,exit -F arch=b64 -S open -F exit=-EACCES", "-a always,exit -F arch=b64 -S open -F exit=-EACCES")]
    [InlineData("-a always,exit -F arch=b64 -S open -F exit=-13", "-a always,exit -F arch=b64 -S open -F exit=-EACCES")]
    [InlineData("-a always,exit -F arch=b64 -S open -F exit=EPERM", "-a always,exit -F arch=b64 -S open -F exit=1")]
    [InlineData("-a always,exit -F arch=b64 -S open -F a1=-2 -F a0&=0x40", "-a always,exit -F arch=b64 -S open -F a1=0xFFFFFFFE -F a0&=0x40")]
    [InlineData("-a always,exit -F arch=b32 -S 1,2,3 -S 4", "-a always,exit -F arch=b32 -S exit,fork,read,write")]
    [InlineData("-a always,exit -F arch=b64 -S all -F uid=root", "-a always,exit -F arch=b64 -S all -F uid=0")]
    [InlineData("-a always,exit -F arch=b64 -S open -C auid!=uid", "-a always,exit -F arch=b64 -S open -C uid!=auid")]
    [InlineData("-a always,exit -F arch=b64 -S chmod -F dir=/etc -F filetype=file", "-a always,exit -F arch=b64 -S chmod -F dir=/etc -F filetype=32768")]
    [InlineData("-a always,exit -F path=/etc/shadow -F perm=wa -k w", "-w /etc/shadow -p wa -k w")]
    [InlineData("-a never,exclude -F msgtype>=1100 -F msgtype<=1199", "-a never,exclude -F msgtype>=USER_AUTH -F msgtype<=1199")]
    [InlineData("-a always,filesystem -F fstype=debugfs -k fs", "-a always,filesystem -F fstype=debugfs -F key=fs")]
    [InlineData("-a always,task -F uid=0", "-a always,task -F uid=0")]
    [InlineData("-a always,exit -S open", "-a always,exit -S open")]
    [InlineData("-a always,exit -F arch=b64 -S open -F uid=0755", "-a always,exit -F arch=b64 -S open -F uid=493")]
    [InlineData("-a always,exit -F arch=aarch64 -S openat", "-a always,exit -F arch=b64 -S openat")]
    [InlineData("-Aalways,exit -Farch=b64 -Sopen -kx", "-a always,exit -F arch=b64 -S open -F key=x")]
    [InlineData("-a always,exit -F arch=b64 -S open -F perm=r -p wa", "-a always,exit -F arch=b64 -S open -F perm=wa")]
    [InlineData("-w /etc/x -p wa -p r", "-w /etc/x -p r")]
    [InlineData("-a always,exit -F key=k1 -F arch=b64 -S openat -k k2", "-a always,exit -F arch=b64 -S openat -F key=k1 -F key=k2")]
    [InlineData("-a always,user -F exe=/bin/ls -F key=x", "-a always,user -F exe=/bin/ls -F key=x")]
    [InlineData("-a always,exit -F arch=b64 -S open -F key=", "-a always,exit -F arch=b64 -S open")]
    public void Parse_Rule_PrintsAsAuditctl(string line, string listed)
    {
        var set = Parse(line);
        Assert.True(set.IsValid, string.Join("; ", set.Errors));
        Assert.Equal(listed, RuleFormatter.Format(Assert.Single(set.Rules).Listed, AuditArch.X86_64));
    }

    [Fact]
    public void Parse_AuditctlLikeAarch64Machine_UsesAarch64Table()
    {
        var set = RuleParser.Parse("-a always,exit -F arch=b64 -S openat -k o", "a.rules", new RuleParserOptions { MachineArch = AuditArch.Aarch64 });
        var rule = Assert.Single(set.Rules).Rule;
        Assert.Equal(AuditArch.Aarch64, rule.Value(0));
        Assert.Equal(1u << (56 - 32), rule.Mask(1));
        Assert.Single(RuleParser.Parse("-a always,exit -F arch=b64 -S open", "a.rules", new RuleParserOptions { MachineArch = AuditArch.Aarch64 }).Errors);
    }

    [Fact]
    public void Parse_CommentsBlankLinesAndCrLf_Ignored()
    {
        var set = Parse("# comment\r\n\r\n   \t\n-a always,exit -F arch=b64 -S open\r\n  # indented comment\n");
        Assert.True(set.IsValid);
        Assert.Equal(4, Assert.Single(set.Rules).Line);
    }

    [Fact]
    public void Parse_ControlLines_TypedSettings()
    {
        var set = Parse("-D\n-b 8192\n-f 1\n-r 100\n--backlog_wait_time 60000\n--loginuid-immutable\n-i\n-c\n-e 2\n-D -k old\n");
        Assert.True(set.IsValid, string.Join("; ", set.Errors));
        Assert.Equal(
            new[]
            {
                (RuleControlKind.DeleteAll, 0u, (string?)null, 1), (RuleControlKind.BacklogLimit, 8192u, null, 2),
                (RuleControlKind.FailureMode, 1u, null, 3), (RuleControlKind.RateLimit, 100u, null, 4),
                (RuleControlKind.BacklogWaitTime, 60000u, null, 5), (RuleControlKind.LoginUidImmutable, 1u, null, 6),
                (RuleControlKind.IgnoreErrors, 1u, null, 7), (RuleControlKind.ContinueOnError, 1u, null, 8),
                (RuleControlKind.Enabled, 2u, null, 9), (RuleControlKind.DeleteAll, 0u, "old", 10),
            },
            set.Controls.Select(c => (c.Kind, c.Value, c.Key, c.Line)));
        Assert.Empty(set.Rules);
    }

    [Fact]
    public void Parse_DeleteLines_AreDeletions()
    {
        var set = Parse("-d always,exit -F arch=b64 -S open -k x\n-W /etc/passwd -p wa -k identity\n");
        Assert.True(set.IsValid);
        Assert.All(set.Rules, r => Assert.Equal(RuleOperation.Delete, r.Operation));
        Assert.Empty(set.InKernelOrder());
    }

    [Fact]
    public void InKernelOrder_Prepend_GoesFirstInItsList()
    {
        var set = Parse("-a always,exit -F arch=b64 -S open -k 1\n-a always,user -F uid=0\n-A always,exit -F arch=b64 -S close -k 2\n-A always,exit -F arch=b64 -S read -k 3\n");
        Assert.Equal(new[] { 2, 4, 3, 1 }, set.InKernelOrder().Select(r => r.Line));
    }

    [Fact]
    public void Parse_FileWithOneBadLine_ReportsItAndIsNotValid()
    {
        var set = Parse("-a always,exit -F arch=b64 -S open\n-a always,exit -F arch=b64 -S nosuchcall\n-w /etc/hosts -p wa\n");
        Assert.False(set.IsValid);
        var error = Assert.Single(set.Errors);
        Assert.Equal(2, error.Line);
        Assert.Equal("test.rules", error.File);
    }

    [Fact]
    public void ParseFiles_UnreadableFile_ErrorNamesFile()
    {
        var set = RuleParser.ParseFiles(["/nonexistent/sluice.rules"], s_options);
        var error = Assert.Single(set.Errors);
        Assert.Equal("/nonexistent/sluice.rules", error.File);
        Assert.Contains("cannot read", error.Reason);
    }

    [Theory]
    [InlineData("-a always,exit -F arch=b64 -S nosuchcall", "nosuchcall", "unknown syscall for arch x86_64")]
    [InlineData("-a always,exit -F arch=b64 -S socketcall", "socketcall", "unknown syscall for arch x86_64")]
    [InlineData("-a always,exit -F arch=b32 -S openat2x", "openat2x", "unknown syscall for arch i386")]
    [InlineData("-a always,exit -S open -F arch=b64", "arch=b64", "arch must be given before -S")]
    [InlineData("-a always,exit -F arch=b64 -S open -F arch=b32", "arch=b32", "arch must be given before -S")]
    [InlineData("-a always,exit -F arch>b64 -S open", "arch>b64", "arch only takes the = and != operators")]
    [InlineData("-a always,exit -F arch=b64 -S open -F inode>5", "inode>5", "inode only takes the = and != operators")]
    [InlineData("-a always,exit -F arch=b64 -S open -F uid&1", "uid&1", "uid does not take the bit operators")]
    [InlineData("-a always,exit -F arch=b64 -S open -F pid&=1", "pid&=1", "pid does not take the bit operators")]
    [InlineData("-a always,exit -F arch=b64 -S open -F path!=/etc/x", "path!=/etc/x", "path only takes the = operator")]
    [InlineData("-a always,exit -F arch=b64 -S open -F perm!=r", "perm!=r", "perm only takes the = operator")]
    [InlineData("-a always,exit -F arch=b64 -S open -F auid>=-1", "auid>=-1", "auid unset (-1) can only be tested with = or !=")]
    [InlineData("-a always,exit -F arch=b64 -S open -k 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345x", null, "at most 256")]
    [InlineData("-a always,exit -F arch=b64 -S open -k 01234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789 -k 012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789", null, "at most 256")]
    [InlineData("-w relative/path -p wa", "relative/path", "a watch path must be absolute")]
    [InlineData("-w / -p wa", "/", "cannot watch '/'")]
    [InlineData("-a always,exit -F arch=b64 -S open -F path=etc/x", "path=etc/x", "must be an absolute path")]
    [InlineData("-a always,exit -F arch=b64 -S open -F path=/tmp/", "path=/tmp/", "must not end with '/'")]
    [InlineData("-a always,exit -F arch=b64 -S open -F path=/a -F path=/b", "path=/b", "only one of path, dir and inode")]
    [InlineData("-a always,exit -F arch=b64 -S open -F inode=5 -F dir=/etc", "dir=/etc", "only one of path, dir and inode")]
    [InlineData("-a always,exit -F arch=b64 -S open -F exe=/a -F exe!=/b", "exe!=/b", "only one exe field")]
    [InlineData("-a always,exit -F arch=b64 -S open -F nosuchfield=1", "nosuchfield=1", "unknown field 'nosuchfield'")]
    [InlineData("-a always,exit -F arch=b64 -S open -F uid", "uid", "-F needs field, operator and value")]
    [InlineData("-a always,exit -F arch=b64 -S open -F =5", "=5", "missing field name")]
    [InlineData("-a always,exit -F arch=b64 -S open -F uid=", "uid=", "missing value")]
    [InlineData("-a always,exit -F arch=b64 -S open -F uid=nosuchuser", "uid=nosuchuser", "unknown user 'nosuchuser'")]
    [InlineData("-a always,exit -F arch=b64 -S open -F gid=nosuchgroup", "gid=nosuchgroup", "unknown group 'nosuchgroup'")]
    [InlineData("-a always,exit -F arch=b64 -S open -F uid=-1", "uid=-1", "uid cannot be -1")]
    [InlineData("-a always,exit -F arch=b64 -S open -F pid=99999999999", "pid=99999999999", "does not fit in 32 bits")]
    [InlineData("-a always,exit -F arch=b64 -S open -F pid=12abc", "pid=12abc", "pid must be a number")]
    [InlineData("-a always,exit -F arch=b64 -S open -F ppid=-1", "ppid=-1", "ppid must be a non-negative number")]
    [InlineData("-a always,exit -F arch=b64 -S open -F a0=abc", "a0=abc", "a0 must be a number")]
    [InlineData("-a always,exit -F arch=b64 -S open -F exit=-ENOSUCH", "exit=-ENOSUCH", "unknown errno name '-ENOSUCH'")]
    [InlineData("-a always,task -F exit=-EPERM", "exit=-EPERM", "exit can only be used on the exit list")]
    [InlineData("-a always,task -F success=1", "success=1", "success can only be used on the exit list")]
    [InlineData("-a always,exit -F arch=b64 -S open -F msgtype=EOE", "msgtype=EOE", "msgtype can only be used on the exclude and user lists")]
    [InlineData("-a never,exclude -F msgtype=NOSUCHTYPE", "msgtype=NOSUCHTYPE", "unknown message type 'NOSUCHTYPE'")]
    [InlineData("-a never,exclude -F euid=0", "euid=0", "only msgtype, pid, uid, gid, auid, subj_* and exe")]
    [InlineData("-a always,task -S open", "open", "only be used on the exit and io_uring lists, not task")]
    [InlineData("-a never,exclude -S open", "open", "only be used on the exit and io_uring lists, not exclude")]
    [InlineData("-a always,user -F auid=0 -k k", "k", "a key (-k) needs a syscall")]
    [InlineData("-a always,exit -F arch=b64 -k k -S open", "k", "a key (-k) needs a syscall")]
    [InlineData("-a always,exit -F auid=5 -F key=x", "x", "a key needs a syscall")]
    [InlineData("-a always,task -F uid=0 -F key=x", "x", "a key needs a syscall")]
    [InlineData("-a never,exclude -F exe=/bin/ls -k x", "x", "keys cannot be used on the exclude list")]
    [InlineData("-a never,exclude -F exe=/bin/ls -F key=x", "key=x", "only msgtype, pid, uid, gid, auid, subj_* and exe")]
    [InlineData("-a always,exit -F arch=b64 -S open -F filetype=pipe", "filetype=pipe", "unknown file type 'pipe'")]
    [InlineData("-a always,filesystem -F fstype=ext4", "fstype=ext4", "unknown file system type 'ext4'")]
    [InlineData("-a always,exit -F arch=b64 -S open -F fstype=debugfs", "fstype=debugfs", "fstype can only be used on the filesystem list")]
    [InlineData("-a always,filesystem -F fstype=debugfs -F uid=0", "uid=0", "filesystem rules take only fstype and key")]
    [InlineData("-a always,exit -F arch=b64 -S open -F saddr_fam=46", "saddr_fam=46", "saddr_fam must be below 46")]
    [InlineData("-a always,exit -F arch=b64 -S open -C uid=gid", "uid=gid", "the kernel cannot compare uid with gid")]
    [InlineData("-a always,exit -F arch=b64 -S open -C uid>auid", "uid>auid", "-C only takes the = and != operators")]
    [InlineData("-a always,exit -F arch=b64 -S open -C pid=uid", "pid=uid", "-C cannot compare 'pid'")]
    [InlineData("-a always,task -C auid!=uid", "auid!=uid", "-C can only be used on the exit list")]
    [InlineData("-w /etc/x -p rwz", "rwz", "permission 'z' is not one of r, w, x, a")]
    [InlineData("-p wa -w /etc/x", "wa", "-p needs a watch (-w) before it")]
    [InlineData("-a always,exit -p wa -S all", "wa", "-p on an -a rule needs a field (-F) before it")]
    [InlineData("-a always,user -F devminor=1", "devminor=1", "devminor can only be used on the exit list")]
    [InlineData("-a always,task -F sessionid=1", "sessionid=1", "sessionid can only be used on the exit, user and exclude lists")]
    [InlineData("-a always,exit,foo -F arch=b64 -S open", "always,exit,foo", "expected list,action")]
    [InlineData("-a always,entry -F arch=b64 -S open", "always,entry", "the entry list is deprecated")]
    [InlineData("-a possible,exit -F arch=b64 -S open", "possible,exit", "the possible action is deprecated")]
    [InlineData("-a sometimes,exit -F arch=b64 -S open", "sometimes,exit", "expected a list")]
    [InlineData("-a always,exit -a always,exit -S open", "-a", "only one -a, -A, -d, -w or -W")]
    [InlineData("-a always,exit -F arch=b64 -w /etc/x", "-w", "cannot be combined with -a")]
    [InlineData("-a always,exit -F arch=b64 -S 2040", "2040", "syscall number must be from 0 to 2031")]
    [InlineData("-a always,io_uring -S openat", "openat", "io_uring rules take io_uring operation numbers")]
    [InlineData("-a always,io_uring -S 18 -F perm=r", "perm=r", "perm cannot be used on the io_uring list")]
    [InlineData("-a always,exit -F arch=b64 -S open extra", "extra", "unexpected argument")]
    [InlineData("-a always,exit -F arch=b64 -S open -Z", "-Z", "unknown option")]
    [InlineData("-a always,exit -F arch=b64 -S", "-S", "option -S needs an argument")]
    [InlineData("-l", "-l", "is a command, not allowed in a rules file")]
    [InlineData("-f 3", "3", "-f needs a number from 0 to 2")]
    [InlineData("-e x", "x", "-e needs a number from 0 to 2")]
    [InlineData("-b -5", "-5", "-b needs a number")]
    [InlineData("-b 8192 -a always,exit -F arch=b64 -S open", "-b", "control options (-D, -b, -e, -f, -r, ...) cannot share a line with a rule")]
    [InlineData("-k lonely", "lonely", "a key (-k) needs a rule")]
    [InlineData("-S open", "open", "-S needs -a, -A or -d")]
    [InlineData("-F uid=0", "uid=0", "-F needs -a, -A or -d")]
    public void Parse_Refused_ErrorNamesLineTokenAndReason(string line, string? token, string reason)
    {
        var set = Parse("# first line is a comment\n" + line + "\n");
        Assert.False(set.IsValid);
        var error = Assert.Single(set.Errors);
        Assert.Equal(2, error.Line);
        Assert.Equal("test.rules", error.File);
        if (token is not null)
        {
            Assert.Equal(token, error.Token);
        }
        Assert.Contains(reason, error.Reason);
        Assert.StartsWith("test.rules:2: ", error.ToString());
    }

    [Fact]
    public void Parse_SyscallsOnAWatch_AcceptedAsAuditctlWithAWarning()
    {
        var set = Parse("-w /etc/x -p wa -S open\n");
        Assert.True(set.IsValid);
        Assert.Equal("-w /etc/x -p wa", RuleFormatter.Format(set.Rules[0].Listed, AuditArch.X86_64));
        var warning = Assert.Single(set.Warnings, w => w.Reason.Contains("-S has no effect on a watch"));
        Assert.Equal(1, warning.Line);
    }

    [Fact]
    public void Parse_SyscallWithoutArch_Warns()
    {
        var set = Parse("-a always,exit -S open -S close\n");
        Assert.True(set.IsValid);
        Assert.Contains("no -F arch before -S", Assert.Single(set.Warnings).Reason);
    }

    [Fact]
    public void Parse_PermOnTaskRuleAfterAField_AllowsKeyAsAuditctl()
    {
        var set = Parse("-a always,task -F arch=b64 -p wa -k k\n");
        Assert.True(set.IsValid, string.Join("; ", set.Errors));
        Assert.Equal("-a always,task -F arch=b64 -F perm=wa -F key=k", RuleFormatter.Format(set.Rules[0].Listed, AuditArch.X86_64));
    }

    [Fact]
    public void Parse_DuplicateRule_RefusedAsTheKernelWould()
    {
        var set = Parse("-a always,exit -F arch=b64 -S open -k x\n-A always,exit -F arch=b64 -S open -k x\n");
        var error = Assert.Single(set.Errors);
        Assert.Equal(2, error.Line);
        Assert.Contains("duplicate of the rule at test.rules:1", error.Reason);
    }

    [Fact]
    public void Parse_TooManyFields_Refused()
    {
        string line = "-a always,exit -F arch=b64 -S open" + string.Concat(Enumerable.Range(0, 63).Select(i => $" -F a0!={i}"));
        var error = Assert.Single(Parse(line).Errors);
        Assert.Contains("too many fields", error.Reason);
    }

    [Fact]
    public void Parse_KeyOfExactly256Bytes_Accepted()
    {
        var rule = Single("-a always,exit -F arch=b64 -S open -k " + new string('k', 256));
        Assert.Equal(256u, rule.Value(rule.FieldCount - 1));
    }

    [Theory]
    [InlineData("0x10", 16)]
    [InlineData("010", 8)]
    [InlineData("-0x10", -16)]
    [InlineData("0", 0)]
    [InlineData("+7", 7)]
    public void TryParseCNumber_CForms_ParseAsStrtol(string text, long expected)
    {
        Assert.True(RuleParser.TryParseCNumber(text, out long value));
        Assert.Equal(expected, value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-")]
    [InlineData("0x")]
    [InlineData("09")]
    [InlineData("1e3")]
    [InlineData("99999999999999999999999")]
    public void TryParseCNumber_Invalid_False(string text)
    {
        Assert.False(RuleParser.TryParseCNumber(text, out _));
    }
}
