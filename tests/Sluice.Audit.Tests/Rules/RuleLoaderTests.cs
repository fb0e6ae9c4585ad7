using Sluice.Audit.Netlink;
using Sluice.Audit.Rules;
using Sluice.Testing;

namespace Sluice.Audit.Tests.Rules;

[Collection(KernelAuditFixture.Collection)]
public sealed class RuleLoaderTests : IDisposable
{
    private readonly KernelStateGuard _guard = new();
    private readonly AuditControlClient _client = AuditControlClient.Open();
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-rules-").FullName;
    private readonly string _tag = $"sluice-test-loader-{Environment.ProcessId}";

    private string StatePath => Path.Combine(_dir, "state", "rules-state.json");

    private RuleLoadOptions Options(bool ownAll = false) => new() { StateFile = StatePath, OwnAllRules = ownAll };

    private string Rule(string syscall, string key) => $"-a always,exit -F arch=b64 -S {syscall} -k {_tag}-{key}";

    private static RuleSet Parse(params string[] lines)
    {
        var set = RuleParser.Parse(string.Join('\n', lines), "loader.rules");
        Assert.True(set.IsValid, string.Join("; ", set.Errors));
        return set;
    }

    private static KernelRule Compiled(string line) => Parse(line).Rules[0].Listed;

    private List<KernelRule> Loaded() => [.. _client.ListRules().Where(r => !_guard.Before.Rules.Contains(r))];

