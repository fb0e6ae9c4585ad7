using System.Text;
using Microsoft.Extensions.Time.Testing;
using Sluice.Agent.Configuration;
using Sluice.Agent.Filtering;
using Sluice.Audit.Records;
using Sluice.Audit.Tables;

namespace Sluice.Agent.Tests.Filtering;

public sealed class EventFilterTests
{
    private const string Exec =
        "audit(1700000000.100:{0}): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=2 ppid=10 pid=11 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm=\"cron\" exe=\"/usr/sbin/cron\" key=\"exec\"";
    private const string Open =
        "audit(1700000000.200:{0}): arch=c000003e syscall=257 success=no exit=-13 a0=1 a1=2 a2=3 a3=4 items=1 ppid=10 pid=12 auid=1001 uid=1001 gid=0 euid=1001 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm=\"cat\" exe=\"/usr/bin/cat\" key=6163636573730170726976";
    private const string OpenPath = "audit(1700000000.200:{0}): item=0 name=\"/tmp/secret/x\" inode=1 dev=08:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0";

    /// <summary>Builds real events through the reassembler: SYSCALL (+PATH) then EOE.</summary>
    private static List<AuditEvent> Events(params (string Syscall, string? Path)[] specs)
    {
        var events = new List<AuditEvent>();
        var r = new AuditReassembler(events.Add, new FakeTimeProvider());
        uint serial = 100;
        foreach (var (syscall, path) in specs)
        {
            serial++;
            r.Add(AuditMessageType.Syscall, Encoding.ASCII.GetBytes(string.Format(syscall, serial)));
            if (path is not null)
            {
                r.Add(AuditMessageType.Path, Encoding.ASCII.GetBytes(string.Format(path, serial)));
            }
            r.Add(AuditMessageType.Eoe, Encoding.ASCII.GetBytes($"audit(1700000000.300:{serial}): "));
        }
        return events;
    }

    private static (bool Exec, bool Open) Run(FilterRuleOptions rule)
    {
        var filter = new EventFilter([rule], new FakeTimeProvider());
        var ev = Events((Exec, null), (Open, OpenPath));
        return (filter.Keep(ev[0]), filter.Keep(ev[1]));
    }

    private static readonly Dictionary<string, (FilterRuleOptions Rule, bool KeepExec, bool KeepOpen)> s_matches = new()
    {
        ["record type"] = (new() { RecordTypes = ["PATH"] }, true, false),
        ["syscall"] = (new() { Syscalls = ["execve"] }, false, true),
        ["key"] = (new() { Keys = ["exec"] }, false, true),
        ["second of joined keys"] = (new() { Keys = ["priv"] }, true, false),
        ["uid"] = (new() { Uids = [1001] }, true, false),
        ["auid"] = (new() { Auids = [1000] }, false, true),
        ["euid"] = (new() { Euids = [0] }, false, true),
        ["exe glob"] = (new() { Exe = ["/usr/sbin/*"] }, false, true),
        ["comm glob"] = (new() { Comm = ["c?t"] }, true, false),
        ["path prefix"] = (new() { PathPrefixes = ["/tmp/secret/"] }, true, false),
        ["success"] = (new() { Success = false }, true, false),
        ["all of several fields"] = (new() { Syscalls = ["openat"], Uids = [0] }, true, true),
        ["keep action"] = (new() { Syscalls = ["execve"], Action = FilterAction.Keep }, true, true),
    };

    public static TheoryData<string> Matches => [.. s_matches.Keys];

    [Theory]
    [MemberData(nameof(Matches))]
    public void Keep_DropRuleOnEachMatchKind_DropsOnlyMatchingEvents(string name)
    {
        var (rule, keepExec, keepOpen) = s_matches[name];
        var (exec, open) = Run(rule);
        Assert.True((keepExec, keepOpen) == (exec, open), $"{name}: kept exec={exec} open={open}");
    }

    [Fact]
    public void Keep_FirstMatchWins_LaterRulesNotCounted()
    {
        var filter = new EventFilter([new() { Name = "keep-cron", Comm = ["cron"], Action = FilterAction.Keep }, new() { Name = "drop-all" }], new FakeTimeProvider());
        var ev = Events((Exec, null), (Open, OpenPath));

        Assert.True(filter.Keep(ev[0]));
        Assert.False(filter.Keep(ev[1]));
        Assert.Equal([new FilterCount("keep-cron", "Keep", 1, 0), new FilterCount("drop-all", "Drop", 1, 1)], filter.Counts);
    }

    [Fact]
    public void Keep_Sample_KeepsOneInN()
    {
        var filter = new EventFilter([new() { Name = "s", Syscalls = ["execve"], Action = FilterAction.Sample, SampleEvery = 4 }], new FakeTimeProvider());
        var ev = Events(Enumerable.Repeat((Exec, (string?)null), 12).ToArray());

        int kept = ev.Count(filter.Keep);

        Assert.Equal(3, kept);
        Assert.Equal(9, filter.Counts[0].Dropped);
    }

    [Fact]
    public void Keep_RateLimit_AllowsRatePerKeyPerSecond()
    {
        var time = new FakeTimeProvider();
        var filter = new EventFilter([new() { Keys = ["exec"], Action = FilterAction.RateLimit, RatePerSecond = 5 }], time);
        var ev = Events(Enumerable.Repeat((Exec, (string?)null), 20).ToArray());

        int first = ev.Take(10).Count(filter.Keep);
        time.Advance(TimeSpan.FromSeconds(1));
        int second = ev.Skip(10).Count(filter.Keep);

        Assert.Equal(5, first);
        Assert.Equal(5, second);
        Assert.Equal(10, filter.Counts[0].Dropped);
    }

    [Theory]
    [InlineData("/usr/*/cron", "/usr/sbin/cron", true)]
    [InlineData("*cron", "/usr/sbin/cron", true)]
    [InlineData("/usr/bin/*", "/usr/sbin/cron", false)]
    [InlineData("c?t", "cat", true)]
    [InlineData("c?t", "cart", false)]
    [InlineData("", "", true)]
    public void Glob_Patterns_MatchLikeShell(string pattern, string text, bool expected)
    {
        Assert.Equal(expected, Glob.IsMatch(Encoding.UTF8.GetBytes(pattern), Encoding.UTF8.GetBytes(text)));
    }
}
