using Sluice.Audit.Netlink;
using Sluice.Audit.Rules;
using Sluice.Testing;

namespace Sluice.Audit.Tests.Rules;

/// <summary>
/// The compiler judged against auditctl: each fixture file is loaded once by <c>auditctl -R</c>
/// and once by Sluice over netlink, and <c>auditctl -l</c> must print the same listing.
/// </summary>
[Collection(KernelAuditFixture.Collection)]
public sealed class AuditctlOracleTests : IDisposable
{
    private readonly KernelStateGuard _guard = new();

    public static IEnumerable<string> FileNames => Directory.GetFiles(RepoPaths.Fixture("rules", "oracle"), "*.rules")
        .Select(f => Path.GetFileName(f)).Order();

    public static TheoryData<string> Files => [.. FileNames];

    [Fact]
    public void Fixtures_AllFiles_HoldAtLeast150DistinctRules()
    {
        var distinct = new HashSet<KernelRule>();
        foreach (var file in FileNames)
        {
            var set = RuleParser.ParseFiles([RepoPaths.Fixture("rules", "oracle", file)]);
            Assert.Empty(set.Errors);
            foreach (var rule in set.Rules)
            {
                distinct.Add(rule.Listed);
            }
        }
        Assert.True(distinct.Count >= 150, $"only {distinct.Count} distinct rules in the oracle fixtures");
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Load_FixtureFile_ListsExactlyAsAuditctlLoaded(string name)
    {
        string path = RepoPaths.Fixture("rules", "oracle", name);
        using var client = AuditControlClient.Open();
        var baseline = client.ListRules();
        string before = Auditctl.List();

        var (code, _, stderr) = Auditctl.Run("-R", path);
        Assert.True(code == 0, $"auditctl -R {name} failed: {stderr}");
        string byAuditctl = Auditctl.List();
        var auditctlRules = client.ListRules();
        DeleteAllBut(client, baseline);
        Assert.Equal(before, Auditctl.List());

        var set = RuleParser.ParseFiles([path]);
        Assert.Empty(set.Errors);
        foreach (var rule in set.Rules)
        {
            client.AddRule(rule.Rule);
        }
        string bySluice = Auditctl.List();
        var sluiceRules = client.ListRules();
        DeleteAllBut(client, baseline);
        Assert.Equal(before, Auditctl.List());

        Assert.Equal(byAuditctl, bySluice);
        // Same bytes in the kernel, rule for rule, not only the same text.
        Assert.Equal(auditctlRules.Count, sluiceRules.Count);
        for (int i = 0; i < auditctlRules.Count; i++)
        {
            Assert.True(auditctlRules[i].Equals(sluiceRules[i]), $"rule {i} differs in bytes: {RuleFormatter.Format(auditctlRules[i])}");
        }
        // Our printer over the kernel's list prints what auditctl prints.
        Assert.Equal(byAuditctl, RuleFormatter.FormatList(sluiceRules));
        // What `rules check` prints (the compiled rules, in kernel order) is auditctl's listing
        // without the rules that were there before.
        Assert.Equal(Without(byAuditctl, before), RuleFormatter.FormatList(set.InKernelOrder().Select(r => r.Listed)));
    }

    internal static void DeleteAllBut(AuditControlClient client, IReadOnlyList<KernelRule> keep)
    {
        foreach (var rule in client.ListRules())
        {
            if (!keep.Contains(rule))
            {
                client.DeleteRule(rule);
            }
        }
    }

    private static string Without(string listing, string before)
    {
        var remove = before == "No rules\n" ? [] : before.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
        var lines = new List<string>();
        foreach (var line in listing.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!remove.Remove(line))
            {
                lines.Add(line);
            }
        }
        return lines.Count == 0 ? "No rules\n" : string.Join('\n', lines) + "\n";
    }

    public void Dispose() => KernelLeftAsFound.RestoreAndVerify(_guard);
}