    [Fact]
    public void Apply_EmptyKernel_AddsRulesAndRecordsThemPrivately()
    {
        var result = RuleLoader.Apply(_client, Parse(Rule("getppid", "a"), Rule("getpid", "b"), $"-w /etc/{_tag} -p wa -k {_tag}"), Options());

        Assert.Equal(3, result.Added.Count);
        Assert.Equal(result.Added.ToHashSet(), Loaded().ToHashSet());
        Assert.Equal(result.Added.ToHashSet(), RuleStateFile.Load(StatePath));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(StatePath));
        }
    }

    [Fact]
    public void Apply_ChangedSet_DeletesOnlyWhatSluiceAddedAndNoLongerWants()
    {
        var foreign = Compiled(Rule("getuid", "foreign"));
        _client.AddRule(foreign);
        RuleLoader.Apply(_client, Parse(Rule("getppid", "a"), Rule("getpid", "b")), Options());

        var result = RuleLoader.Apply(_client, Parse(Rule("getpid", "b"), Rule("gettid", "c")), Options());

        Assert.Equal([Compiled(Rule("getppid", "a"))], result.Deleted);
        Assert.Equal([Compiled(Rule("gettid", "c"))], result.Added);
        Assert.Equal([Compiled(Rule("getpid", "b"))], result.Kept);
        Assert.Equal([foreign], result.Foreign);
        Assert.Equal(new[] { foreign, Compiled(Rule("getpid", "b")), Compiled(Rule("gettid", "c")) }.ToHashSet(), Loaded().ToHashSet());
        Assert.DoesNotContain(foreign, RuleStateFile.Load(StatePath));
    }

    [Fact]
    public void Apply_OwnAllRules_DeletesForeignRulesToo()
    {
        var foreign = Compiled(Rule("getuid", "foreign"));
        _client.AddRule(foreign);

        var result = RuleLoader.Apply(_client, Parse(Rule("getpid", "b")), Options(ownAll: true));

        Assert.Contains(foreign, result.Deleted);
        Assert.DoesNotContain(foreign, _client.ListRules());
        Assert.Contains(Compiled(Rule("getpid", "b")), _client.ListRules());
    }

    [Fact]
    public void Apply_DeleteAllLineWithoutOwnership_KeepsForeignRules()
    {
        var foreign = Compiled(Rule("getuid", "foreign"));
        _client.AddRule(foreign);
        RuleLoader.Apply(_client, Parse(Rule("getppid", "a")), Options());

        var result = RuleLoader.Apply(_client, Parse("-D", Rule("getpid", "b")), Options());

        Assert.Equal([Compiled(Rule("getppid", "a"))], result.Deleted);
        Assert.Contains(foreign, _client.ListRules());
    }

    [Fact]
    public void Apply_ExplicitDeleteLine_DeletesThatRule()
    {
        var foreign = Compiled(Rule("getuid", "foreign"));
        _client.AddRule(foreign);

        var result = RuleLoader.Apply(_client, Parse("-d" + Rule("getuid", "foreign")[2..]), Options());

        Assert.Equal([foreign], result.Deleted);
        Assert.DoesNotContain(foreign, _client.ListRules());
    }

    [Fact]
    public void Apply_SetWithErrors_LoadsNothing()
    {
        var before = _client.ListRules();
        var set = RuleParser.Parse(Rule("getppid", "a") + "\n-a always,exit -F arch=b64 -S nosuchcall\n", "bad.rules");

        var e = Assert.Throws<ArgumentException>(() => RuleLoader.Apply(_client, set, Options()));

        Assert.Contains("bad.rules:2", e.Message);
        Assert.Contains("nothing was loaded", e.Message);
        Assert.Equal(before, _client.ListRules());
        Assert.False(File.Exists(StatePath));
    }

    [Fact]
    public void Apply_KernelRefusesARule_UndoesThisLoadsAdditions()
    {
        RuleLoader.Apply(_client, Parse(Rule("getppid", "a")), Options());
        var before = _client.ListRules();
        var set = Parse(Rule("getppid", "a"), Rule("getpid", "b"), $"-a always,exit -F dir=/nonexistent/{_tag} -F perm=w -k {_tag}");

        var e = Assert.Throws<RuleLoadException>(() => RuleLoader.Apply(_client, set, Options()));

        Assert.Equal(3, e.Rule.Line);
        Assert.StartsWith("loader.rules:3: the kernel refused the rule", e.Message);
        Assert.Equal(before, _client.ListRules());
        Assert.Equal([Compiled(Rule("getppid", "a"))], RuleStateFile.Load(StatePath));
    }

    [Fact]
    public void Apply_KernelRefusesARuleWithContinueOption_LoadsTheOthers()
    {
        var set = Parse("-c", Rule("getpid", "b"), $"-a always,exit -F dir=/nonexistent/{_tag} -F perm=w -k {_tag}", Rule("gettid", "c"));

        var result = RuleLoader.Apply(_client, set, Options());

        var failed = Assert.Single(result.Failed);
        Assert.Equal(3, failed.Rule.Line);
        Assert.Equal(2, result.Added.Count);
    }

    [Fact]
    public void Apply_IrreversibleControls_RefusedWithReasonAndNotApplied()
    {
        var status = _client.GetStatus();
        var set = Parse(Rule("getpid", "b"), "-f 2", "-e 2", "--loginuid-immutable");

        var result = RuleLoader.Apply(_client, set, Options());

        Assert.Equal(3, result.RefusedControls.Count);
        Assert.Contains(result.RefusedControls, r => r.StartsWith("loader.rules:2: -f 2", StringComparison.Ordinal) && r.Contains("refused"));
        Assert.Contains(result.RefusedControls, r => r.StartsWith("loader.rules:3: -e 2", StringComparison.Ordinal) && r.Contains("refused"));
        Assert.Contains(result.RefusedControls, r => r.StartsWith("loader.rules:4: --loginuid-immutable", StringComparison.Ordinal));
        var after = _client.GetStatus();
        Assert.Equal(status.Enabled, after.Enabled);
        Assert.Equal(status.Failure, after.Failure);
        Assert.Single(result.Added);
    }

    [Fact]
    public void Apply_SettingControls_AppliedToKernel()
    {
        uint backlog = _client.GetStatus().BacklogLimit == 4321 ? 4322u : 4321u;
        var set = Parse($"-b {backlog}", "-f 1", "-r 0", "--backlog_wait_time 0", "-e 1");

        var result = RuleLoader.Apply(_client, set, Options());

        var status = _client.GetStatus();
        Assert.Equal(backlog, status.BacklogLimit);
        Assert.Equal(1u, status.Failure);
        Assert.Equal(0u, status.BacklogWaitTime);
        Assert.Equal($"enabled=1", result.AppliedControls[^1]);
        Assert.Empty(result.RefusedControls);
    }

    [Fact]
    public void Apply_ApplyControlsOff_LeavesSettings()
    {
        uint before = _client.GetStatus().BacklogLimit;
        RuleLoader.Apply(_client, Parse($"-b {before + 7}"), new RuleLoadOptions { StateFile = StatePath, ApplyControls = false });
        Assert.Equal(before, _client.GetStatus().BacklogLimit);
    }

    [Fact]
    public void DeleteByKey_OwnAndForeignRules_DeletesOnlyOwn()
    {
        var foreign = Compiled($"-a always,exit -F arch=b64 -S getuid -k {_tag}-shared -k other");
        _client.AddRule(foreign);
        RuleLoader.Apply(_client, Parse($"-a always,exit -F arch=b64 -S getpid -k {_tag}-shared", Rule("gettid", "c")), Options());

        var result = RuleLoader.DeleteByKey(_client, $"{_tag}-shared", Options());

        Assert.Equal([Compiled($"-a always,exit -F arch=b64 -S getpid -k {_tag}-shared")], result.Deleted);
        Assert.Equal([foreign], result.Foreign);
        Assert.Equal([Compiled(Rule("gettid", "c"))], RuleStateFile.Load(StatePath));
    }

    [Fact]
    public void DeleteOwned_AfterLoad_RemovesOnlyOurRulesAndEmptiesState()
    {
        var foreign = Compiled(Rule("getuid", "foreign"));
        _client.AddRule(foreign);
        RuleLoader.Apply(_client, Parse(Rule("getppid", "a"), Rule("getpid", "b")), Options());

        var result = RuleLoader.DeleteOwned(_client, Options());

        Assert.Equal(2, result.Deleted.Count);
        Assert.Equal([foreign], Loaded());
        Assert.Empty(RuleStateFile.Load(StatePath));
    }

    [Fact]
    public void Apply_IoUringRule_KernelListsItAsCompiled()
    {
        // auditctl 3.0.x cannot write io_uring rules, so the kernel is the only judge here.
        var set = Parse($"-a always,io_uring -S 18,19 -F uid=0 -k {_tag}-uring");

        var result = RuleLoader.Apply(_client, set, Options());

        Assert.Equal([set.Rules[0].Listed], Loaded());
        Assert.Equal($"-a always,io_uring -S 18,19 -F uid=0 -F key={_tag}-uring", RuleFormatter.Format(Assert.Single(result.Added)));
    }

    [Fact]
    public void Apply_CorruptStateFile_RefusedWithPath()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(StatePath)!);
        File.WriteAllText(StatePath, "{ not json");

        var e = Assert.Throws<InvalidDataException>(() => RuleLoader.Apply(_client, Parse(Rule("getpid", "b")), Options()));

        Assert.Contains(StatePath, e.Message);
        Assert.DoesNotContain(Compiled(Rule("getpid", "b")), _client.ListRules());
    }

    public void Dispose()
    {
        _client.Dispose();
        KernelLeftAsFound.RestoreAndVerify(_guard);
        Directory.Delete(_dir, recursive: true);
    }
}
