using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Sluice.Testing;

namespace Sluice.Agent.Tests.EndToEnd;

/// <summary>
/// Issue 14: kernel → agent → spool → gRPC → the real sluice-collector → SQLite. The agent runs and
/// ships known execs, stops, loses its spool state, restarts, and ships more known execs: every one
/// of them is stored exactly once, nothing is acknowledged and then dropped. Before the spool had
/// an epoch, an agent whose spool was gone started again at sequence 1 and the collector answered
/// its new batches "duplicate": they were deleted and never stored.
/// </summary>
[Collection(KernelAuditFixture.Collection)]
public sealed class SpoolStateLossEndToEndTests : EndToEndTest
{
    private const int ExecsPerRun = 25;

    /// <summary>Runs /bin/true with a unique marker argument each, and waits for each to end.</summary>
    private static List<string> Exec(string nonce, string run)
    {
        var markers = new List<string>();
        for (int i = 0; i < ExecsPerRun; i++)
        {
            string marker = $"spool-reset-{nonce}-{run}-{i}";
            var psi = new ProcessStartInfo("/bin/true") { UseShellExecute = false };
            psi.ArgumentList.Add(marker);
            using var p = Process.Start(psi)!;
            p.WaitForExit();
            Assert.Equal(0, p.ExitCode);
            markers.Add(marker);
        }
        return markers;
    }

    /// <summary>The markers of the stored exec events of this test, one entry per stored event.</summary>
    private static List<string> StoredMarkers(IEnumerable<JsonElement> events, string key, string nonce) => events
        .Where(e => e.TryGetProperty("key", out var k) && k.GetString() == key)
        .Select(e => e.TryGetProperty("argv", out var argv) && argv.GetArrayLength() == 2 ? Encoding.UTF8.GetString(CollectorProcess.Bytes(argv[1])) : "")
        .Where(m => m.StartsWith($"spool-reset-{nonce}-", StringComparison.Ordinal))
        .ToList();

    /// <summary>Per epoch the agent's batches were stored under: (epoch, epoch start, lowest and highest sequence, batches).</summary>
    private List<(string Epoch, long Start, long First, long Last, long Batches)> Epochs()
    {
        using var db = new SqliteConnection($"Data Source={Collector.Store["sqlite:".Length..]};Mode=ReadOnly");
        db.Open();
        using var command = db.CreateCommand();
        command.CommandText = """
            SELECT b.epoch, MIN(b.epoch_start_sequence), MIN(b.sequence), MAX(b.sequence), COUNT(*)
            FROM batches b JOIN agents a ON a.id = b.agent
            WHERE a.agent_id = $agent GROUP BY b.epoch ORDER BY MIN(b.received_ms)
            """;
        command.Parameters.AddWithValue("$agent", CollectorProcess.AgentId);
        using var reader = command.ExecuteReader();
        var list = new List<(string, long, long, long, long)>();
        while (reader.Read())
        {
            list.Add((reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4)));
        }
        return list;
    }

    [Theory]
    [InlineData("spool.state")] // a damaged or deleted state file: the segments are still there
    [InlineData("spool")]       // a reinstall with purge: state and segments gone, the next batch is sequence 1
    public void SpoolStateLostBetweenRuns_EveryExecOfBothRunsStoredExactlyOnce(string lost)
    {
        Collector.Start();
        string key = TestRules.UniqueKey("reset");
        string nonce = Guid.NewGuid().ToString("N")[..8];
        string rule = $"-a always,exit -F arch=b64 -S execve -F key={key}\n";

        using var first = AgentRunner.Start(rule, dir => Collector.AgentConfig(dir));
        first.WaitReady();
        var firstMarkers = Exec(nonce, "first");
        Collector.WaitForExport(events => StoredMarkers(events, key, nonce).Count >= ExecsPerRun, TimeSpan.FromSeconds(60));
        first.WaitFor(m => m.Spool is { DepthBatches: 0 }, TimeSpan.FromSeconds(60), "the first run's spool to empty");
        Assert.Equal(0, first.Stop());
        string spoolDir = Path.Combine(first.Directory, "spool");
        var firstEpochs = Epochs();

        if (lost == "spool")
        {
            Directory.Delete(spoolDir, recursive: true);
        }
        else
        {
            File.Delete(Path.Combine(spoolDir, "spool.state"));
        }

        using var second = AgentRunner.StartIn(first.Directory);
        second.WaitReady();
        var secondMarkers = Exec(nonce, "second");
        var expected = firstMarkers.Concat(secondMarkers).Order(StringComparer.Ordinal).ToList();
        Collector.WaitForExport(events => StoredMarkers(events, key, nonce).Count >= expected.Count, TimeSpan.FromSeconds(60));
        second.WaitFor(m => m.Spool is { DepthBatches: 0 }, TimeSpan.FromSeconds(60), "the second run's spool to empty");
        var secondSpool = second.Metrics().Spool!.Value;
        Assert.Equal(0, second.Stop());

        // Every exec of both runs, exactly once.
        var stored = StoredMarkers(Collector.Export(), key, nonce).Order(StringComparer.Ordinal).ToList();
        Assert.True(expected.SequenceEqual(stored),
            $"expected {expected.Count} markers once each, stored {stored.Count}: missing [{string.Join(", ", expected.Except(stored))}], " +
            $"twice [{string.Join(", ", stored.GroupBy(m => m).Where(g => g.Count() > 1).Select(g => g.Key))}]\nfirst:\n{first.Output}\nsecond:\n{second.Output}");

        // The first run's batches carried an epoch from sequence 1; the restart's went out under a
        // new one, starting where its spool started again.
        Assert.Single(firstEpochs);
        Assert.Matches("^[0-9a-f]{32}$", firstEpochs[0].Epoch);
        Assert.Equal(1, firstEpochs[0].Start);
        var epochs = Epochs();
        Assert.Equal(2, epochs.Count);
        Assert.Equal(firstEpochs[0].Epoch, epochs[0].Epoch);
        Assert.Equal(secondSpool.Epoch, epochs[1].Epoch);
        if (lost == "spool")
        {
            // Purged: it started again at sequence 1, the keys the first run used, in its own epoch.
            Assert.Equal((1L, 1L), (epochs[1].Start, epochs[1].First));
            second.WaitForOutput($"new spool, epoch {secondSpool.Epoch} from sequence 1");
        }
        else
        {
            // The segments told it where to go on: right after the last batch they held, which it sent
            // again, as it was cut, under the first epoch.
            Assert.Equal(epochs[1].Start, epochs[1].First);
            Assert.True(epochs[1].Start == epochs[0].Last + 1, $"epochs: {string.Join("; ", epochs)}");
            second.WaitForOutput($"new epoch {secondSpool.Epoch} from sequence {epochs[1].Start} (the state file is missing)");
        }
        var loss = Collector.Stats().GetProperty("loss");
        Assert.Equal(0, loss.GetProperty("total_lost").GetInt64());
    }
}
