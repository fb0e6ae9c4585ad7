using Sluice.Agent.Configuration;
using Sluice.Agent.Policy;
using Sluice.Audit.Rules;

namespace Sluice.Agent.Tests.Policy;

/// <summary>A central policy compiles whole or not at all, with the local files' compiler and the agent.json filter validation.</summary>
public sealed class PolicyCompilerTests
{
    private const string GoodRules = """
        # central policy
        -a always,exit -F arch=b64 -S execve -F key=exec
        -w /etc/passwd -p wa -k identity
        """;

    private const string GoodFilters = """
        [ { "Name": "drop-cron", "Comm": [ "cron" ], "Action": "Drop" },
          { "Name": "sample-open", "Syscalls": [ "openat" ], "Action": "Sample", "SampleEvery": 4 } ]
        """;

    [Fact]
    public void Compile_GoodRulesAndFilters_GivesTheSameRulesAsTheLocalCompilerAndTheFilters()
    {
        var policy = PolicyCompiler.Compile("h", "web", GoodRules, GoodFilters);

        var local = RuleParser.Parse(GoodRules, "policy");
        Assert.Equal(local.Rules.Select(r => r.Rule), policy.Rules.Rules.Select(r => r.Rule));
        Assert.Equal(2, policy.Rules.Rules.Count);
        Assert.Equal(["drop-cron", "sample-open"], policy.Filters.Select(f => f.Name));
        Assert.Equal(FilterAction.Sample, policy.Filters[1].Action);
        Assert.Equal(4, policy.Filters[1].SampleEvery);
        Assert.Equal(["cron"], policy.Filters[0].Comm!);
    }

    [Fact]
    public void Compile_OneBadLine_RefusedWholeNamingPolicyLineAndReason()
    {
        string rules = GoodRules + "\n-a always,exit -F arch=b64 -S no_such_syscall -F key=x\n";

        var e = Assert.Throws<PolicyRefusedException>(() => PolicyCompiler.Compile("h", "", rules, GoodFilters));

        // Line 4 of the text, named as a local rules file's errors are: "FILE:LINE: 'TOKEN': reason".
        var expected = RuleParser.Parse(rules, "policy").Errors.Single().ToString();
        Assert.StartsWith("policy:4: ", expected);
        Assert.Contains(expected, e.Message);
        Assert.StartsWith("the rules have 1 error(s); nothing was loaded", e.Message);
    }

    [Fact]
    public void Compile_GoodRulesBadFilters_RefusedWhole()
    {
        var e = Assert.Throws<PolicyRefusedException>(() =>
            PolicyCompiler.Compile("h", "", GoodRules, """[ { "Name": "x", "RecordTypes": [ "NO_SUCH_TYPE" ] } ]"""));

        Assert.Contains("Filters:0:RecordTypes: unknown record type 'NO_SUCH_TYPE'", e.Message);
        Assert.StartsWith("policy filters: ", e.Message);
    }

    [Theory]
    [InlineData("""{ "Name": "x" }""", "a JSON array of filter rules is expected")]
    [InlineData("""[ { "Name": "x" """, "not valid JSON")]
    [InlineData("""[ { "Nmae": "x" } ]""", "Nmae")]
    [InlineData("""[ { "Action": "Sample", "SampleEvery": 1 } ]""", "SampleEvery")]
    [InlineData("""[ { "Action": "Explode" } ]""", "Action")]
    [InlineData("""[ { "Syscalls": [ "no_such_call" ] } ]""", "unknown syscall 'no_such_call'")]
    [InlineData("""[ { "Exe": [ "" ] } ]""", "Exe contains an empty entry")]
    public void CompileFilters_WhatAgentJsonRefuses_IsRefused(string filters, string named)
    {
        var e = Assert.Throws<PolicyRefusedException>(() => PolicyCompiler.CompileFilters(filters));

        Assert.Contains(named, e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("  \n")]
    [InlineData("[]")]
    public void CompileFilters_EmptyOrEmptyArray_NoFilters(string filters) =>
        Assert.Empty(PolicyCompiler.CompileFilters(filters));

    [Fact]
    public void CompileFilters_AsAgentJsonBindsThem_CaseInsensitiveKeysAndDefaults()
    {
        var filters = PolicyCompiler.CompileFilters("""[ { "name": "r", "keys": [ "k" ], "action": "RateLimit" } ]""");

        var f = Assert.Single(filters);
        Assert.Equal("r", f.Name);
        Assert.Equal(FilterAction.RateLimit, f.Action);
        Assert.Equal(new FilterRuleOptions().RatePerSecond, f.RatePerSecond);
    }
}
