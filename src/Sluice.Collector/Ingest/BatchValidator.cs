using Grpc.Core;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Ingest;

/// <summary>Checks a batch or heartbeat before anything of it is stored.</summary>
/// <remarks>
/// Event times are not refused: the store indexes one outside <see cref="IngestLimits.EventTimeBounds"/> under the
/// receive time, flagged (an event's clock is the agent's word, and one bad event must not cost the batch).
/// </remarks>
internal sealed class BatchValidator(IngestLimits limits)
{
    public IngestLimits Limits => limits;

    /// <summary>Agent ids are names in token files, logs and file names: keep them to a safe alphabet.</summary>
    public static bool IsValidAgentId(string id, int maxLength = 128)
    {
        if (id.Length == 0 || id.Length > maxLength)
        {
            return false;
        }
        foreach (char c in id)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '-'))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Null when the batch is acceptable, otherwise why not, naming the field.</summary>
    public string? Check(EventBatch batch)
    {
        if (!IsValidAgentId(batch.AgentId, limits.MaxAgentIdLength))
        {
            return batch.AgentId.Length == 0
                ? "agent_id is required"
                : $"agent_id '{Truncate(batch.AgentId)}' is not valid (1-{limits.MaxAgentIdLength} characters of A-Z a-z 0-9 . _ : -)";
        }
        if (batch.Sequence == 0)
        {
            return "sequence is required and must be > 0";
        }
        if (batch.Sequence > long.MaxValue)
        {
            return $"sequence {batch.Sequence} is beyond 2^63-1";
        }
        if (batch.Hostname.Length == 0)
        {
            return "hostname is required";
        }
        if (batch.Hostname.Length > limits.MaxHostnameLength)
        {
            return $"hostname is {batch.Hostname.Length} characters, limit {limits.MaxHostnameLength}";
        }
        if ((CheckKeyFields(batch.Epoch, batch.BootId, batch.RulesHash) ?? CheckNoNul(("hostname", batch.Hostname))) is string keyField)
        {
            return keyField;
        }
        if (batch.IntervalStartUnixMs < 0 || batch.IntervalEndUnixMs < batch.IntervalStartUnixMs)
        {
            return $"interval [{batch.IntervalStartUnixMs}, {batch.IntervalEndUnixMs}] ms is not a valid interval";
        }
        if (batch.Events.Count > limits.MaxEventsPerBatch)
        {
            return $"batch holds {batch.Events.Count} events, limit {limits.MaxEventsPerBatch}";
        }
        for (int i = 0; i < batch.Events.Count; i++)
        {
            var e = batch.Events[i];
            if (e.Records.Count == 0)
            {
                return $"event {i} (serial {e.Serial}) has no records";
            }
            if (e.Records.Count > limits.MaxRecordsPerEvent)
            {
                return $"event {i} (serial {e.Serial}) has {e.Records.Count} records, limit {limits.MaxRecordsPerEvent}";
            }
            if (e.TimeUnixMs <= 0)
            {
                return $"event {i} (serial {e.Serial}) has no time_unix_ms";
            }
            if (e.Timestamp.Length == 0)
            {
                return $"event {i} (serial {e.Serial}) has no timestamp";
            }
            if (Storage.ContextColumns.Check(e) is string context)
            {
                return $"event {i} (serial {e.Serial}) {context}";
            }
            for (int r = 0; r < e.Records.Count; r++)
            {
                var rec = e.Records[r];
                if (rec.Type == 0)
                {
                    return $"event {i} (serial {e.Serial}) record {r} has no type";
                }
                if (rec.Raw.Length == 0)
                {
                    return $"event {i} (serial {e.Serial}) record {r} has no raw text";
                }
                if (rec.Raw.Length > limits.MaxRecordBytes)
                {
                    return $"event {i} (serial {e.Serial}) record {r} is {rec.Raw.Length} bytes, limit {limits.MaxRecordBytes}";
                }
            }
        }
        return null;
    }

    /// <summary>Throws InvalidArgument naming the batch and the reason, if it is not acceptable.</summary>
    public void Ensure(EventBatch batch)
    {
        if (Check(batch) is string reason)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"batch {batch.Sequence} from agent '{Truncate(batch.AgentId)}' refused: {reason}; nothing of it was stored"));
        }
    }

    public void Ensure(AgentHeartbeat heartbeat)
    {
        string? reason = null;
        if (!IsValidAgentId(heartbeat.AgentId, limits.MaxAgentIdLength))
        {
            reason = heartbeat.AgentId.Length == 0 ? "agent_id is required" : $"agent_id '{Truncate(heartbeat.AgentId)}' is not valid";
        }
        else if (heartbeat.Hostname.Length == 0)
        {
            reason = "hostname is required";
        }
        else if (heartbeat.Hostname.Length > limits.MaxHostnameLength)
        {
            reason = $"hostname is {heartbeat.Hostname.Length} characters, limit {limits.MaxHostnameLength}";
        }
        else if (heartbeat.TimeUnixMs <= 0)
        {
            reason = "time_unix_ms is required";
        }
        else if (CheckKeyFields(heartbeat.Epoch, heartbeat.BootId, heartbeat.RulesHash) is string keyField)
        {
            reason = keyField;
        }
        else if (heartbeat.Version.Length > IngestLimits.MaxVersionLength)
        {
            reason = $"version is {heartbeat.Version.Length} characters, limit {IngestLimits.MaxVersionLength}";
        }
        else if (heartbeat.Mode.Length > IngestLimits.MaxModeLength)
        {
            reason = $"mode is {heartbeat.Mode.Length} characters, limit {IngestLimits.MaxModeLength}";
        }
        else if ((CheckPolicyHash("policy_hash", heartbeat.PolicyHash) ?? CheckPolicyHash("policy_refused_hash", heartbeat.PolicyRefusedHash)) is string policy)
        {
            reason = policy;
        }
        else if (CheckNoNul(("hostname", heartbeat.Hostname), ("version", heartbeat.Version), ("mode", heartbeat.Mode),
                     ("rules", string.Concat(heartbeat.Rules)), ("policy_refusal", heartbeat.PolicyRefusal)) is string nul)
        {
            reason = nul;
        }
        if (reason is not null)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"heartbeat refused: {reason}"));
        }
    }

    /// <summary>A policy hash is PolicyDigest's (64 lowercase hex digits), or empty.</summary>
    private static string? CheckPolicyHash(string field, string hash) =>
        hash.Length == 0 || (hash.Length == 64 && hash.All(char.IsAsciiHexDigitLower))
            ? null
            : $"{field} '{Truncate(hash)}' is not a policy hash (empty, or 64 lowercase hex digits)";

    /// <summary>The fields of batches and heartbeats that go into the store's unique constraints and indexes, bounded.</summary>
    private static string? CheckKeyFields(string epoch, string bootId, string rulesHash)
    {
        // Empty: an agent that predates epochs. Otherwise what the agent mints: 16 random bytes in lowercase hex.
        if (epoch.Length > 0 && (epoch.Length != 32 || !epoch.All(char.IsAsciiHexDigitLower)))
        {
            return $"epoch '{Truncate(epoch)}' is not valid (empty, or 32 lowercase hex digits)";
        }
        if (bootId.Length > IngestLimits.MaxBootIdLength)
        {
            return $"boot_id is {bootId.Length} characters, limit {IngestLimits.MaxBootIdLength}";
        }
        if (rulesHash.Length > IngestLimits.MaxRulesHashLength)
        {
            return $"rules_hash is {rulesHash.Length} characters, limit {IngestLimits.MaxRulesHashLength}";
        }
        return CheckNoNul(("boot_id", bootId), ("rules_hash", rulesHash));
    }

    /// <summary>These fields are stored as text, and PostgreSQL text cannot hold NUL: the store would refuse the batch on every try.</summary>
    private static string? CheckNoNul(params ReadOnlySpan<(string Field, string Value)> fields)
    {
        foreach (var (field, value) in fields)
        {
            if (value.Contains('\0'))
            {
                return $"{field} contains a NUL character";
            }
        }
        return null;
    }

    private static string Truncate(string s) => s.Length <= 64 ? s : s[..64] + "...";
}
