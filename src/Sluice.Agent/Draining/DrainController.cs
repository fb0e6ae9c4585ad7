using Microsoft.Extensions.Logging;
using Sluice.Agent.Configuration;
using Sluice.Agent.Monitoring;
using Sluice.Audit.Netlink;

namespace Sluice.Agent.Draining;

/// <summary>
/// Owns the event socket and the pipeline while the agent runs, and the drain state the loss
/// monitor adjusts: the interval (down to continuous reading) and the receive buffer.
/// </summary>
internal sealed partial class DrainController(AgentOptions options, AgentMetrics metrics, ILogger<DrainController> logger, TimeProvider time) : IDisposable
{
    private readonly Lock _gate = new();
    private AuditEventSocket? _socket;
    private IRecordPipeline? _pipeline;
    private long _lastDrainEnd;
    private double _rate;
    private double _peak;
    private double _truesize = options.Reservoir.RecordTruesizeBytes;
    private int _intervalMs = options.Drain.IntervalMs;

    public AuditEventSocket Socket => _socket ?? throw new InvalidOperationException("the event socket is not open");

    public bool IsRunning => _socket is not null;

    /// <summary>The drain interval in force.</summary>
    public int IntervalMs => Volatile.Read(ref _intervalMs);

    /// <summary>At the interval floor the drain job reads continuously instead of returning.</summary>
    public bool Continuous => IntervalMs <= options.Drain.MinIntervalMs;

    public double PeakRecordsPerSecond => Volatile.Read(ref _peak);

    public double TruesizeBytes => Volatile.Read(ref _truesize);

    /// <summary>Hands the controller an open socket and its pipeline (the agent service owns their lifetime).</summary>
    public void Attach(AuditEventSocket socket, IRecordPipeline pipeline)
    {
        _socket = socket;
        _pipeline = pipeline;
        _lastDrainEnd = time.GetTimestamp();
        metrics.IntervalMs = _intervalMs;
        metrics.ReceiveBufferBytes = socket.ReceiveBufferSize;
        metrics.TruesizeBytes = (int)_truesize;
    }

    /// <summary>One drain: reads until empty or <paramref name="cap"/> records, then ticks the pipeline.</summary>
    public DrainResult DrainOnce(int cap)
    {
        lock (_gate)
        {
            var socket = Socket;
            var pipeline = _pipeline!;
            uint queued = socket.GetMemoryInfo().QueuedBytes;
            var result = socket.Drain(ref pipeline, cap);
            pipeline.Tick();
            long now = time.GetTimestamp();
            double seconds = time.GetElapsedTime(_lastDrainEnd, now).TotalSeconds;
            _lastDrainEnd = now;
            metrics.AddRecords(result.Records);
            if (seconds > 0)
            {
                double rate = result.Records / seconds;
                _rate = _rate == 0 ? rate : 0.7 * _rate + 0.3 * rate;
                // The peak decays slowly so the reservoir stays sized for recent bursts.
                Volatile.Write(ref _peak, Math.Max(rate, _peak * Math.Pow(0.98, seconds)));
                metrics.RecordsPerSecond = (float)_rate;
                metrics.PeakRecordsPerSecond = (float)_peak;
            }
            // Drained to empty: what was queued per record is the kernel's real truesize.
            if (result.Empty && result.Records > 16 && queued > 0)
            {
                double measured = (double)queued / result.Records;
                if (measured is > 128 and < 65_536)
                {
                    Volatile.Write(ref _truesize, 0.8 * _truesize + 0.2 * measured);
                    metrics.TruesizeBytes = (int)_truesize;
                }
            }
            return result;
        }
    }

    /// <summary>Reads continuously until the interval leaves the floor or the token fires.</summary>
    public void DrainContinuously(CancellationToken token)
    {
        var floor = TimeSpan.FromMilliseconds(options.Drain.MinIntervalMs);
        while (!token.IsCancellationRequested && Continuous)
        {
            DrainOnce(options.Drain.BatchCap);
            Socket.WaitReadable(floor);
        }
    }

    /// <summary>Halves the interval, or with <paramref name="toFloor"/> goes straight to the floor (continuous reading).</summary>
    public bool SpeedUp(string reason, bool toFloor = false)
    {
        int old = IntervalMs;
        int next = toFloor ? options.Drain.MinIntervalMs : Math.Max(options.Drain.MinIntervalMs, old / 2);
        if (next == old)
        {
            return false;
        }
        Volatile.Write(ref _intervalMs, next);
        metrics.IntervalMs = next;
        metrics.Continuous = Continuous;
        Log.IntervalChanged(logger, old, next, reason);
        return true;
    }

    /// <summary>Doubles the interval, back up to the configured one.</summary>
    public bool Relax()
    {
        int old = IntervalMs;
        int next = Math.Min(options.Drain.IntervalMs, old * 2);
        if (next == old)
        {
            return false;
        }
        Volatile.Write(ref _intervalMs, next);
        metrics.IntervalMs = next;
        metrics.Continuous = Continuous;
        Log.IntervalChanged(logger, old, next, "calm");
        return true;
    }

    /// <summary>Grows the receive buffer to at least <paramref name="bytes"/> (capped); returns the granted size.</summary>
    public int GrowBuffer(int bytes, string reason)
    {
        var socket = Socket;
        int current = socket.ReceiveBufferSize;
        int wanted = Math.Min(options.Reservoir.MaxBufferBytes, bytes);
        // The kernel reports double the requested size (net/core/sock.c sock_setsockopt).
        if (wanted * 2 <= current)
        {
            return current;
        }
        int granted = socket.SetReceiveBuffer(wanted);
        metrics.ReceiveBufferBytes = granted;
        Log.BufferChanged(logger, current, granted, reason);
        return granted;
    }

    /// <summary>Final drain at shutdown, then completes every in-flight event.</summary>
    public void FinalDrain()
    {
        if (_socket is null)
        {
            return;
        }
        lock (_gate)
        {
            DrainResult r;
            int rounds = 0;
            do
            {
                r = DrainOnce(options.Drain.BatchCap);
            }
            while (!r.Empty && ++rounds < 100);
            _pipeline!.Flush();
        }
    }

    public PipelineLoss PipelineLoss => _pipeline?.Loss ?? default;

    public void Dispose()
    {
        lock (_gate)
        {
            _pipeline?.Dispose();
            _pipeline = null;
            _socket?.Dispose();
            _socket = null;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(30, LogLevel.Information, "Drain interval {Old} ms -> {New} ms ({Reason})")]
        public static partial void IntervalChanged(ILogger logger, int old, int @new, string reason);

        [LoggerMessage(31, LogLevel.Information, "Receive buffer {Old} -> {New} bytes ({Reason})")]
        public static partial void BufferChanged(ILogger logger, int old, int @new, string reason);
    }
}
