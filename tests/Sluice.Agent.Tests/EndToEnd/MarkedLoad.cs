using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Sluice.Testing;

namespace Sluice.Agent.Tests.EndToEnd;

/// <summary>
/// A paced getppid loop (Native/syscall_burst.c) whose call i carries i as its first argument, so
/// every event says which call it came from: the generator's known set is 0..Count-1 for its pid.
/// </summary>
internal sealed partial class MarkedLoad : IDisposable
{
    private readonly Process _process;

    private MarkedLoad(int count, int rate)
    {
        Count = count;
        var psi = new ProcessStartInfo(NativeTools.Get("syscall_burst"), $"{count} {rate}") { RedirectStandardOutput = true };
        _process = Process.Start(psi)!;
        Pid = int.Parse(_process.StandardOutput.ReadLine()!, CultureInfo.InvariantCulture);
    }

    public int Count { get; }

    public int Pid { get; }

    /// <summary>The audit rule that records this load, under <paramref name="key"/>.</summary>
    public static string Rule(string key) => $"-a always,exit -F arch=b64 -S getppid -F key={key}\n";

    public static MarkedLoad Start(int count, int rate) => new(count, rate);

    /// <summary>Waits for the loop to finish; returns how long it took by its own clock.</summary>
    public double WaitDone(TimeSpan timeout)
    {
        Assert.True(_process.WaitForExit(timeout), "the load did not finish in time");
        string done = _process.StandardOutput.ReadToEnd().Trim();
        Assert.Equal(0, _process.ExitCode);
        var parts = done.Split(' ');
        Assert.Equal(["done", Count.ToString(CultureInfo.InvariantCulture)], parts[..2]);
        return double.Parse(parts[2], CultureInfo.InvariantCulture);
    }

    public bool HasExited => _process.HasExited;

    /// <summary>The marker (call index) of an exported event of this load, or null for any other event.</summary>
    public long? Marker(JsonElement e)
    {
        if (!e.TryGetProperty("pid", out var pid) || pid.GetInt32() != Pid || !e.TryGetProperty("records", out var records))
        {
            return null;
        }
        foreach (var r in records.EnumerateArray())
        {
            if (r.GetProperty("type").GetString() == "SYSCALL")
            {
                var m = A0().Match(r.GetProperty("raw").GetString()!);
                return m.Success ? long.Parse(m.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture) : null;
            }
        }
        return null;
    }

    [GeneratedRegex(" a0=([0-9a-f]+) ")]
    private static partial Regex A0();

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }
        _process.Dispose();
    }
}
