using System.Globalization;

namespace Sluice.Benchmarks.Harness;

/// <summary>The <see cref="BareReader"/> in its own process: the ceiling the others are measured against.</summary>
public sealed class BareReaderConsumer : IConsumer
{
    private ChildProcess? _process;
    private TrialContext? _trial;
    private long _events;
    private string? _final;

    public string Name => "bare reader";

    public IReadOnlyList<int> ConsumerPids => _process is null ? [] : [_process.Pid];

    public IReadOnlyList<int> CollectorPids => [];

    public void Start(TrialContext trial, CancellationToken cancel)
    {
        _trial = trial;
        _process = ChildProcess.StartSelf("bare reader", ["bare-reader", trial.Key], OnLine, redirectInput: true);
        ConsumerWait.Registered(trial.Control, _process, _process.Pid, TimeSpan.FromSeconds(60), cancel);
        trial.Control.AddRule(trial.Rule);
    }

    public long Delivered() => Interlocked.Read(ref _events);

    public string? Details() => null;

    public void Stop()
    {
        if (_trial is not null)
        {
            ConsumerWait.DeleteRule(_trial.Control, _trial.Rule);
        }
        if (_process is { HasExited: false })
        {
            _process.CloseInput();
            if (!_process.WaitForExit(TimeSpan.FromSeconds(30)))
            {
                _process.Stop(TimeSpan.FromSeconds(5));
            }
        }
        if (_trial is not null)
        {
            ConsumerWait.Unregistered(_trial.Control, TimeSpan.FromSeconds(10));
        }
    }

    /// <summary>The reader's socket counters after it stopped (overruns, drops).</summary>
    public string? Final => _final;

    private void OnLine(string line)
    {
        var parts = line.Split(' ');
        if (parts.Length >= 2 && parts[0] == "events" && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long n))
        {
            Interlocked.Exchange(ref _events, n);
        }
        else if (line.StartsWith("final ", StringComparison.Ordinal))
        {
            _final = line[6..];
        }
    }

    public void Dispose()
    {
        _process?.Dispose();
    }
}
