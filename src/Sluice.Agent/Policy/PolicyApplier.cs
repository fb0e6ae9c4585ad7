using Microsoft.Extensions.Logging;
using Sluice.Agent.Configuration;
using Sluice.Agent.Filtering;
using Sluice.Agent.Kernel;
using Sluice.Agent.Monitoring;
using Sluice.Protocol.Policies;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Policy;

/// <summary>
/// Acts on a heartbeat reply's policy: checks its hash, compiles it, loads its rules into the
/// kernel and swaps its filters in, all or nothing, then keeps it on disk as the last good one.
/// A policy refused (hash, compile or kernel) leaves the rules and filters in force as they were;
/// its hash and reason go out in the next heartbeats, and it is not tried again until a different
/// policy arrives or the agent restarts.
/// </summary>
internal sealed partial class PolicyApplier(
    AgentOptions options,
    KernelSession session,
    KernelOwnership ownership,
    IRulesLoader rules,
    ActiveFilter filter,
    PolicyState state,
    AgentMetrics metrics,
    TimeProvider time,
    ILogger<PolicyApplier> logger)
{
    /// <summary>Handles one heartbeat reply (null: the heartbeat failed, nothing to do).</summary>
    /// <returns>True when a new policy was put in force.</returns>
    public bool OnReply(HeartbeatReply? reply)
    {
        if (reply is null)
        {
            return false;
        }
        if (!options.Policy.Enabled)
        {
            if (reply.Policy is { Hash.Length: > 0 } ignored && state.Status.Note.Length == 0)
            {
                Log.Disabled(logger, LastGoodPolicy.Short(ignored.Hash));
                state.SetNote($"central policy {LastGoodPolicy.Short(ignored.Hash)} ignored: Policy:Enabled is false");
            }
            return false;
        }
        var current = state.Status;
        if (reply.PolicyHash.Length == 0)
        {
            // The group has no policy (any more). The agent keeps what it has: dropping a central
            // policy back to the local files would be a second, implicit policy decision made by
            // nobody; an operator who wants the local files back sets Policy:Enabled false, or
            // removes policy.json and restarts.
            if (current.Hash.Length > 0 && !current.Note.StartsWith("the collector holds no policy", StringComparison.Ordinal))
            {
                Log.NoneAtCollector(logger, PolicyState.GroupName(reply.Group), LastGoodPolicy.Short(current.Hash));
                state.SetNote($"the collector holds no policy for group {PolicyState.GroupName(reply.Group)}: keeping {LastGoodPolicy.Short(current.Hash)} in force");
            }
            return false;
        }
        if (reply.PolicyHash == current.Hash)
        {
            if (current.Source != PolicySources.Central || current.Group != reply.Group || current.Note.Length > 0)
            {
                state.Confirmed(reply.Group);
            }
            return false;
        }
        if (reply.Policy is not { } policy || policy.Hash == current.Hash || policy.Hash == current.RefusedHash)
        {
            return false; // not sent again once refused (or the collector has yet to see our hash)
        }
        return Apply(policy);
    }

    /// <summary>Puts <paramref name="policy"/> in force, or refuses it; true when it is in force.</summary>
    public bool Apply(Sluice.Protocol.V1.Policy policy)
    {
        string shortHash = LastGoodPolicy.Short(policy.Hash);
        Log.Received(logger, shortHash, PolicyState.GroupName(policy.Group));
        try
        {
            if (!PolicyDigest.Matches(policy))
            {
                throw new PolicyRefusedException(
                    $"the policy's hash {shortHash} is not the hash of its rules and filters ({LastGoodPolicy.Short(PolicyDigest.Compute(policy.Rules, policy.Filters))}): damaged or forged, not used");
            }
            if (options.Mode != AgentMode.Unicast)
            {
                throw new PolicyRefusedException("the agent runs in Multicast mode, where it loads no rules: a central policy cannot be put in force");
            }
            if (ownership.Immutable)
            {
                throw new PolicyRefusedException("kernel audit is locked (immutable, enabled=2) until reboot: no rule can change");
            }
            var compiled = PolicyCompiler.Compile(policy.Hash, policy.Group, policy.Rules, policy.Filters);
            foreach (var warning in compiled.Rules.Warnings)
            {
                Log.Warning(logger, warning.ToString());
            }
            lock (session.RulesLock)
            {
                // The watchdog takes the same lock: it never re-adds a rule this load just deleted.
                var loaded = rules.Replace(session.Control, compiled.Rules);
                filter.Replace(compiled.Filters);
                session.LoadedRules = loaded;
                metrics.RulesLoaded = loaded.Count;
                metrics.RulesHash = rules.Hash;
            }
            var now = time.GetUtcNow();
            state.InForce(compiled, PolicySources.Central, now);
            Log.InForce(logger, shortHash, PolicyState.GroupName(policy.Group), session.LoadedRules.Count, compiled.Filters.Count);
            Keep(policy, now);
            return true;
        }
        catch (PolicyRefusedException e)
        {
            Log.Refused(logger, shortHash, e.Message);
            state.Refused(policy.Hash, e.Message, time.GetUtcNow());
            return false;
        }
    }

    private void Keep(Sluice.Protocol.V1.Policy policy, DateTimeOffset applied)
    {
        try
        {
            new LastGoodPolicy
            {
                Hash = policy.Hash,
                Group = policy.Group,
                Rules = policy.Rules,
                Filters = policy.Filters,
                SetUnixMs = policy.SetUnixMs,
                AppliedUtc = applied,
            }.Save(options.StateDirectory, logger);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // In force all the same; a restart without the collector would run the previous one.
            Log.NotKept(logger, LastGoodPolicy.PathIn(options.StateDirectory), e.Message);
            state.SetNote($"could not keep the policy on disk: {e.Message}");
        }
    }

    private static partial class Log
    {
        [LoggerMessage(132, LogLevel.Information, "Central policy {Hash} (group {Group}) received")]
        public static partial void Received(ILogger logger, string hash, string group);

        [LoggerMessage(133, LogLevel.Information, "Central policy {Hash} (group {Group}) in force: {Rules} rules, {Filters} filters")]
        public static partial void InForce(ILogger logger, string hash, string group, int rules, int filters);

        [LoggerMessage(134, LogLevel.Error, "Central policy {Hash} refused: {Reason}. The rules and filters in force stay; it is not tried again until a different policy arrives")]
        public static partial void Refused(ILogger logger, string hash, string reason);

        [LoggerMessage(135, LogLevel.Warning, "Central policy: {Warning}")]
        public static partial void Warning(ILogger logger, string warning);

        [LoggerMessage(136, LogLevel.Warning, "The collector holds no policy for group {Group}: keeping {Hash} in force")]
        public static partial void NoneAtCollector(ILogger logger, string group, string hash);

        [LoggerMessage(137, LogLevel.Information, "Central policy {Hash} ignored: Policy:Enabled is false")]
        public static partial void Disabled(ILogger logger, string hash);

        [LoggerMessage(138, LogLevel.Error, "Could not keep the central policy in {Path}: {Message}; a restart without the collector runs the previous one")]
        public static partial void NotKept(ILogger logger, string path, string message);
    }
}
