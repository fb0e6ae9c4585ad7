using Sluice.Agent.Cli;
using Sluice.Agent.Enrichment;
using Sluice.Audit.Rules;
using Sluice.Audit.Tables;

namespace Sluice.Agent.Tests.Enrichment;

public sealed class RuleAdvisorTests
{
    private static IReadOnlyList<MissingRule> Missing(string rules)
    {
        string file = Path.Combine(Path.GetTempPath(), $"sluice-advisor-{Guid.NewGuid():N}.rules");
        File.WriteAllText(file, rules);
        try
        {
            var set = RuleParser.ParseFiles([file], new RuleParserOptions { MachineArch = AuditArch.X86_64 });
            Assert.True(set.IsValid, string.Join("\n", set.Errors));
            return RuleAdvisor.Missing(set.Rules.Select(r => r.Rule), AuditArch.X86_64);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void NoRules_NeedsAllThreeGroupsOnBothArches()
    {
        var missing = Missing("");
        Assert.Equal(6, missing.Count);
        Assert.Equal(["execve", "execveat"], missing[0].Missing);
        Assert.Equal(["clone", "clone3", "fork", "vfork"], missing[1].Missing);
        Assert.Equal(["exit_group"], missing[2].Missing);
        Assert.Equal("b32", missing[3].ArchName);
    }

    [Fact]
    public void FilteredRule_DoesNotCount_AndOtherArchDoesNotCount()
    {
        var missing = Missing("""
            -a always,exit -F arch=b64 -S execve,execveat -k e
            -a always,exit -F arch=b64 -S clone -F auid>=1000 -k c
            -a always,exit -F arch=b32 -S exit_group -k x
            -a never,exit -F arch=b64 -S fork -k n
            """);
        Assert.DoesNotContain(missing, m => m.Purpose == "exec" && m.ArchName == "b64");
        Assert.Contains(missing, m => m.Purpose == "fork" && m.ArchName == "b64" && m.Missing.Contains("clone") && m.Missing.Contains("fork"));
        Assert.Contains(missing, m => m.Purpose == "exit" && m.ArchName == "b64");
        Assert.DoesNotContain(missing, m => m.Purpose == "exit" && m.ArchName == "b32");
    }

    [Fact]
    public void SuggestOutput_IsLoadableAndThenNothingIsMissing()
    {
        var output = new StringWriter();
        string file = Path.Combine(Path.GetTempPath(), $"sluice-suggest-{Guid.NewGuid():N}.rules");
        File.WriteAllText(file, "-a always,exit -F arch=b64 -S execve -k mine\n");
        try
        {
            Assert.Equal(0, RulesCommand.Suggest([file], "x86_64", output, new StringWriter()));
            string text = output.ToString();
            Assert.Contains("-a always,exit -F arch=b64 -S execveat -k sluice-process", text);
            Assert.DoesNotContain("-S execve -", text.Replace("b32 -S execve -S", "", StringComparison.Ordinal));
            foreach (string line in text.Split('\n').Where(l => l.StartsWith('-')))
            {
                Assert.Contains("#", text[..text.IndexOf(line, StringComparison.Ordinal)]);
            }
            // The suggested lines, added to the file, leave nothing to suggest.
            File.AppendAllText(file, text);
            var again = new StringWriter();
            Assert.Equal(0, RulesCommand.Suggest([file], "x86_64", again, new StringWriter()));
            Assert.Contains("already give", again.ToString());
        }
        finally
        {
            File.Delete(file);
        }
    }
}
