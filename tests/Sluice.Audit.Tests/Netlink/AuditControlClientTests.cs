using System.Diagnostics;
using Sluice.Audit.Netlink;
using Sluice.Audit.Rules;
using Sluice.Audit.Tables;
using Sluice.Testing;

namespace Sluice.Audit.Tests.Netlink;

[Collection(KernelAuditFixture.Collection)]
public sealed class AuditControlClientTests : IDisposable
{
    private readonly KernelStateGuard _guard = new();
    private readonly AuditControlClient _client = AuditControlClient.Open();

    public void Dispose()
    {
        _client.Dispose();
        _guard.Dispose();
    }

    [Fact]
    public void GetStatus_RealKernel_ReturnsAllElevenFields()
    {
        var status = _client.GetStatus();
        // This kernel (6.x) sends the full 44-byte struct; the three late fields are present.
        Assert.NotNull(status.FeatureBitmap);
        Assert.NotNull(status.BacklogWaitTime);
        Assert.NotNull(status.BacklogWaitTimeActual);
        Assert.Contains("lost_reset", status.Features);
        Assert.True(status.BacklogLimit > 0);
        Assert.InRange(status.Enabled, 0u, 1u);
    }

    public static TheoryData<string, uint> Fields => new()
    {
        { "enabled", 1 },
        { "enabled", 0 },
        { "failure", 0 },
        { "failure", 1 },
        { "rate_limit", 1234 },
        { "backlog_limit", 12345 },
        { "backlog_wait_time", 0 },
        { "backlog_wait_time", 777 },
    };

    [Theory]
    [MemberData(nameof(Fields))]
    public void SetField_RealKernel_ReadsBackAndRestores(string field, uint value)
    {
        var before = _client.GetStatus();
        Action<uint> set = field switch
        {
            "enabled" => _client.SetEnabled,
            "failure" => _client.SetFailure,
            "rate_limit" => _client.SetRateLimit,
            "backlog_limit" => _client.SetBacklogLimit,
            "backlog_wait_time" => _client.SetBacklogWaitTime,
            _ => throw new ArgumentException(field),
        };
        Func<AuditStatus, uint?> get = field switch
        {
            "enabled" => s => s.Enabled,
            "failure" => s => s.Failure,
            "rate_limit" => s => s.RateLimit,
            "backlog_limit" => s => s.BacklogLimit,
            _ => s => s.BacklogWaitTime,
        };
        set(value);
        Assert.Equal(value, get(_client.GetStatus()));
        set(get(before)!.Value);
        Assert.Equal(get(before), get(_client.GetStatus()));
    }

    [Fact]
    public void ResetLost_AfterRateLimitedBurst_ReturnsOldCount()
    {
        // rate_limit makes loss deterministic: records over N/s are dropped and counted in
        // lost (kernel/audit.c audit_log_end -> audit_rate_check -> audit_log_lost).
        _client.ResetLost();
        string key = TestRules.UniqueKey("lost");
        var rule = TestRules.ExitRule(key, [TestRules.Getppid], ppid: (uint)Environment.ProcessId);
        _client.SetBacklogWaitTime(0);
        _client.SetEnabled(1);
        _client.SetRateLimit(1);
        _client.AddRule(rule);
        try
        {
            var (code, _) = NativeTools.Run(NativeTools.Get("syscall_burst"), "2000");
            Assert.Equal(0, code);
        }
        finally
        {
            _client.DeleteRule(rule);
            _client.SetRateLimit(0);
        }
        uint lostBefore = _client.GetStatus().Lost;
        Assert.True(lostBefore >= 1000, $"expected most of 2000 rate-limited events lost, lost={lostBefore}");

        uint old = _client.ResetLost();

        Assert.True(old >= lostBefore, $"reset returned {old}, status showed {lostBefore} before");
        Assert.True(_client.GetStatus().Lost < old);
    }

    [Fact]
    public void AddListDeleteRule_ExecveWithUniqueKey_RoundTripsExactly()
    {
        string key = TestRules.UniqueKey("rule");
        var rule = TestRules.ExitRule(key, [TestRules.Execve]);

        _client.AddRule(rule);
        var listed = _client.ListRules().Where(r => r.Keys.Contains(key)).ToList();
        _client.DeleteRule(rule);

        var single = Assert.Single(listed);
        Assert.Equal(rule, single); // byte-equal: the kernel lists back what it was given
        Assert.Equal(4u, single.List);
        Assert.Equal(2u, single.Action);
        Assert.Equal(1u << 27, single.Mask(1));
        Assert.DoesNotContain(_client.ListRules(), r => r.Keys.Contains(key));
    }

    [Fact]
    public void AddRule_Twice_ThrowsRuleExists()
    {
        var rule = TestRules.ExitRule(TestRules.UniqueKey("dup"), [TestRules.Execve]);
        _client.AddRule(rule);
        try
        {
            var e = Assert.Throws<AuditException>(() => _client.AddRule(rule));
            Assert.Equal(AuditErrorKind.RuleExists, e.Kind);
        }
        finally
        {
            _client.DeleteRule(rule);
        }
    }

    [Fact]
    public void DeleteRule_NotLoaded_ThrowsRuleNotFound()
    {
        var rule = TestRules.ExitRule(TestRules.UniqueKey("absent"), [TestRules.Execve]);
        var e = Assert.Throws<AuditException>(() => _client.DeleteRule(rule));
        Assert.Equal(AuditErrorKind.RuleNotFound, e.Kind);
        Assert.Equal(Errno.ENOENT, e.Errno);
    }

    [Fact]
    public void SetPid_ForAnotherProcess_WhileHeld_NamesTheHolder()
    {
        using var holder = ConsumerHolder.Start();
        var e = Assert.Throws<AuditException>(() => _client.SetPid((uint)Environment.ProcessId));
        Assert.Equal(AuditErrorKind.ConsumerRegistered, e.Kind);
        Assert.Equal($"another audit consumer is registered: pid {holder.Pid} (audit_holder)", e.Message);
    }
}

/// <summary>A second process that holds the consumer PID until disposed.</summary>
internal sealed class ConsumerHolder : IDisposable
{
    private readonly Process _process;

    private ConsumerHolder(Process process, int pid)
    {
        _process = process;
        Pid = pid;
    }

    public int Pid { get; }

    public static ConsumerHolder Start()
    {
        var psi = new ProcessStartInfo(NativeTools.Get("audit_holder"), "claim")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
        };
        var p = Process.Start(psi)!;
        string line = p.StandardOutput.ReadLine() ?? "";
        if (!line.StartsWith("claimed ", StringComparison.Ordinal))
        {
            p.Kill();
            throw new InvalidOperationException($"audit_holder could not claim the consumer PID: {line}");
        }
        return new ConsumerHolder(p, int.Parse(line["claimed ".Length..]));
    }

    public void Dispose()
    {
        _process.StandardInput.Close(); // the holder unregisters and exits on EOF
        if (!_process.WaitForExit(5000))
        {
            _process.Kill();
        }
        _process.Dispose();
    }
}
