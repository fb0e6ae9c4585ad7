namespace Sluice.Agent.Monitoring;

/// <summary>One loss-monitor reading: deltas since the previous one, and levels now.</summary>
public readonly record struct LossReading(
    long KernelLost,
    long SocketDrops,
    long OverrunErrors,
    long SerialGaps,
    long Evicted,
    long WaitTimeActual,
    double SocketFill,
    uint Backlog,
    uint BacklogLimit)
{
    /// <summary>Any sign that records were lost or are about to be.</summary>
    public bool AnyLoss => KernelLost > 0 || SocketDrops > 0 || OverrunErrors > 0 || SerialGaps > 0 || Evicted > 0;
}

/// <summary>What the monitor should do about a reading.</summary>
/// <param name="ToFloor">Records were lost: go straight to continuous reading rather than halving.</param>
public readonly record struct BackpressureDecision(bool SpeedUp, bool ToFloor, bool GrowBuffer, bool GrowBacklog, bool Relax, string Reason);

/// <summary>
/// Pushes back before events are lost: a filling socket halves the drain interval, any loss
/// signal goes straight to continuous reading; both grow the reservoir; a kernel backlog that fills or overflows grows
/// backlog_limit; a run of calm readings relaxes the interval one step.
/// </summary>
public sealed class BackpressurePolicy(double fillThreshold, int calmTicksToRelax)
{
    private int _calm;

    public BackpressureDecision Decide(LossReading r)
    {
        var reasons = new List<string>();
        if (r.KernelLost > 0) reasons.Add($"kernel lost {r.KernelLost}");
        if (r.SocketDrops > 0 || r.OverrunErrors > 0) reasons.Add($"socket dropped {r.SocketDrops} ({r.OverrunErrors} ENOBUFS)");
        if (r.SerialGaps > 0) reasons.Add($"{r.SerialGaps} serials missing");
        if (r.Evicted > 0) reasons.Add($"{r.Evicted} events evicted");
        if (r.WaitTimeActual > 0) reasons.Add($"tasks waited {r.WaitTimeActual} jiffies");
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
            GrowBuffer: r.SocketDrops > 0 || r.OverrunErrors > 0 || filling || r.SerialGaps > 0 || r.KernelLost > 0,
            GrowBacklog: r.KernelLost > 0 || backlogHigh || r.WaitTimeActual > 0,
            Relax: false,
            Reason: string.Join(", ", reasons));
    }
}
