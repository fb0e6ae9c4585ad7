using Grpc.Core;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Ingest;

/// <summary>Checks a batch or heartbeat before anything of it is stored.</summary>
public sealed class BatchValidator(IngestLimits limits, TimeProvider time)
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
        if (batch.IntervalStartUnixMs < 0 || batch.IntervalEndUnixMs < batch.IntervalStartUnixMs)
        {
            return $"interval [{batch.IntervalStartUnixMs}, {batch.IntervalEndUnixMs}] ms is not a valid interval";
        }
        if (batch.Events.Count > limits.MaxEventsPerBatch)
        {
            return $"batch holds {batch.Events.Count} events, limit {limits.MaxEventsPerBatch}";
        }
        long latest = time.GetUtcNow().ToUnixTimeMilliseconds() + (long)limits.MaxClockSkewAhead.TotalMilliseconds;
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
            if (e.TimeUnixMs > latest)
            {
                return $"event {i} (serial {e.Serial}) time_unix_ms {e.TimeUnixMs} is more than {limits.MaxClockSkewAhead.TotalHours:0} h ahead of the collector's clock";
            }
            if (e.Timestamp.Length == 0)
            {
                return $"event {i} (serial {e.Serial}) has no timestamp";
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
        if (reason is not null)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"heartbeat refused: {reason}"));
        }
    }

    private static string Truncate(string s) => s.Length <= 64 ? s : s[..64] + "...";
}
