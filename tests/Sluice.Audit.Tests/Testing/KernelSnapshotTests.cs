using Sluice.Audit.Netlink;
using Sluice.Testing;

namespace Sluice.Audit.Tests.Testing;

/// <summary>The test support's own clean-up, on the real kernel.</summary>
[Collection(KernelAuditFixture.Collection)]
public sealed class KernelSnapshotTests : IDisposable
{
    private readonly KernelStateGuard _guard = new();

    public void Dispose() => _guard.Dispose();

    [Fact]
    public void DeleteLeftoverTestRules_DeletesTestKeysOnlyAndNamesThem()
    {
        string leftover = TestRules.UniqueKey("leftover");
        // Not a test key: a rule an operator might have loaded. It must survive.
        string other = "sluicecheck-" + Guid.NewGuid().ToString("N")[..12];
        using var client = AuditControlClient.Open();
        client.AddRule(TestRules.ExitRule(leftover, [TestRules.Getppid]));
        client.AddRule(TestRules.ExitRule(other, [TestRules.Getppid]));

        var removed = KernelSnapshot.DeleteLeftoverTestRules();

        Assert.Contains(leftover, removed);
        var keys = client.ListRules().SelectMany(r => r.Keys).ToList();
        Assert.DoesNotContain(leftover, keys);
        Assert.Contains(other, keys);
    }
}
