using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using Sluice.Collector.Storage;
using Sluice.Protocol.V1;

namespace Sluice.Benchmarks.Collector;

/// <summary>
/// <c>delivery-facts STORE BATCHES [HEARTBEATS]</c>: <see cref="IEventStore.GetDeliveryFactsAsync"/> for one agent
/// with BATCHES batches (default 1,000,000) and HEARTBEATS heartbeats (default BATCHES / 10), and for the whole store.
/// STORE is sqlite or postgres (a new store, deleted afterwards), or a location (sqlite:PATH, postgres:CONNSTRING) of
/// an empty store to fill and keep.
/// </summary>
/// <remarks>
/// The rows are written with one INSERT ... SELECT each (no events: the facts read batches, refusals and heartbeats
/// only). The agent's shape: two epochs (the second from the middle on, with the first one's last 3 batches
/// arriving after the second began, made before it), a sequence missing every 1000, a refusal every 5000 (some of
/// them filling a gap), a reboot at three quarters with spooled batches of the old boot arriving after it. Each
/// query runs 5 times after one warm-up; prints the median wall time and the facts.
/// </remarks>
internal static class DeliveryFactsMeasurement
{
    public static int Run(string[] args)
    {
        string kind = args.Length > 1 ? args[1] : "sqlite";
        long batches = args.Length > 2 ? long.Parse(args[2], CultureInfo.InvariantCulture) : 1_000_000;
        long heartbeats = args.Length > 3 ? long.Parse(args[3], CultureInfo.InvariantCulture) : batches / 10;
        return RunAsync(kind, batches, heartbeats).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(string kind, long batches, long heartbeats)
    {
        await using var stores = new CollectorStores();
        // A store location (sqlite:PATH, postgres:CONNSTRING) is filled and kept, to look at its plans afterwards.
        string location = kind.Contains(':', StringComparison.Ordinal) ? kind : await stores.LocationAsync(kind);
        kind = location[..location.IndexOf(':', StringComparison.Ordinal)];
        var watch = Stopwatch.StartNew();
        await using (var store = await StoreLocation.Parse(location).OpenAsync(mustExist: false, CancellationToken.None))
        {
            // The agent rows, through the store.
            foreach (string agent in new[] { "big", "small" })
            {
                await store.StoreHeartbeatAsync(new AgentHeartbeat
                {
                    AgentId = agent, Hostname = agent, BootId = "boot-0", Version = "1", Mode = "unicast", TimeUnixMs = 1,
                }, 1, CancellationToken.None);
            }
        }
        await using (var c = Connect(location))
        {
            await c.OpenAsync();
            await ExecAsync(c, Fill(batches, heartbeats));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{kind}: filled {batches:N0} batches, {heartbeats:N0} heartbeats in {watch.Elapsed.TotalSeconds:F1} s"));

        await using (var store = await StoreLocation.Parse(location).OpenAsync(mustExist: true, CancellationToken.None))
        {
            long mid = 1_764_028_800_000 + batches * 1000 / 2;
            foreach (var (name, query) in new (string, DeliveryQuery)[]
            {
                ("agent", new DeliveryQuery("big")),
                ("all agents", new DeliveryQuery()),
                ("agent, one day", new DeliveryQuery("big", mid, mid + 86_400_000)),
            })
            {
                var times = new List<double>();
                IReadOnlyList<DeliveryFacts> facts = [];
                for (int i = -1; i < 5; i++)
                {
                    var w = Stopwatch.StartNew();
                    facts = await store.GetDeliveryFactsAsync(query, CancellationToken.None);
                    if (i >= 0)
                    {
                        times.Add(w.Elapsed.TotalMilliseconds);
                    }
                }
                times.Sort();
                var f = facts.First(x => x.AgentId == "big");
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{kind} {name}: median {times[times.Count / 2]:F0} ms (min {times[0]:F0}, max {times[^1]:F0}); " +
                    $"epochs {f.Epochs}, missing {f.MissingSequences}, refused {f.RefusedBatches}, gaps listed {f.Gaps.Count}, interleaved epochs {f.InterleavedEpochs}, boot ids {f.InterleavedBootIds}"));
            }
        }
        return 0;
    }

