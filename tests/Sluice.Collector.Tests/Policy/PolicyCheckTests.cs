using Sluice.Collector.Cli;
using Sluice.Collector.Policy;

namespace Sluice.Collector.Tests.Policy;

/// <summary>What <c>policy set</c> refuses before anything reaches the store: each with the file, the line and why.</summary>
public sealed class PolicyCheckTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-policycheck-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("{}", 1, "expected a JSON array of filter rules")]
    [InlineData("[\n 1\n]", 2, "filter rule 0: expected an object, got Number")]
    [InlineData("[\n {\n  \"Exe\": \"/usr/bin/x\"\n }\n]", 3, "filter rule 0, \"Exe\": expected an array of strings, got String")]
    [InlineData("[\n { \"Keys\": [\"a\",\n \"\"] }\n]", 3, "filter rule 0, \"Keys\": every entry must be a non-empty string")]
    [InlineData("[ {}, {\n \"Uids\": [-1] } ]", 2, "filter rule 1, \"Uids\": every entry must be an id from 0 to 4294967295")]
    [InlineData("[ {\n\n \"SampleEvery\": 1 } ]", 3, "filter rule 0, \"SampleEvery\": 1 is not a whole number from 2 to 1000000")]
    [InlineData("[ { \"RatePerSecond\": \"fast\" } ]", 1, "filter rule 0, \"RatePerSecond\": expected a number")]
    [InlineData("[ { \"Success\": \"yes\" } ]", 1, "filter rule 0, \"Success\": expected true or false")]
    [InlineData("[ { \"Drop\": true } ]", 1, "filter rule 0: unknown field \"Drop\"")]
    [InlineData("[ { \"Action\": \"Drop\", \"action\": \"Keep\" } ]", 1, "filter rule 0, \"action\": given twice")]
    [InlineData("[\n {\n \"Action\": \"Drop\",\n }\n]", 4, "not valid JSON")]
    [InlineData("[] []", 1, "not valid JSON")]
    [InlineData("// a comment\n[]", 1, "not valid JSON")]
    public void CheckFilters_WrongShape_RefusedNamingLineAndReason(string filters, int line, string reason)
    {
        var e = Assert.Throws<PolicyFileException>(() => PolicyCheck.CheckFilters(filters, "f.json"));

        Assert.Equal(line, e.Line);
        Assert.Contains(reason, e.Reason);
        Assert.StartsWith($"f.json:{line}: ", e.Message);
    }

    [Fact]
    public void CheckFilters_AgentShape_AnyCaseOfNames_Counted()
    {
        const string filters = """
            [
              { "Name": "n", "RecordTypes": ["EXECVE"], "Syscalls": ["execve"], "Keys": ["k"], "Uids": [0], "Auids": [1000], "Euids": [4294967295],
                "Exe": ["/usr/bin/*"], "Comm": ["c?"], "PathPrefixes": ["/tmp/"], "Success": false, "Action": "RateLimit", "RatePerSecond": 0.5 },
              { "action": "sample", "sampleevery": "20", "name": null }
            ]
            """;

        Assert.Equal(2, PolicyCheck.CheckFilters(filters, "f.json"));
        Assert.Equal(0, PolicyCheck.CheckFilters("", "f.json"));
        Assert.Equal(0, PolicyCheck.CheckFilters("[]", "f.json"));
    }

    [Fact]
    public void CheckRules_EveryBrokenLine_FirstNamedWithLineAndTheRestCounted()
    {
        var e = Assert.Throws<PolicyFileException>(() => PolicyCheck.CheckRules("-w /etc/passwd -p wa\n-a always,exit -S nope\n-a never,bogus\n", "p.rules"));

        Assert.Equal(2, e.Line);
        Assert.StartsWith("p.rules:2: 'nope': ", e.Message);
        Assert.Contains("(and 1 more: p.rules:3:", e.Message);
    }

    [Fact]
    public async Task PolicySet_HugeRulesFile_RefusedWithItsSizeBeforeTheStoreIsOpened()
    {
        string rules = Path.Combine(_dir, "huge.rules");
        await using (var f = File.Create(rules))
        {
            f.SetLength(PolicyCheck.MaxRulesBytes + 1);
        }
        var stderr = new StringWriter();

        // The store does not exist: the file is refused before it is looked for.
        int rc = await PolicyCommand.RunSetAsync("sqlite:" + Path.Combine(_dir, "none.db"), "web", rules, null, noCheck: true, new StringWriter(), stderr, CancellationToken.None);

        Assert.Equal(2, rc);
        Assert.Contains($"refused: {rules}: {PolicyCheck.MaxRulesBytes + 1} bytes, more than the {PolicyCheck.MaxRulesBytes} a policy file may have", stderr.ToString());
    }

    [Theory]
    [InlineData(new byte[] { (byte)'-', (byte)'D', (byte)'\n', 0xff, 0xfe, (byte)'\n' }, 2, "not UTF-8 text")]
    [InlineData(new byte[] { (byte)'-', (byte)'D', (byte)'\n', (byte)'-', (byte)'w', 0, (byte)'\n' }, 2, "contains a NUL character")]
    [InlineData(new byte[] { 0xef, 0xbb, 0xbf, (byte)'-', (byte)'D' }, 1, "starts with a byte-order mark")]
    public async Task PolicySet_RulesNotPlainUtf8_RefusedNamingLine_EvenWithNoCheck(byte[] bytes, int line, string reason)
    {
        string rules = Path.Combine(_dir, "bad.rules");
        await File.WriteAllBytesAsync(rules, bytes);
        var stderr = new StringWriter();

        int rc = await PolicyCommand.RunSetAsync("sqlite:" + Path.Combine(_dir, "none.db"), "web", rules, null, noCheck: true, new StringWriter(), stderr, CancellationToken.None);

        Assert.Equal(2, rc);
        Assert.Contains($"refused: {rules}:{line}: {reason}", stderr.ToString());
    }

    [Fact]
    public async Task PolicySet_BadGroupOrMissingFile_RefusedNamingIt()
    {
        var stderr = new StringWriter();
        Assert.Equal(2, await PolicyCommand.RunSetAsync("sqlite:/nonexistent.db", "a b", "/nonexistent.rules", null, false, new StringWriter(), stderr, CancellationToken.None));
        Assert.Contains("--group 'a b' is not valid", stderr.ToString());
        stderr = new StringWriter();
        Assert.Equal(2, await PolicyCommand.RunSetAsync("sqlite:/nonexistent.db", "web", "/nonexistent.rules", null, false, new StringWriter(), stderr, CancellationToken.None));
        Assert.Contains("refused: /nonexistent.rules: no such file", stderr.ToString());
    }

    [Theory]
    [InlineData("", "", "", null, "unknown", false)]
    [InlineData(null, "", "", 5L, "none", false)]
    [InlineData(null, "b", "", 5L, "kept", false)]
    [InlineData("a", "a", "", 5L, "in-force", false)]
    [InlineData("a", "", "a", 5L, "refused", true)]
    [InlineData("a", "b", "", 1L, "pending", true)]
    [InlineData("a", "", "", 5L, "local", true)]
    [InlineData("a", "b", "c", 5L, "stale", true)]
    public void PolicyStatus_EachCase(string? expected, string inForce, string refused, long? lastHeartbeat, string state, bool differs)
    {
        var group = expected is null or "" ? null : new GroupPolicyRef("g", expected, SetUnixMs: 3);

        var status = PolicyStatus.Of(group, inForce, refused, "why", lastHeartbeat);

        Assert.Equal((state, differs), (status.State, status.Differs));
    }
}
