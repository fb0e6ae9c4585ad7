namespace Sluice.Agent.Monitoring;

/// <summary>One loss-monitor reading: the loss since the previous one, and levels now.</summary>
/// <param name="Loss">Deltas since the previous reading.</param>
/// <param name="SocketFill">Queued bytes as a fraction of the receive buffer, 0..1.</param>
internal readonly record struct LossReading(CaptureLoss Loss, double SocketFill, uint Backlog, uint BacklogLimit)
{
    /// <summary>Any sign that records were lost: the kinds that push the drain to the floor.</summary>
    public bool AnyLoss => Loss.KernelLost > 0 || Loss.SocketOverruns > 0 || Loss.Enobufs > 0 || Loss.SerialGaps > 0 || Loss.ReassemblyEvicted > 0;
}

/// <summary>What the monitor should do about a reading.</summary>
/// <param name="ToFloor">Records were lost: go straight to continuous reading rather than halving.</param>
internal readonly record struct BackpressureDecision(bool SpeedUp, bool ToFloor, bool GrowBuffer, bool GrowBacklog, bool Relax, string Reason);

/// <summary>
/// Pushes back before events are lost: a filling socket halves the drain interval, any loss
/// signal goes straight to continuous reading; both grow the reservoir; a kernel backlog that fills or overflows grows
/// backlog_limit; a run of calm readings relaxes the interval one step.
/// </summary>
internal sealed class BackpressurePolicy(double fillThreshold, int calmTicksToRelax)
{
    private int _calm;

    public BackpressureDecision Decide(LossReading r)
    {
        var l = r.Loss;
        var reasons = new List<string>();
        if (l.KernelLost > 0) reasons.Add($"kernel lost {l.KernelLost}");
        if (l.SocketOverruns > 0 || l.Enobufs > 0) reasons.Add($"socket dropped {l.SocketOverruns} ({l.Enobufs} ENOBUFS)");
        if (l.SerialGaps > 0) reasons.Add($"{l.SerialGaps} serials missing");
        if (l.ReassemblyEvicted > 0) reasons.Add($"{l.ReassemblyEvicted} events evicted");
        if (l.BacklogWaitTimeActual > 0) reasons.Add($"tasks waited {l.BacklogWaitTimeActual} jiffies");
        bool filling = r.SocketFill > fillThreshold;
        if (filling) reasons.Add($"socket {r.SocketFill:P0} full");
        bool backlogHigh = r.BacklogLimit > 0 && r.Backlog > r.BacklogLimit / 2;
        if (backlogHigh) reasons.Add($"backlog {r.Backlog}/{r.BacklogLimit}");

        if (reasons.Count == 0)
        {
            bool relax = ++_calm >= calmTicksToRelax;
            if (relax)
            {
                _calm = 0;
            }
            return new BackpressureDecision(false, false, false, false, relax, relax ? "calm" : "");
        }
        _calm = 0;
        return new BackpressureDecision(
            SpeedUp: true,
            ToFloor: r.AnyLoss,
            GrowBuffer: l.SocketOverruns > 0 || l.Enobufs > 0 || filling || l.SerialGaps > 0 || l.KernelLost > 0,
            GrowBacklog: l.KernelLost > 0 || backlogHigh || l.BacklogWaitTimeActual > 0,
            Relax: false,
            Reason: string.Join(", ", reasons));
    }
}
