using System.Threading.Channels;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Sluice.Collector.Auth;
using Sluice.Collector.Policy;
using Sluice.Collector.Storage;
using Sluice.Protocol.Mapping;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Ingest;

/// <summary>The gRPC <c>sluice.v1.Ingest</c> service: authenticate, validate, store, acknowledge.</summary>
/// <remarks>
/// Order of checks for each batch: token (Unauthenticated), then the batch itself (InvalidArgument),
/// then that it belongs to the token's agent (PermissionDenied). Nothing of a refused batch is stored.
/// A store failure is returned as Unavailable: the agent keeps the batch and retries, and the
/// (agent_id, epoch, sequence) constraint makes the retry safe. A key taken by other content is
/// AlreadyExists. A store error that the batch would meet on every retry (<see cref="StoreErrors"/>) is
/// returned as InvalidArgument. InvalidArgument and AlreadyExists refusals of the token's own agent are
/// counted and recorded in the store (<see cref="IEventStore.RecordRefusalAsync"/>), so their events count as loss.
/// A stored batch (or a resend of one) is handed to the event stream (<see cref="Streaming.IStreamOutlet"/>) before it is acknowledged.
/// </remarks>
internal sealed class IngestService(
    IEventStore store,
    AgentAuthenticator authenticator,
    BatchValidator validator,
    IngestCounters counters,
    TimeProvider time,
    LogThrottle conflictLog,
    ILogger<IngestService> logger,
    Hosting.RefusalLog refusals,
    Policy.PolicyCache policies,
    Streaming.IStreamOutlet stream,
    Hosting.IngestPacer pacer) : Sluice.Protocol.V1.Ingest.IngestBase
{

    /// <summary>Batches of one stream being stored at once; the stream stops reading beyond this.</summary>
    internal const int StreamWindow = 16;

    public override async Task<Ack> Send(EventBatch request, ServerCallContext context)
    {
        string? agent = Authenticate(context, "Send");
        try
        {
            await CheckAsync(agent, request, context);
            var ack = await StoreAsync(request, context);
            // Unary calls only: they are what waits at the front door; a stream holds its slot until it ends.
            ack.NextSendAfterMs = pacer.NextSendAfterMs();
            return ack;
        }
        catch (Exception e) when (CallerWentAway(e, context))
        {
            throw Gone("Send", request.AgentId);
        }
    }

    /// <summary>
    /// The caller gave up (its deadline, a cancel, the connection closed) while the call was running: not an error of
    /// the collector. Left to gRPC, each such call was logged as an error with a stack trace (thousands under a fleet
    /// that times out); it is counted (<c>caller_gone</c>) and written as one line instead.
    /// </summary>
    private static bool CallerWentAway(Exception e, ServerCallContext context) =>
        context.CancellationToken.IsCancellationRequested && e is OperationCanceledException or IOException;

    private RpcException Gone(string call, string agentId)
    {
        counters.Gone();
        IngestLog.CallerGone(logger, call, agentId);
        return new RpcException(new Status(StatusCode.Cancelled, "the caller went away before the answer"));
    }

    public override async Task SendStream(IAsyncStreamReader<EventBatch> requestStream, IServerStreamWriter<Ack> responseStream, ServerCallContext context)
    {
        string? agent = Authenticate(context, "SendStream");
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        // Wait when full: the stream stops reading, and HTTP/2 flow control pushes back on the agent.
        var pending = Channel.CreateBounded<Task<Ack>>(new BoundedChannelOptions(StreamWindow)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
            SingleWriter = true,
        });
        var acks = WriteAcksAsync(pending.Reader, responseStream, cts);
        RpcException? refusal = null;
        try
        {
            while (await requestStream.MoveNext(cts.Token))
            {
                var batch = requestStream.Current;
                try
                {
                    await CheckAsync(agent, batch, context);
                }
                catch (RpcException e)
                {
                    // The batches before it are stored and acknowledged; the stream ends with the reason.
                    refusal = e;
                    break;
                }
                await pending.Writer.WriteAsync(StoreAsync(batch, context, cts.Token), cts.Token);
            }
        }
        catch (OperationCanceledException) when (acks.IsFaulted)
        {
        }
        finally
        {
            pending.Writer.TryComplete();
        }
        await acks;
        if (refusal is not null)
        {
            throw refusal;
        }
    }

    private static async Task WriteAcksAsync(ChannelReader<Task<Ack>> pending, IServerStreamWriter<Ack> responses, CancellationTokenSource cts)
    {
        try
        {
            await foreach (var ack in pending.ReadAllAsync(CancellationToken.None))
            {
                await responses.WriteAsync(await ack);
            }
        }
        catch
        {
            await cts.CancelAsync();
            throw;
        }
    }

    public override async Task<HeartbeatReply> Heartbeat(AgentHeartbeat request, ServerCallContext context)
    {
        string? agent = Authenticate(context, "Heartbeat");
        try
        {
            validator.Ensure(request);
            AgentAuthenticator.CheckAgent(agent, request.AgentId, "heartbeat");
        }
        catch (RpcException e)
        {
            Refuse(e, "Heartbeat", context);
            throw;
        }
        long now = time.GetUtcNow().ToUnixTimeMilliseconds();
        string group = authenticator.GroupOf(agent);
        BoundRefusal(request);
        try
        {
            await store.StoreHeartbeatAsync(request, now, group, context.CancellationToken);
        }
        catch (Exception e) when (CallerWentAway(e, context))
        {
            throw Gone("Heartbeat", request.AgentId);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            counters.StoreFailure();
            IngestLog.HeartbeatFailed(logger, e, request.AgentId);
            throw new RpcException(new Status(StatusCode.Unavailable, "the collector's store failed to record the heartbeat; retry later"));
        }
        counters.Heartbeat();
        LogRefusal(request, group);
        var reply = new HeartbeatReply { ServerTimeUnixMs = now, Group = group == Auth.AgentTokens.DefaultGroup ? "" : group };
        if (await policies.GetAsync(group, context.CancellationToken) is { } policy)
        {
            reply.PolicyHash = policy.Hash;
            // Only when the agent has neither this policy in force nor refused it: otherwise the reply stays small.
            if (policy.Hash != request.PolicyHash && policy.Hash != request.PolicyRefusedHash)
            {
                reply.Policy = new Sluice.Protocol.V1.Policy
                {
                    Hash = policy.Hash,
                    Group = reply.Group,
                    Rules = policy.Rules,
                    Filters = policy.Filters,
                    SetUnixMs = policy.SetUnixMs,
                };
                counters.PolicySent();
            }
        }
        return reply;
    }

    /// <summary>A refusal longer than <see cref="IngestLimits.MaxPolicyRefusalLength"/> is stored cut, marked, counted and logged.</summary>
    private void BoundRefusal(AgentHeartbeat heartbeat)
    {
        int length = heartbeat.PolicyRefusal.Length;
        if (length <= IngestLimits.MaxPolicyRefusalLength)
        {
            return;
        }
        string marker = $" ... (cut by the collector: {length} characters)";
        int keep = IngestLimits.MaxPolicyRefusalLength - marker.Length;
        // Never split a surrogate pair.
        if (char.IsHighSurrogate(heartbeat.PolicyRefusal[keep - 1]))
        {
            keep--;
        }
        heartbeat.PolicyRefusal = heartbeat.PolicyRefusal[..keep] + marker;
        counters.PolicyRefusalTruncated();
        PolicyLog.RefusalTruncated(logger, heartbeat.AgentId, length, IngestLimits.MaxPolicyRefusalLength);
    }

    /// <summary>Logs an agent's refusal of a policy once per refused hash.</summary>
    private void LogRefusal(AgentHeartbeat heartbeat, string group)
    {
        string refused = heartbeat.PolicyRefusedHash;
        if (!policies.FirstReportOfRefusal(heartbeat.AgentId, refused))
        {
            return;
        }
        PolicyLog.Refused(logger, heartbeat.AgentId, group, Policy.PolicyStatus.Short(refused),
            heartbeat.PolicyHash.Length == 0 ? "local files" : Policy.PolicyStatus.Short(heartbeat.PolicyHash), heartbeat.PolicyRefusal);
    }

    private string? Authenticate(ServerCallContext context, string call)
    {
        try
        {
            return authenticator.Authenticate(context);
        }
        catch (RpcException e)
        {
            Refuse(e, call, context);
            throw;
        }
    }

    private async Task CheckAsync(string? agent, EventBatch batch, ServerCallContext context)
    {
        try
        {
            validator.Ensure(batch);
            AgentAuthenticator.CheckAgent(agent, batch.AgentId, $"batch {batch.Sequence}");
        }
        catch (RpcException e)
        {
            Refuse(e, "batch", context);
            if (e.StatusCode == StatusCode.InvalidArgument)
            {
                counters.InvalidBatch();
            }
            // Only the token's own agent: a refusal recorded for any agent_id would let one token fill others' rows.
            if (e.StatusCode == StatusCode.InvalidArgument && agent is not null && agent == batch.AgentId)
            {
                await RecordRefusalAsync(batch, e.Status, BatchDigest.Of(batch), context.CancellationToken);
            }
            throw;
        }
    }

    /// <summary>ALREADY_EXISTS for a batch whose key the store holds with other content: counted, logged (throttled), recorded.</summary>
    private async Task<RpcException> ConflictAsync(EventBatch batch, string storedDigest, CancellationToken cancellationToken)
    {
        counters.AlreadyExists();
        string digest = BatchDigest.Of(batch);
        string epoch = batch.Epoch.Length <= 64 ? batch.Epoch : batch.Epoch[..64] + "...";
        if (conflictLog.TryEnter(batch.AgentId, out long suppressed))
        {
            IngestLog.Conflict(logger, batch.AgentId, epoch, batch.Sequence, storedDigest, digest, suppressed);
        }
        var status = new Status(StatusCode.AlreadyExists,
            $"batch {batch.Sequence} of epoch '{epoch}' from agent '{batch.AgentId}' refused: its key is stored already with other content " +
            $"(stored digest {storedDigest}, this batch's digest {digest}); nothing of it was stored. Set it aside and start a new epoch");
        await RecordRefusalAsync(batch, status, digest, cancellationToken);
        return new RpcException(status);
    }

    private BatchRefusal Refusal(EventBatch batch, StatusCode code, string reason, string digest) =>
        new(batch.AgentId, batch.Hostname, batch.BootId, batch.Epoch, batch.Sequence, code.ToString(), reason,
            batch.Events.Count, digest, time.GetUtcNow().ToUnixTimeMilliseconds());

    /// <summary>Records a refusal in the store. A failure is logged and counted, and never changes what the agent is answered.</summary>
    private async Task RecordRefusalAsync(EventBatch batch, Status status, string digest, CancellationToken cancellationToken)
    {
        try
        {
            await store.RecordRefusalAsync(Refusal(batch, status.StatusCode, status.Detail, digest), cancellationToken);
        }
        catch (Exception e)
        {
            if (e is not OperationCanceledException)
            {
                counters.StoreFailure();
                IngestLog.RefusalNotRecorded(logger, e, status.StatusCode, batch.Sequence, batch.AgentId);
            }
        }
    }

    private void Refuse(RpcException e, string call, ServerCallContext context)
    {
        switch (e.StatusCode)
        {
            case StatusCode.Unauthenticated: counters.Unauthenticated(); break;
            case StatusCode.PermissionDenied: counters.PermissionDenied(); break;
            default: counters.Invalid(); break;
        }
        refusals.Refused(context, call, e.StatusCode, e.Status.Detail);
    }

    private async Task<Ack> StoreAsync(EventBatch batch, ServerCallContext context, CancellationToken? token = null)
    {
        var cancellationToken = token ?? context.CancellationToken;
        Interpret(batch);
        StoreOutcome outcome;
        try
        {
            outcome = await store.StoreBatchAsync(batch, time.GetUtcNow().ToUnixTimeMilliseconds(), cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            if (StoreErrors.Permanent(e) is string reason && await RefusedByStoreAsync(batch, reason, e, cancellationToken) is RpcException refused)
            {
                throw refused;
            }
            counters.StoreFailure();
            IngestLog.StoreFailed(logger, e, batch.Sequence, batch.AgentId);
            throw new RpcException(new Status(StatusCode.Unavailable, $"the collector's store failed to record batch {batch.Sequence}; retry later"));
        }
        if (outcome.Conflict)
        {
            throw await ConflictAsync(batch, outcome.ConflictingDigest!, cancellationToken);
        }
        if (outcome.Duplicate)
        {
            counters.Duplicate();
            IngestLog.Duplicate(logger, batch.Sequence, batch.AgentId);
        }
        else
        {
            counters.Stored(outcome.EventsStored);
        }
        // After the store, never before: the stream carries only what the store holds. A duplicate goes out again too:
        // its first attempt may have been stored and then lost before it was published, and the stream's duplicate
        // window drops it if not (same message ids). Waits a bounded time at most; never fails the call.
        await stream.OfferAsync(batch, cancellationToken);
        return new Ack { Sequence = batch.Sequence, Duplicate = outcome.Duplicate, EventsStored = (uint)outcome.EventsStored };
    }

    /// <summary>
    /// Raw-form events (<c>raw_only</c>) become the full form here, interpreted from their records by the
    /// code an agent would have run, before anything is stored or digested: a resend interprets the same
    /// way, so its digest matches. An interpretation that throws costs the event its fields, never its
    /// records: it is stored, counted and logged.
    /// </summary>
    private void Interpret(EventBatch batch)
    {
        var events = batch.Events;
        int interpreted = 0;
        for (int i = 0; i < events.Count; i++)
        {
            Event e = events[i];
            if (!e.RawOnly)
            {
                continue;
            }
            try
            {
                events[i] = AuditEventMapper.Expand(e);
                interpreted++;
            }
            catch (Exception error) when (error is not OutOfMemoryException)
            {
                events[i] = AuditEventMapper.Expand(e, interpret: false);
                counters.InterpretationFailed();
                IngestLog.InterpretationFailed(logger, error, e.Serial, batch.Sequence, batch.AgentId);
            }
        }
        // Once per batch: most batches are all raw, and the counter is shared by every call.
        if (interpreted > 0)
        {
            counters.Interpreted(interpreted);
        }
    }

    /// <summary>
    /// A batch the store can never take: recorded as a refusal, counted, logged, and answered InvalidArgument (the
    /// agent sets it aside and counts it as loss). Null, to answer Unavailable, when the refusal could not be recorded
    /// for a reason that may pass: the resend meets the same error and is recorded then.
    /// </summary>
    private async Task<RpcException?> RefusedByStoreAsync(EventBatch batch, string reason, Exception error, CancellationToken ct)
    {
        string detail = $"the store refused batch {batch.Sequence} permanently: {reason}; nothing of it was stored";
        try
        {
            await store.RecordRefusalAsync(Refusal(batch, StatusCode.InvalidArgument, detail, BatchDigest.Of(batch)), ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            IngestLog.RefusalNotRecorded(logger, e, StatusCode.InvalidArgument, batch.Sequence, batch.AgentId);
            if (StoreErrors.Permanent(e) is null)
            {
                return null;
            }
        }
        counters.StoreRefused();
        IngestLog.StoreRefused(logger, error, batch.Sequence, batch.AgentId, reason);
        return new RpcException(new Status(StatusCode.InvalidArgument, detail));
    }
}
