using System.Diagnostics;
using Npgsql;
using Sluice.Agent.Shipping;
using Sluice.Agent.Spool;
using Sluice.Agent.Tests.Spool;
using Sluice.Collector.Tests.Support;
using Xunit.Abstractions;

namespace Sluice.Agent.Tests.EndToEnd;

/// <summary>
/// Two real collector processes on one PostgreSQL; the shipper, with both URLs, ships under a steady
/// load of batches; the first collector is killed (SIGKILL) mid-load and started again later. Every
/// batch is stored exactly once, compared by (agent, epoch, sequence) and event counts, and both
/// collectors took batches.
/// </summary>
public sealed class FailoverEndToEndTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    private PostgresCluster? _postgres;
    private string _connectionString = "";

    public async Task InitializeAsync()
    {
        _postgres = await PostgresCluster.StartAsync();
        _connectionString = await _postgres.CreateDatabaseAsync();
    }

    public async Task DisposeAsync()
    {
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }

    [Fact]
    public async Task TwoCollectorsOnOnePostgres_FirstKilledUnderLoadAndRestarted_EveryBatchStoredOnce_BothTookBatches()
    {
        string store = "postgres:" + _connectionString;
        using var a = new CollectorProcess(store);
        using var b = new CollectorProcess(store);
        // One after the other: the first creates the schema.
        a.Start();
        b.Start();
        using var dir = new TempDirectory("sluice-failover-e2e");
        var options = new ShipperOptions
        {
            CollectorUrls = [a.Url, b.Url],
            Token = CollectorProcess.Token,
            AllowInsecureTransport = true,
            MaxInFlight = 4,
            AttemptTimeout = TimeSpan.FromSeconds(10),
            ConnectTimeout = TimeSpan.FromSeconds(2),
            RetryBaseDelay = TimeSpan.FromMilliseconds(100),
            RetryMaxDelay = TimeSpan.FromSeconds(1),
            BreakerBreakDuration = TimeSpan.FromSeconds(1),
            QuarantineDirectory = Path.Combine(dir.Path, "quarantine"),
        };
        using var spool = DiskSpool.Open(new SpoolOptions { Directory = Path.Combine(dir.Path, "spool"), MaxBytes = 256L * 1024 * 1024, SegmentBytes = 4 * 1024 * 1024 });
        using var shipper = new Shipper(spool, options);
        var heartbeats = new HeartbeatSender(new AgentIdentity(CollectorProcess.AgentId, "failover-host", "failover-boot"), spool, shipper, TimeSpan.FromSeconds(10));
        using var cts = new CancellationTokenSource();
        var run = shipper.RunAsync(cts.Token);

        // The load: a batch of 25 events about every 10 ms, until told to stop.
        var appended = new Dictionary<ulong, int>();
        bool stop = false;
        var load = Task.Run(async () =>
        {
            ulong serial = 1;
            while (!Volatile.Read(ref stop))
            {
                var batch = TestBatches.Create(serial, 25);
                batch.AgentId = CollectorProcess.AgentId;
                serial += 25;
                ulong sequence = spool.Append(batch);
                lock (appended)
                {
                    appended[sequence] = batch.Events.Count;
                }
                await Task.Delay(10);
            }
        });

        try
        {
            await WaitAsync(() => shipper.Status.Collectors[0].AckedBatches >= 150, "the first collector to take 150 batches", shipper, load);
            Assert.Equal(0, shipper.Status.Collectors[1].AckedBatches);

            a.Kill();
            long aBeforeKill = shipper.Status.Collectors[0].AckedBatches;
            await WaitAsync(() => shipper.Status.Collectors[1].AckedBatches >= 150, "the second collector to take 150 batches", shipper, load);
            Assert.Contains(shipper.Status.Collectors[0].State, new[] { "down", "probe due" });
            // The heartbeat goes to the collector that is up.
            Assert.NotNull(await heartbeats.SendAsync(new HeartbeatValues { Version = "test", StartedAt = DateTimeOffset.UtcNow, Mode = "unicast" }, CancellationToken.None));
            Assert.True(shipper.Status.Collectors[1].Heartbeats >= 1);

            a.Start();
            // Probed again after its backoff, the first collector is preferred again.
            await WaitAsync(() => shipper.Status.Collectors[0].AckedBatches >= aBeforeKill + 150, "the restarted collector to take 150 batches", shipper, load);
            Volatile.Write(ref stop, true);
            await load;
            await WaitAsync(() => spool.Counters.DepthBatches == 0, "an empty spool", shipper, load);

            var status = shipper.Status;
            Dictionary<ulong, int> sent;
            lock (appended)
            {
                sent = new(appended);
            }
            // One ack per batch, whichever collector gave it: nothing acknowledged was sent again.
            Assert.Equal(sent.Count, status.AckedBatches);
            Assert.Equal(sent.Count, status.Collectors.Sum(c => c.AckedBatches));
            Assert.Equal(sent.Values.Sum(), status.Collectors.Sum(c => c.AckedEvents));
            Assert.True(status.Collectors[0].AckedBatches > aBeforeKill && status.Collectors[1].AckedBatches > 0,
                $"acks: A {status.Collectors[0].AckedBatches} ({aBeforeKill} before the kill), B {status.Collectors[1].AckedBatches}");
            Assert.True(status.Collectors[0].Failures >= 1 && status.Retries >= 1, $"failures at A {status.Collectors[0].Failures}, retries {status.Retries}");
            Assert.Equal(("up", true), (status.Collectors[0].State, status.Collectors[0].Current));
            Assert.Equal(0, status.QuarantinedBatches);
            output.WriteLine($"{sent.Count} batches, {sent.Values.Sum()} events; retries {status.Retries}, duplicate acks {status.DuplicateAcks}");
            foreach (var c in status.Collectors)
            {
                output.WriteLine($"{c.Url}: {c.AckedBatches} batches acked ({c.DuplicateAcks} duplicate), {c.Failures} failed attempts, {c.Heartbeats} heartbeats, state {c.State}{(c.Current ? " (current)" : "")}, last error {c.LastError}");
            }
            output.WriteLine($"A acked {aBeforeKill} before the kill");

            // The store: every (agent, epoch, sequence) once, with its events, and nothing else.
            var rows = await StoredBatchesAsync();
            Assert.Equal(rows.Count, rows.Select(r => (r.Epoch, r.Sequence)).Distinct().Count());
            Assert.All(rows, r => Assert.Equal(spool.Counters.Epoch, r.Epoch));
            Assert.Equal(sent.Keys.Order(), rows.Select(r => r.Sequence).Order());
            Assert.All(rows, r => Assert.Equal(sent[r.Sequence], r.Events));
            var (events, serials, minSerial, maxSerial) = await StoredEventsAsync();
            long expected = sent.Values.Sum();
            Assert.Equal((expected, expected, 1L, expected), (events, serials, minSerial, maxSerial));
        }
        finally
        {
            Volatile.Write(ref stop, true);
            await cts.CancelAsync();
            await run.WaitAsync(Patience);
        }
    }

    private static async Task WaitAsync(Func<bool> condition, string what, Shipper shipper, Task load)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (load.IsFaulted)
            {
                await load;
            }
            if (sw.Elapsed > Patience)
            {
                throw new TimeoutException($"timed out waiting for {what}; shipper: {shipper.Status} collectors: {string.Join("; ", shipper.Status.Collectors)}");
            }
            await Task.Delay(20);
        }
    }

    private async Task<List<(string Epoch, ulong Sequence, int Events)>> StoredBatchesAsync()
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT b.epoch, b.sequence, b.event_count FROM batches b JOIN agents a ON a.id = b.agent WHERE a.agent_id = @agent", connection);
        command.Parameters.AddWithValue("agent", CollectorProcess.AgentId);
        var rows = new List<(string, ulong, int)>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetString(0), (ulong)reader.GetInt64(1), (int)reader.GetInt64(2)));
        }
        return rows;
    }

    private async Task<(long Events, long Serials, long Min, long Max)> StoredEventsAsync()
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT count(*), count(DISTINCT e.serial), min(e.serial), max(e.serial) FROM events e JOIN agents a ON a.id = e.agent WHERE a.agent_id = @agent", connection);
        command.Parameters.AddWithValue("agent", CollectorProcess.AgentId);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        return (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
    }
}
