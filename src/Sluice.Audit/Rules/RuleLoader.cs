using System.Buffers.Binary;
using Sluice.Audit.Interop;
using Sluice.Audit.Netlink;
using Sluice.Audit.Tables;

namespace Sluice.Audit.Rules;

/// <summary>How <see cref="RuleLoader"/> applies a rule set.</summary>
public sealed class RuleLoadOptions
{
    /// <summary>Where the set of rules Sluice added is kept (e.g. /var/lib/sluice/rules-state.json).</summary>
    public required string StateFile { get; init; }

    /// <summary>Sluice owns every rule: rules it did not add are deleted too when not wanted.</summary>
    public bool OwnAllRules { get; init; }

    /// <summary>Apply the control lines (-b, -f, -e, -r, --backlog_wait_time, ...). Off when the agent's config sets them.</summary>
    public bool ApplyControls { get; init; } = true;

    /// <summary>Allow <c>-e 2</c>: locks rules and settings until reboot.</summary>
    public bool AllowImmutable { get; init; }

    /// <summary>Allow <c>-f 2</c>: the kernel panics on the first lost record.</summary>
    public bool AllowPanic { get; init; }

    /// <summary>Allow <c>--loginuid-immutable</c>: locked until reboot.</summary>
    public bool AllowLoginUidImmutable { get; init; }
}

/// <summary>What a load changed.</summary>
public sealed class RuleLoadResult
{
    /// <summary>Rules added now, as the kernel lists them.</summary>
    public List<KernelRule> Added { get; } = [];

    /// <summary>Rules deleted now.</summary>
    public List<KernelRule> Deleted { get; } = [];

    /// <summary>Wanted rules that were already loaded.</summary>
    public List<KernelRule> Kept { get; } = [];

    /// <summary>Loaded rules that are not wanted but were left alone because Sluice did not add them.</summary>
    public List<KernelRule> Foreign { get; } = [];

    /// <summary>Control lines applied, as text (e.g. "backlog_limit=8192").</summary>
    public List<string> AppliedControls { get; } = [];

    /// <summary>Control lines not applied, with the reason.</summary>
    public List<string> RefusedControls { get; } = [];

    /// <summary>Rules the kernel refused while -i or -c allowed going on.</summary>
    public List<(ParsedRule Rule, string Reason)> Failed { get; } = [];
}

/// <summary>A load stopped on a rule the kernel refused; the rules added by this load were removed again.</summary>
public sealed class RuleLoadException(ParsedRule rule, AuditException inner)
    : Exception($"{rule.File}:{rule.Line}: the kernel refused the rule: {inner.Message}", inner)
{
    public ParsedRule Rule { get; } = rule;
}

