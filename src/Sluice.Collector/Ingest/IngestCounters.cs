namespace Sluice.Collector.Ingest;

/// <summary>What the ingest service accepted and refused since start; served at <c>/api/ingest</c>.</summary>
internal sealed class IngestCounters
{
    private long _batchesStored;
    private long _eventsStored;
    private long _duplicates;
    private long _heartbeats;
    private long _refusedUnauthenticated;
    private long _refusedPermission;
    private long _refusedInvalid;
    private long _refusedInvalidBatches;
    private long _refusedAlreadyExists;
    private long _storeFailures;
    private long _refusedByStore;
    // Refused at the front door (Hosting/IngestFrontDoor.cs), beside the unauthenticated ones.
    private long _refusedOverLimit;
    private long _waitedForSlot;
    private long _callerGone;
    private long _refusedTooLarge;
    private long _eventsInterpreted;
    private long _interpretationFailures;

    public long BatchesStored => Volatile.Read(ref _batchesStored);
    public long EventsStored => Volatile.Read(ref _eventsStored);
    public long Duplicates => Volatile.Read(ref _duplicates);
    public long Heartbeats => Volatile.Read(ref _heartbeats);
    public long RefusedUnauthenticated => Volatile.Read(ref _refusedUnauthenticated);
    public long RefusedPermission => Volatile.Read(ref _refusedPermission);
    public long RefusedInvalid => Volatile.Read(ref _refusedInvalid);

    /// <summary>Batches among <see cref="RefusedInvalid"/> (which counts heartbeats too): the metrics' <c>sluice_ingest_batches_total{result="invalid"}</c>.</summary>
    public long RefusedInvalidBatches => Volatile.Read(ref _refusedInvalidBatches);

    /// <summary>Batches refused with ALREADY_EXISTS: their key was stored already with other content.</summary>
    public long RefusedAlreadyExists => Volatile.Read(ref _refusedAlreadyExists);
    public long StoreFailures => Volatile.Read(ref _storeFailures);
    /// <summary>Calls refused with RESOURCE_EXHAUSTED because the collector had its limit of calls in flight.</summary>
    public long RefusedOverLimit => Volatile.Read(ref _refusedOverLimit);
    /// <summary>Calls that found the limit of calls in flight reached and waited for a slot (then handled, or refused over the limit).</summary>
    public long WaitedForSlot => Volatile.Read(ref _waitedForSlot);
    /// <summary>Calls whose caller went away (cancelled, deadline, connection closed) before the answer: nothing acknowledged.</summary>
    public long CallerGone => Volatile.Read(ref _callerGone);
    /// <summary>Calls refused with RESOURCE_EXHAUSTED because a message exceeded the size limit, compressed or decompressed.</summary>
    public long RefusedTooLarge => Volatile.Read(ref _refusedTooLarge);

    /// <summary>Batches the store refused permanently (answered INVALID_ARGUMENT; see <see cref="Storage.StoreErrors"/>).</summary>
    public long RefusedByStore => Volatile.Read(ref _refusedByStore);

    /// <summary>Events that came in the raw form and were interpreted here (resends included: a duplicate is recognised by the digest of its full form).</summary>
    public long EventsInterpreted => Volatile.Read(ref _eventsInterpreted);

    /// <summary>Raw-form events whose interpretation failed: stored with their records, without the interpreted fields.</summary>
    public long InterpretationFailures => Volatile.Read(ref _interpretationFailures);

    internal void Interpreted(int events) => Interlocked.Add(ref _eventsInterpreted, events);
    internal void InterpretationFailed() => Interlocked.Increment(ref _interpretationFailures);

    internal void Stored(int events)
    {
        Interlocked.Increment(ref _batchesStored);
        Interlocked.Add(ref _eventsStored, events);
    }

    internal void Duplicate() => Interlocked.Increment(ref _duplicates);
    internal void Heartbeat() => Interlocked.Increment(ref _heartbeats);
    internal void Unauthenticated() => Interlocked.Increment(ref _refusedUnauthenticated);
    internal void PermissionDenied() => Interlocked.Increment(ref _refusedPermission);
    internal void Invalid() => Interlocked.Increment(ref _refusedInvalid);
    internal void InvalidBatch() => Interlocked.Increment(ref _refusedInvalidBatches);
    internal void AlreadyExists() => Interlocked.Increment(ref _refusedAlreadyExists);
    internal void StoreFailure() => Interlocked.Increment(ref _storeFailures);
    internal void StoreRefused() => Interlocked.Increment(ref _refusedByStore);
    internal void OverLimit() => Interlocked.Increment(ref _refusedOverLimit);
    internal void Waited() => Interlocked.Increment(ref _waitedForSlot);
    internal void Gone() => Interlocked.Increment(ref _callerGone);
    internal void TooLarge() => Interlocked.Increment(ref _refusedTooLarge);

    private long _policiesSent;
    private long _policyRefusalsTruncated;

    /// <summary>Heartbeat replies that carried a policy (the agent had neither it in force nor refused it).</summary>
    public long PoliciesSent => Volatile.Read(ref _policiesSent);

    /// <summary>Heartbeats whose policy_refusal was longer than <see cref="IngestLimits.MaxPolicyRefusalLength"/> and stored cut.</summary>
    public long PolicyRefusalsTruncated => Volatile.Read(ref _policyRefusalsTruncated);

    internal void PolicySent() => Interlocked.Increment(ref _policiesSent);
    internal void PolicyRefusalTruncated() => Interlocked.Increment(ref _policyRefusalsTruncated);
}
