using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Sluice.Agent.Configuration;
using Sluice.Audit.Rules;

namespace Sluice.Agent.Policy;

/// <summary>A central policy compiled and checked, ready to be put in force.</summary>
/// <param name="Rules">The rules, compiled by the same compiler as the local rules files (file name "policy").</param>
/// <param name="Filters">The filter rules, bound and validated as the "Filters" section of agent.json is.</param>
internal sealed record CompiledPolicy(string Hash, string Group, RuleSet Rules, IReadOnlyList<FilterRuleOptions> Filters);

/// <summary>
/// Compiles a central policy all or nothing: the rules with <see cref="RuleParser"/> (errors name
/// "policy", the line and the reason, as for a local rules file), the filters with the agent's
/// own configuration binder and validators, as if they were the "Filters" section of agent.json.
/// </summary>
internal static class PolicyCompiler
{
    /// <summary>The file name a central policy's rules have in messages: "policy:LINE: ...".</summary>
    public const string RulesName = "policy";

    /// <summary>At most this many errors are named in one refusal; the count says how many there were.</summary>
    private const int ErrorsShown = 5;

    /// <exception cref="PolicyRefusedException">A rule line or a filter is refused; the message names each (up to five).</exception>
    public static CompiledPolicy Compile(string hash, string group, string rules, string filters, RuleParserOptions? parserOptions = null)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(filters);
        var set = RuleParser.Parse(rules, RulesName, parserOptions);
        if (!set.IsValid)
        {
            var shown = set.Errors.Take(ErrorsShown).Select(e => e.ToString());
            throw new PolicyRefusedException($"the rules have {set.Errors.Count} error(s); nothing was loaded: " + string.Join("; ", shown)
                + (set.Errors.Count > ErrorsShown ? "; ..." : ""));
        }
        return new CompiledPolicy(hash, group, set, CompileFilters(filters));
    }

    /// <summary>Binds and validates a filters text: a JSON array shaped like agent.json's "Filters"; empty or blank: no filters.</summary>
    /// <exception cref="PolicyRefusedException">Not a JSON array, or a filter the agent.json validation refuses.</exception>
    public static IReadOnlyList<FilterRuleOptions> CompileFilters(string filters)
    {
        if (string.IsNullOrWhiteSpace(filters))
        {
            return [];
        }
        try
        {
            using var document = JsonDocument.Parse(filters, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            if (document.RootElement.ValueKind != JsonValueKind.Array)
            {
                throw new PolicyRefusedException($"policy filters: a JSON array of filter rules is expected, not a JSON {document.RootElement.ValueKind.ToString().ToLowerInvariant()}");
            }
        }
        catch (JsonException e)
        {
            throw new PolicyRefusedException($"policy filters: not valid JSON: {e.Message}");
        }
        // The filters become the "Filters" section of an otherwise default configuration, bound and
        // validated by the very code that binds and validates agent.json: same keys, same errors.
        var wrapped = Encoding.UTF8.GetBytes("{ \"Filters\": " + filters + "\n}");
        IConfiguration configuration;
        try
        {
            configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(wrapped)).Build();
        }
        catch (Exception e) when (e is FormatException or InvalidDataException or JsonException)
        {
            throw new PolicyRefusedException($"policy filters: not valid JSON: {e.Message}");
        }
        try
        {
            using var services = new ServiceCollection().AddAgentOptions(configuration).BuildServiceProvider();
            return AgentConfiguration.Resolve(services).Filters;
        }
        catch (ConfigurationException e)
        {
            throw new PolicyRefusedException("policy filters: " + e.Message.Replace("\n  ", " ", StringComparison.Ordinal));
        }
    }
}

/// <summary>A central policy the agent will not put in force; the message says why (file "policy", line, reason).</summary>
internal sealed class PolicyRefusedException(string message) : Exception(message);