/// <summary>
/// Brings the kernel's rules to a rule set: adds what is missing, deletes what Sluice added
/// before and no longer wants (or every unwanted rule, when it owns them all), and applies the
/// control lines under a policy that refuses the irreversible ones unless allowed.
/// </summary>
/// <remarks>
/// Rules already loaded keep their place; new ones go to the end of their list (or the head,
/// for -A). Where the order of rules already loaded matters (never before always), delete
/// them first (<see cref="DeleteOwned"/>) and load again.
/// </remarks>
public static class RuleLoader
{
    /// <summary>Applies <paramref name="set"/>. A set with errors is refused whole.</summary>
    /// <exception cref="ArgumentException">The set has errors.</exception>
    /// <exception cref="RuleLoadException">The kernel refused a rule (and neither -i nor -c was given); nothing stays changed.</exception>
    /// <exception cref="AuditException">The kernel is locked (immutable), or refused a request.</exception>
    public static RuleLoadResult Apply(AuditControlClient client, RuleSet set, RuleLoadOptions options)
    {
        if (!set.IsValid)
        {
            throw new ArgumentException($"the rules have {set.Errors.Count} error(s); nothing was loaded. First: {set.Errors[0]}", nameof(set));
        }
        var status = client.GetStatus();
        if (status.IsImmutable)
        {
            throw new AuditException(AuditErrorKind.Immutable, 1,
                "audit configuration is locked (enabled=2) until reboot: rules cannot be changed; the loaded rules stay in force");
        }
        var owned = RuleStateFile.Load(options.StateFile);
        var current = client.ListRules();
        var currentSet = current.ToHashSet();
        bool keepGoing = set.Controls.Any(c => c.Kind is RuleControlKind.IgnoreErrors or RuleControlKind.ContinueOnError);
        var result = new RuleLoadResult();

        var wanted = new HashSet<KernelRule>();
        var explicitDeletes = new HashSet<KernelRule>();
        foreach (var rule in set.Rules)
        {
            (rule.Operation == RuleOperation.Add ? wanted : explicitDeletes).Add(rule.Listed);
        }

        // Add first: if the kernel refuses one, only this load's additions are undone, and
        // in between the host is audited by the old and new rules together, never by neither.
        foreach (var rule in set.Rules.Where(r => r.Operation == RuleOperation.Add))
        {
            if (currentSet.Contains(rule.Listed))
            {
                result.Kept.Add(rule.Listed);
                continue;
            }
            try
            {
                client.AddRule(rule.Rule);
                result.Added.Add(rule.Listed);
                currentSet.Add(rule.Listed);
                owned.Add(rule.Listed);
            }
            catch (AuditException e) when (e.Kind == AuditErrorKind.RuleExists)
            {
                result.Kept.Add(rule.Listed);
            }
            catch (AuditException e) when (keepGoing && e.Kind is not (AuditErrorKind.Immutable or AuditErrorKind.PermissionDenied))
            {
                result.Failed.Add((rule, e.Message));
            }
            catch (AuditException e)
            {
                foreach (var added in result.Added)
                {
                    TryDelete(client, added);
                    owned.Remove(added);
                }
                RuleStateFile.Save(options.StateFile, owned.Where(currentSet.Contains));
                throw new RuleLoadException(rule, e);
            }
        }

        var deleteAll = set.Controls.FirstOrDefault(c => c.Kind == RuleControlKind.DeleteAll);
        foreach (var rule in current)
        {
            bool unwanted = !wanted.Contains(rule);
            bool mine = owned.Contains(rule);
            bool selected = deleteAll is null || deleteAll.Key is null || rule.Keys.Any(k => deleteAll.Key.Split('\x01').Contains(k));
            if (explicitDeletes.Contains(rule) || (unwanted && (mine || (options.OwnAllRules && selected))))
            {
                client.DeleteRule(rule);
                result.Deleted.Add(rule);
                owned.Remove(rule);
            }
            else if (unwanted)
            {
                result.Foreign.Add(rule);
            }
        }
        // Forget rules someone else deleted meanwhile; they are not ours to delete any more.
        var listed = client.ListRules().ToHashSet();
        RuleStateFile.Save(options.StateFile, owned.Where(listed.Contains));

        if (options.ApplyControls)
        {
            ApplyControls(client, set, options, result);
        }
        return result;
    }

    /// <summary>
    /// Deletes every loaded rule Sluice added (the agent's shutdown and restore), and empties
    /// the state file. Rules others added stay.
    /// </summary>
    public static RuleLoadResult DeleteOwned(AuditControlClient client, RuleLoadOptions options)
    {
        var owned = RuleStateFile.Load(options.StateFile);
        var result = new RuleLoadResult();
        foreach (var rule in client.ListRules())
        {
            if (owned.Contains(rule))
            {
                client.DeleteRule(rule);
                result.Deleted.Add(rule);
            }
            else
            {
                result.Foreign.Add(rule);
            }
        }
        RuleStateFile.Save(options.StateFile, []);
        return result;
    }

