using System.ComponentModel.DataAnnotations;

namespace Sluice.Agent.Configuration;

/// <summary>What a matching filter rule does with an event.</summary>
internal enum FilterAction
{
    Keep,
    Drop,
    /// <summary>Keep one event in <see cref="FilterRuleOptions.SampleEvery"/>.</summary>
    Sample,
    /// <summary>Keep at most <see cref="FilterRuleOptions.RatePerSecond"/> events per second per key.</summary>
    RateLimit,
}

/// <summary>
/// One filter rule. Every match field given must match (AND); lists match any of their items
/// (OR). A rule with no match fields matches everything.
/// </summary>
internal sealed class FilterRuleOptions : IValidatableObject
{
    /// <summary>Name used in counters and logs; defaults to "filter[N]".</summary>
    public string? Name { get; set; }

    /// <summary>Record type names present in the event, e.g. "EXECVE", "USER_LOGIN".</summary>
    public List<string>? RecordTypes { get; set; }

    /// <summary>Syscall names, e.g. "execve".</summary>
    public List<string>? Syscalls { get; set; }

    /// <summary>Rule keys (the event's key=).</summary>
    public List<string>? Keys { get; set; }

    public List<uint>? Uids { get; set; }

    public List<uint>? Auids { get; set; }

    public List<uint>? Euids { get; set; }

    /// <summary>Globs on the executable path (* and ?), e.g. "/usr/bin/*".</summary>
    public List<string>? Exe { get; set; }

    /// <summary>Globs on comm.</summary>
    public List<string>? Comm { get; set; }

    /// <summary>Prefixes of any PATH name, e.g. "/tmp/".</summary>
    public List<string>? PathPrefixes { get; set; }

    public bool? Success { get; set; }

    public FilterAction Action { get; set; } = FilterAction.Drop;

    [Range(2, 1_000_000)]
    public int SampleEvery { get; set; } = 10;

    [Range(0.001, 1_000_000)]
    public double RatePerSecond { get; set; } = 100;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var (name, list) in new[] { ("Exe", Exe), ("Comm", Comm), ("PathPrefixes", PathPrefixes), ("Keys", Keys), ("Syscalls", Syscalls), ("RecordTypes", RecordTypes) })
        {
            if (list is not null && list.Any(string.IsNullOrEmpty))
            {
                yield return new ValidationResult($"{name} contains an empty entry", [name]);
            }
        }
    }
}
