using System.Diagnostics;
using System.Globalization;
using Sluice.Agent.Spool;
using Sluice.Agent.Tests.Spool;

namespace Sluice.Agent.Tests.Shipping;

/// <summary>
/// A process writing to the spool is killed (SIGKILL) while it writes, twice; then the agent
/// restarts, writes more and ships: every batch the killed processes had committed is stored,
/// once, with its events, and the sequences have no gap.
/// </summary>
public sealed class AgentCrashTests
{
    private sealed record Committed(ulong Sequence, ulong FirstSerial, int Count);

    private static async Task<List<Committed>> RunWriterAndKillAsync(string spoolDir, ulong firstSerial, int killAfter)
    {
        string testAssembly = typeof(SpoolWriterProgram).Assembly.Location;
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[] { testAssembly, SpoolWriterProgram.Verb, spoolDir, firstSerial.ToString(CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var committed = new List<Committed>();
        while (committed.Count < killAfter)
        {
            string? line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            if (line is null)
            {
                Assert.Fail("writer exited early: " + await process.StandardError.ReadToEndAsync());
            }
            var parts = line!.Split(' ');
            committed.Add(new Committed(ulong.Parse(parts[1], CultureInfo.InvariantCulture), ulong.Parse(parts[2], CultureInfo.InvariantCulture), int.Parse(parts[3], CultureInfo.InvariantCulture)));
        }
        // The writer is in its loop, appending the next batch: SIGKILL lands during a write or an fsync.
        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        // Lines written before the kill but not read yet are commits too.
        string rest = await process.StandardOutput.ReadToEndAsync();
        foreach (string line in rest.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split(' ');
            if (parts.Length == 4)
            {
                committed.Add(new Committed(ulong.Parse(parts[1], CultureInfo.InvariantCulture), ulong.Parse(parts[2], CultureInfo.InvariantCulture), int.Parse(parts[3], CultureInfo.InvariantCulture)));
            }
        }
        return committed;
    }

    [Fact]
    public async Task Restart_AfterWriterKilledMidWrite_NoDuplicatesNoGapsEveryCommittedBatchStored()
    {
        await using var collector = await TestCollector.StartAsync();
        using var dir = new TempDirectory("sluice-crash");
        string spoolDir = Path.Combine(dir.Path, "spool");

        var committed = new List<Committed>();
        committed.AddRange(await RunWriterAndKillAsync(spoolDir, 1_000_000, killAfter: 25));
        committed.AddRange(await RunWriterAndKillAsync(spoolDir, 2_000_000, killAfter: 25));
        Assert.Equal(committed.Select(c => c.Sequence).Distinct().Count(), committed.Count);

        await using var harness = ShippingHarness.Create(collector, o => o.AttemptTimeout = TimeSpan.FromSeconds(20), configureSpool: s =>
        {
            s.Directory = spoolDir;
            s.MaxBytes = 1024L * 1024 * 1024;
            s.SegmentBytes = 4 * 1024 * 1024;
        }, dir: new TempDirectory("sluice-crash-agent"));
        var recovered = harness.Spool.Counters;
        Assert.True(recovered.RecoveredBatches >= committed.Count, $"recovered {recovered.RecoveredBatches} of {committed.Count} committed");
        for (int i = 0; i < 10; i++)
        {
            harness.Append(5);
        }
        harness.Start();
        await harness.WaitForEmptySpoolAsync();

        // No gaps: sequences 1..N, each stored once (the store is keyed by (agent, epoch, sequence), one epoch here).
        var stored = collector.Stored.Keys.Select(k => k.Sequence).Order().ToList();
        Assert.Equal(Enumerable.Range(1, stored.Count).Select(s => (ulong)s), stored);
        // The killed writers' spool kept its epoch through both kills and the reopen.
        Assert.Single(collector.Stored.Keys.Select(k => k.Epoch).Distinct());
        // Every committed batch is there with exactly its events.
        foreach (var c in committed)
        {
            var batch = collector.Batch(TestBatches.AgentId, c.Sequence);
            Assert.Equal(Enumerable.Range(0, c.Count).Select(i => c.FirstSerial + (ulong)i), batch.Events.Select(e => e.Serial));
        }
        // The batches written after the restart follow on, and no event is stored twice.
        Assert.Equal(harness.Appended.Keys.Order(), stored.TakeLast(10));
        var serials = collector.Stored.Values.SelectMany(b => b.Events).Select(e => e.Serial).ToList();
        Assert.Equal(serials.Count, serials.Distinct().Count());
        Assert.Equal(0, harness.Spool.Counters.DroppedBatches);
    }
}