    /// <summary>Deletes the loaded rules that carry <paramref name="key"/>, Sluice's own only unless it owns all rules.</summary>
    public static RuleLoadResult DeleteByKey(AuditControlClient client, string key, RuleLoadOptions options)
    {
        var owned = RuleStateFile.Load(options.StateFile);
        var result = new RuleLoadResult();
        foreach (var rule in client.ListRules())
        {
            if (!rule.Keys.Contains(key))
            {
                continue;
            }
            if (owned.Contains(rule) || options.OwnAllRules)
            {
                client.DeleteRule(rule);
                result.Deleted.Add(rule);
                owned.Remove(rule);
            }
            else
            {
                result.Foreign.Add(rule);
            }
        }
        RuleStateFile.Save(options.StateFile, owned);
        return result;
    }

    private static void TryDelete(AuditControlClient client, KernelRule rule)
    {
        try
        {
            client.DeleteRule(rule);
        }
        catch (AuditException)
        {
            // Rolling back: the original error is what the caller needs to see.
        }
    }

    private static void ApplyControls(AuditControlClient client, RuleSet set, RuleLoadOptions options, RuleLoadResult result)
    {
        RuleControl? enable = null;
        foreach (var c in set.Controls)
        {
            string where = $"{c.File}:{c.Line}";
            switch (c.Kind)
            {
                case RuleControlKind.BacklogLimit:
                    client.SetBacklogLimit(c.Value);
                    result.AppliedControls.Add($"backlog_limit={c.Value}");
                    break;
                case RuleControlKind.RateLimit:
                    client.SetRateLimit(c.Value);
                    result.AppliedControls.Add($"rate_limit={c.Value}");
                    break;
                case RuleControlKind.BacklogWaitTime:
                    client.SetBacklogWaitTime(c.Value);
                    result.AppliedControls.Add($"backlog_wait_time={c.Value}");
                    break;
                case RuleControlKind.FailureMode when c.Value == 2 && !options.AllowPanic:
                    result.RefusedControls.Add($"{where}: -f 2 (panic on lost records) refused: the configuration does not allow it");
                    break;
                case RuleControlKind.FailureMode:
                    client.SetFailure(c.Value);
                    result.AppliedControls.Add($"failure={c.Value}");
                    break;
                case RuleControlKind.Enabled when c.Value == 2 && !options.AllowImmutable:
                    result.RefusedControls.Add($"{where}: -e 2 (lock the audit configuration until reboot) refused: the configuration does not allow it");
                    break;
                case RuleControlKind.Enabled:
                    enable = c; // last, so that nothing after it is locked out
                    break;
                case RuleControlKind.LoginUidImmutable when !options.AllowLoginUidImmutable:
                    result.RefusedControls.Add($"{where}: --loginuid-immutable (locked until reboot) refused: the configuration does not allow it");
                    break;
                case RuleControlKind.LoginUidImmutable:
                    SetLoginUidImmutable();
                    result.AppliedControls.Add("loginuid_immutable=1 (locked)");
                    break;
                default:
                    break; // -D, -i and -c act on the rules, above
            }
        }
        if (enable is not null)
        {
            client.SetEnabled(enable.Value);
            result.AppliedControls.Add($"enabled={enable.Value}");
        }
    }

    // AUDIT_SET_FEATURE with struct audit_features { vers=1, mask, features, lock }, feature
    // AUDIT_FEATURE_LOGINUID_IMMUTABLE (bit 1), set and locked as auditctl does.
    private static void SetLoginUidImmutable()
    {
        using var socket = NetlinkAuditSocket.Open(0, out int errno) ?? throw AuditControlClient.SocketError(errno);
        var channel = new AuditRequestChannel(socket, TimeSpan.FromSeconds(5), unsolicited: null);
        Span<byte> payload = stackalloc byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(payload, 1);
        BinaryPrimitives.WriteUInt32LittleEndian(payload[4..], 1u << 1);
        BinaryPrimitives.WriteUInt32LittleEndian(payload[8..], 1u << 1);
        BinaryPrimitives.WriteUInt32LittleEndian(payload[12..], 1u << 1);
        int rc = channel.Request(AuditMessageType.SetFeature, payload);
        if (rc < 0)
        {
            throw AuditControlClient.ErrorFor(-rc, "set loginuid_immutable (AUDIT_SET_FEATURE)");
        }
    }
}
