namespace Sluice.Agent.Spool;

/// <summary>
/// Where one entry of the spool is and what the index keeps of it: its segment offset, the
/// lengths of its header and payload, its event count, and <c>Carried</c>, the delivery loss its
/// batch reports (null for none, the usual case, to keep the index small).
/// </summary>
internal readonly record struct IndexEntry(ulong Sequence, long Offset, int HeaderLength, int PayloadLength, int EventCount, DeliveryLoss? Carried)
{
    public int Length => HeaderLength + PayloadLength;

    public DeliveryLoss CarriedLoss => Carried ?? DeliveryLoss.None;
}
