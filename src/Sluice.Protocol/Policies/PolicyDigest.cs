using System.Security.Cryptography;
using System.Text;
using Sluice.Protocol.V1;

namespace Sluice.Protocol.Policies;

/// <summary>The hash that names a central policy: the collector computes it when a policy is set, the agent checks it before using one.</summary>
public static class PolicyDigest
{
    /// <summary>Lowercase hex SHA-256 over the UTF-8 rules, one NUL byte, then the UTF-8 filters.</summary>
    public static string Compute(string rules, string filters)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(filters);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(rules));
        hash.AppendData([0]);
        hash.AppendData(Encoding.UTF8.GetBytes(filters));
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Whether <paramref name="policy"/>'s hash is the hash of its rules and filters.</summary>
    public static bool Matches(Policy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return string.Equals(policy.Hash, Compute(policy.Rules, policy.Filters), StringComparison.Ordinal);
    }
}
