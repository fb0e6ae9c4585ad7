using Sluice.Protocol.Policies;
using Sluice.Protocol.V1;
using Xunit;

namespace Sluice.Protocol.Tests.Policies;

public class PolicyDigestTests
{
    [Fact]
    public void Compute_IsSha256OfRulesNulFilters()
    {
        // printf '%s\0%s' '-a always,exit -S execve' '[]' | sha256sum
        string expected = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(
            "-a always,exit -S execve\0[]"u8.ToArray()));
        Assert.Equal(expected, PolicyDigest.Compute("-a always,exit -S execve", "[]"));
    }

    [Fact]
    public void Compute_TheSeparatorKeepsRulesAndFiltersApart()
    {
        Assert.NotEqual(PolicyDigest.Compute("ab", "c"), PolicyDigest.Compute("a", "bc"));
    }

    [Fact]
    public void Matches_RefusesAPolicyWhoseBodyWasChanged()
    {
        var policy = new Policy { Rules = "-w /etc/passwd -p wa -k identity\n", Filters = "" };
        policy.Hash = PolicyDigest.Compute(policy.Rules, policy.Filters);
        Assert.True(PolicyDigest.Matches(policy));
        policy.Rules += "-D\n";
        Assert.False(PolicyDigest.Matches(policy));
    }
}
