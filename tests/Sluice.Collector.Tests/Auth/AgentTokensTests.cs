using Sluice.Collector.Auth;

namespace Sluice.Collector.Tests.Auth;

public sealed class AgentTokensTests
{
    [Fact]
    public void Parse_PlainAndHashedLines_FindsEachAgentByItsToken()
    {
        var tokens = AgentTokens.Parse($"""
            # fleet
            web-1 plain-token-0123456789

            {AgentTokens.HashedLine("db-2", "hashed-token-9876543210")}
            """);

        Assert.Equal(2, tokens.Count);
        Assert.Equal("web-1", tokens.FindAgent("plain-token-0123456789"));
        Assert.Equal("db-2", tokens.FindAgent("hashed-token-9876543210"));
        Assert.Null(tokens.FindAgent("hashed-token-987654321"));
        Assert.Null(tokens.FindAgent(""));
    }

    [Fact]
    public void HashedLine_DoesNotContainTheToken()
    {
        string line = AgentTokens.HashedLine("a", "secret-token-0123456789");

        Assert.DoesNotContain("secret", line);
        Assert.Matches("^a sha256:[0-9a-f]{64}$", line);
    }

    [Theory]
    [InlineData("a", "line 1: expected 'AGENT_ID TOKEN'")]
    [InlineData("a b c d", "line 1: expected 'AGENT_ID TOKEN' or 'AGENT_ID sha256:HEX', optionally followed by 'group=GROUP', got 4 fields")]
    [InlineData("a token-0123456789abcdef web", "line 1: the third field must be 'group=GROUP', got 'web'")]
    [InlineData("a token-0123456789abcdef group=", "line 1: group '' is not valid")]
    [InlineData("a token-0123456789abcdef group=-x", "line 1: group '-x' is not valid")]
    [InlineData("a token-0123456789abcdef group=a/b", "line 1: group 'a/b' is not valid")]
    [InlineData("a short", "line 1: the token for 'a' is shorter than 16 characters")]
    [InlineData("a sha256:xyz", "line 1: 'sha256:xyz' is not sha256: followed by hex")]
    [InlineData("a sha256:abcd", "line 1: a sha256 digest has 64 hex digits, got 4")]
    [InlineData("bad/id token-0123456789abcdef", "line 1: agent id 'bad/id' is not valid")]
    [InlineData("a token-0123456789abcdef\na token-0123456789abcdeX", "line 2: agent id 'a' appears twice")]
    [InlineData("a token-0123456789abcdef\nb token-0123456789abcdef", "line 2: the token for 'b' is already used by another agent")]
    public void Parse_BadLine_ThrowsNamingTheLineAndReason(string text, string expected)
    {
        var e = Assert.Throws<FormatException>(() => AgentTokens.Parse(text, "tokens.txt"));

        Assert.Contains("tokens.txt " + expected, e.Message);
    }

    [Fact]
    public void Load_MissingFile_ThrowsNamingThePath()
    {
        var e = Assert.Throws<FormatException>(() => AgentTokens.Load("/nonexistent/sluice-tokens"));

        Assert.Contains("token file /nonexistent/sluice-tokens: cannot read it", e.Message);
    }
}
