using System.Text;
using Microsoft.Extensions.Time.Testing;
using Sluice.Agent.Configuration;
using Sluice.Agent.Filtering;
using Sluice.Audit.Records;
using Sluice.Audit.Tables;

namespace Sluice.Agent.Tests.Policy;

/// <summary>The filter swapped at runtime by a central policy: new rules from the next event, kept rules keep counting.</summary>
public sealed class ActiveFilterTests
{
    private static AuditEvent Exec(uint serial, string comm)
    {
        AuditEvent? ev = null;
        var r = new AuditReassembler(e => ev = e, new FakeTimeProvider());
        r.Add(AuditMessageType.Syscall, Encoding.ASCII.GetBytes(
            $"audit(1700000000.100:{serial}): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=0 ppid=10 pid=11 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm=\"{comm}\" exe=\"/usr/bin/{comm}\" key=\"exec\""));
        r.Add(AuditMessageType.Eoe, Encoding.ASCII.GetBytes($"audit(1700000000.100:{serial}): "));
        return ev!;
    }

    [Fact]
    public void Replace_NewRulesJudgeTheNextEvent_KeptRuleKeepsItsCounts_GoneRuleLeaves()
    {
        var filter = new ActiveFilter(
            [new FilterRuleOptions { Name = "drop-cron", Comm = ["cron"] }, new FilterRuleOptions { Name = "drop-cat", Comm = ["cat"] }],
            new FakeTimeProvider());
        Assert.False(filter.Current.Keep(Exec(1, "cron")));
        Assert.False(filter.Current.Keep(Exec(2, "cat")));
        Assert.True(filter.Current.Keep(Exec(3, "ls")));

        filter.Replace([new FilterRuleOptions { Name = "drop-cron", Comm = ["cron"] }, new FilterRuleOptions { Name = "drop-ls", Comm = ["ls"] }]);

        Assert.False(filter.Current.Keep(Exec(4, "cron")));
        Assert.True(filter.Current.Keep(Exec(5, "cat")));
        Assert.False(filter.Current.Keep(Exec(6, "ls")));
        Assert.Equal(
            [new FilterCount("drop-cron", "Drop", 2, 2), new FilterCount("drop-ls", "Drop", 1, 1)],
            filter.Counts);
    }

    [Fact]
    public void Replace_SameNameOtherAction_CountsStartOver()
    {
        var filter = new ActiveFilter([new FilterRuleOptions { Name = "cron", Comm = ["cron"] }], new FakeTimeProvider());
        filter.Current.Keep(Exec(1, "cron"));

        filter.Replace([new FilterRuleOptions { Name = "cron", Comm = ["cron"], Action = FilterAction.Keep }]);

        Assert.Equal([new FilterCount("cron", "Keep", 0, 0)], filter.Counts);
    }

    [Fact]
    public async Task Replace_WhileAnotherThreadFilters_NoEventUnjudgedNoCountLost()
    {
        var rules = new List<FilterRuleOptions> { new() { Name = "drop-cron", Comm = ["cron"] } };
        var filter = new ActiveFilter(rules, new FakeTimeProvider());
        var events = Enumerable.Range(1, 20_000).Select(i => Exec((uint)i, "cron")).ToList();
        int kept = 0;
        var worker = Task.Run(() =>
        {
            foreach (var ev in events)
            {
                if (filter.Current.Keep(ev))
                {
                    kept++;
                }
            }
        });
        while (!worker.IsCompleted)
        {
            filter.Replace(rules);
        }
        await worker;

        Assert.Equal(0, kept);
        Assert.Equal([new FilterCount("drop-cron", "Drop", events.Count, events.Count)], filter.Counts);
    }
}