    /// <summary>Rows for agent 'big' (and one batch of 'small'), in SQL both stores accept.</summary>
    private static string Fill(long batches, long heartbeats)
    {
        const long t0 = 1_764_028_800_000;
        long half = batches / 2, reboot = batches * 3 / 4;
        string loss = string.Join(", ", LossColumns.Names.Select(_ => "0"));
        // n = 1..batches: one batch a second. Epoch a for the first half (sequence n), epoch b after (sequence n - half).
        // Every 1000th sequence is missing. a's last 3 arrive after b's first, made before it. Boot 1 until the reboot,
        // boot 2 after; 5 batches of boot 1 arrive after the reboot's first heartbeat.
        return $"""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {batches})
            INSERT INTO batches ({string.Join(", ", BatchColumns.Names)})
            SELECT (SELECT id FROM agents WHERE agent_id = 'big'),
                   CASE WHEN i <= {half} THEN i ELSE i - {half} END, 'big',
                   CASE WHEN i <= {reboot} THEN 'boot-1' ELSE 'boot-2' END,
                   {t0} + i * 1000,
                   {t0} + i * 1000 - 1000, {t0} + i * 1000,
                   CASE WHEN i > {half} - 3 AND i <= {half} THEN {t0} + ({half} + 2) * 1000 + i
                        WHEN i > {reboot} - 5 AND i <= {reboot} THEN {t0} + ({reboot} + 1) * 1000 + 500 + i - {reboot}
                        ELSE {t0} + i * 1000 + 200 END,
                   0, '', {loss},
                   CASE WHEN i <= {half} THEN 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' ELSE 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb' END,
                   1, '', 0
            FROM n WHERE i % 1000 <> 0;
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {heartbeats})
            INSERT INTO heartbeats ({string.Join(", ", HeartbeatColumns.All)})
            SELECT (SELECT id FROM agents WHERE agent_id = 'big'), {t0} + i * {batches / Math.Max(heartbeats, 1)} * 1000 + 100,
                   {t0} + i * {batches / Math.Max(heartbeats, 1)} * 1000 + 100, {t0},
                   CASE WHEN i * {batches / Math.Max(heartbeats, 1)} <= {reboot} THEN 'boot-1' ELSE 'boot-2' END,
                   'big', '1', 'unicast', '', 0,
                   {string.Join(", ", HeartbeatColumns.KernelNames.Select(_ => "NULL"))}, {loss}, 0, 0, 0, 0, ''
            FROM n;
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {batches / 5000})
            INSERT INTO refusals (agent, epoch, sequence, status, reason, event_count, digest, first_ms, last_ms, count)
            SELECT (SELECT id FROM agents WHERE agent_id = 'big'), 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', i * 5000, 'InvalidArgument', 'x', 10, '',
                   {t0} + i * 5000 * 1000, {t0} + i * 5000 * 1000, 1
            FROM n WHERE i * 5000 <= {half};
            INSERT INTO batches ({string.Join(", ", BatchColumns.Names)})
            SELECT id, 1, 'small', 'boot-0', {t0}, {t0}, {t0}, {t0}, 0, '', {loss}, '', 1, '', 0 FROM agents WHERE agent_id = 'small';
            """;
    }

    private static DbConnection Connect(string location) => location.StartsWith("sqlite:", StringComparison.Ordinal)
        ? new Microsoft.Data.Sqlite.SqliteConnection("Data Source=" + location["sqlite:".Length..])
        : new Npgsql.NpgsqlConnection(location["postgres:".Length..]);

    private static async Task ExecAsync(DbConnection c, string sql)
    {
        await using var command = c.CreateCommand();
        command.CommandText = sql;
        command.CommandTimeout = 0;
        await command.ExecuteNonQueryAsync();
    }
}
