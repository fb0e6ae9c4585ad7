using System.Net;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Data.Sqlite;
using Npgsql;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using static Sluice.Collector.Tests.Support.CollectorHarness;

namespace Sluice.Collector.Tests.Adversarial;

/// <summary>
/// Issue case 2: a batch whose indexed text is longer than a PostgreSQL index entry may be, and a batch the store
/// refuses permanently, sent through the real gRPC collector to each store.
/// </summary>
public abstract class PoisonBatchTests : PerStoreTests
{
    private protected PoisonBatchTests(IStoreFactory stores) : base(stores)
    {
    }

    private const string Epoch = "0123456789abcdef0123456789abcdef";

    private static readonly long Now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <summary>
    /// <paramref name="size"/> bytes ending with "/<paramref name="name"/>": path components of random letters, digits and
    /// multi-byte characters, or (not UTF-8) of random bytes, NUL, 0xff and cut sequences among them. Random, so that
    /// PostgreSQL cannot compress an index entry of it below its limit, as it would a repeated pattern.
    /// </summary>
    private static byte[] Value(int size, bool utf8, string name)
    {
        var random = new Random(size * 31 + name.Length * 7 + (utf8 ? 1 : 0));
        string[] alphabet = [.. "abcdefghijklmnopqrstuvwxyz0123456789".Select(c => c.ToString()), "é", "€", "Ж", "😀"];
        byte[] end = Encoding.UTF8.GetBytes("/" + name);
        var bytes = new List<byte>(size) { (byte)'/' };
        while (bytes.Count < size - end.Length)
        {
            byte[] next = random.Next(12) == 0 ? [(byte)'/']
                : utf8 ? Encoding.UTF8.GetBytes(alphabet[random.Next(alphabet.Length)])
                : [(byte)(random.Next(255) is int b && b >= '/' ? b + 1 : b)];
            if (bytes.Count + next.Length > size - end.Length)
            {
                next = [(byte)'p'];
            }
            bytes.AddRange(next);
        }
        bytes.AddRange(end);
        Assert.Equal(size, bytes.Count);
        Assert.Equal(utf8, System.Text.Unicode.Utf8.IsValid(bytes.ToArray()));
        return [.. bytes];
    }

    /// <summary>The text the search columns hold of <paramref name="bytes"/>, whole: not UTF-8 and NUL become U+FFFD.</summary>
    private static string Text(byte[] bytes) => Encoding.UTF8.GetString(bytes).Replace('\0', '\uFFFD');

    /// <summary>An execve event with long exe, comm, cwd, key and PATH name; the PATH name's bytes are also in its PATH records, 8000 at a time.</summary>
    private static Event Poison(long serial, long unixMs, byte[] exe, byte[] comm, byte[] cwd, byte[] key, byte[] path)
    {
        var e = TestEvents.Exec(serial, unixMs, 1);
        e.Exe = ByteString.CopyFrom(exe);
        e.Comm = ByteString.CopyFrom(comm);
        e.Cwd = ByteString.CopyFrom(cwd);
        e.Key = ByteString.CopyFrom(key);
        e.Paths.Clear();
        e.Paths.Add(ByteString.CopyFrom(path));
        string head = $"audit({unixMs / 1000}.{unixMs % 1000:000}:{serial}): item=1 name=";
        for (int at = 0; at < path.Length; at += 8000)
        {
            e.Records.Add(new Sluice.Protocol.V1.Record { Type = 1302, Raw = ByteString.CopyFrom([.. Encoding.ASCII.GetBytes(head), .. path.AsSpan(at, Math.Min(8000, path.Length - at))]) });
        }
        return e;
    }

    private sealed record PoisonData(EventBatch Batch, byte[] Exe, byte[] DecoyExe, byte[] Key);

    /// <summary>
    /// Serial 1: the poison event. Serial 2, a millisecond newer: a decoy whose exe differs from the poison's only in
    /// its middle byte, so both have the same bounded column. Serial 3: an ordinary event.
    /// </summary>
    private static PoisonData Data(int size, bool utf8)
    {
        byte[] exe = Value(size, utf8, "poison");
        byte[] decoyExe = [.. exe];
        decoyExe[size / 2] = (byte)'Z';
        byte[] key = Value(size, utf8, "key");
        var batch = TestEvents.Batch(AgentA, 1, 0);
        batch.Epoch = Epoch;
        batch.Events.Add(Poison(1, Now - 60_000, exe, Value(size, utf8, "comm"), Value(size, utf8, "cwd"), key, Value(size, utf8, "path")));
        var decoy = Poison(2, Now - 59_999, decoyExe, [.. "decoy"u8], [.. "/tmp"u8], [.. "decoy"u8], [.. "/tmp/decoy"u8]);
        batch.Events.Add(decoy);
        batch.Events.Add(TestEvents.Exec(3, Now - 59_998, 0));
        return new PoisonData(batch, exe, decoyExe, key);
    }

    /// <summary>A collector over a new store with the bounds <c>serve</c> gives it.</summary>
    private async Task<CollectorHarness> StartAsync()
    {
        var (store, _) = await Stores.CreateAsync(EventTimeBounds.Default);
        return await CollectorHarness.StartAsync(store);
    }

    private static EventSearch Search(int limit = 100) => new() { FromUnixMs = Now - 3_600_000, ToUnixMs = Now + 3_600_000, Limit = limit };

    [Theory]
    [InlineData(3_000, true)]
    [InlineData(3_000, false)]
    [InlineData(20_000, true)]
    [InlineData(20_000, false)]
    [InlineData(100_000, true)]
    [InlineData(100_000, false)]
    public async Task Send_LongIndexedText_StoredWholeExportedExactlyAndFound(int size, bool utf8)
    {
        await using var h = await StartAsync();
        var data = Data(size, utf8);

        var ack = await h.Client().SendAsync(data.Batch, Bearer(TokenA));

        Assert.Equal((1ul, false, 3u), (ack.Sequence, ack.Duplicate, ack.EventsStored));
        var stats = (await h.Store.GetAgentStatsAsync(CancellationToken.None)).Single();
        Assert.Equal((1L, 3L, 0L), (stats.Batches, stats.Events, stats.TimeAdjustedEvents));
        Assert.Equal((1L, 3L, 0L, 0L), (h.Server.Counters.BatchesStored, h.Server.Counters.EventsStored, h.Server.Counters.StoreFailures, h.Server.Counters.RefusedByStore));

        // The exact copies, byte for byte, and the export of them.
        var stored = await StoreSnapshot.EventsAsync(h.Store);
        Assert.Equal([1ul, 2ul, 3ul], stored.Select(e => e.Event.Serial));
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(data.Batch.Events[i].ToByteArray(), stored[i].Event.ToByteArray());
        }
        Assert.Equal(3, (await StoreSnapshot.ExportLinesAsync(h.Store)).Length);

        // Whole path: the bounded column matches both, the exact check keeps only the one asked for.
        var byExe = await h.Store.SearchEventsAsync(Search() with { Exe = Text(data.Exe) }, CancellationToken.None);
        var byDecoyExe = await h.Store.SearchEventsAsync(Search() with { Exe = Text(data.DecoyExe) }, CancellationToken.None);
        Assert.Equal([1L], byExe.Events.Select(e => e.Serial));
        Assert.Equal([2L], byDecoyExe.Events.Select(e => e.Serial));
        // A page of one: the decoy (newer) comes first from the query and is dropped; the poison event fills the page.
        var page = await h.Store.SearchEventsAsync(Search(limit: 1) with { Exe = Text(data.Exe) }, CancellationToken.None);
        Assert.Equal([1L], page.Events.Select(e => e.Serial));
        Assert.Null(page.Next);
        // Program name, newest first; and key.
        var byName = await h.Store.SearchEventsAsync(Search() with { Exe = "poison" }, CancellationToken.None);
        Assert.Equal([2L, 1L], byName.Events.Select(e => e.Serial));
        var byKey = await h.Store.SearchEventsAsync(Search() with { Key = Text(data.Key) }, CancellationToken.None);
        Assert.Equal([1L], byKey.Events.Select(e => e.Serial));

        // The columns hold the bounded text: both ends, at most 1024 bytes.
        var hit = byKey.Events[0];
        Assert.Equal(IndexedText.Bound(Text(data.Exe)), hit.Exe);
        Assert.Equal(IndexedText.Bound(Text(data.Key)), hit.Key);
        Assert.InRange(Encoding.UTF8.GetByteCount(hit.Exe!), 1, IndexedText.MaxBytes);
        Assert.InRange(Encoding.UTF8.GetByteCount(hit.Comm!), 1, IndexedText.MaxBytes);
        Assert.EndsWith("/poison", hit.Exe);

        // The dashboard's search finds it by program name as well.
        using var http = new HttpClient { DefaultRequestVersion = HttpVersion.Version11, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var body = await http.GetStringAsync(new Uri(h.Server.Address, $"/api/events?from={(Now - 3_600_000) / 1000}&to={(Now + 3_600_000) / 1000}&exe=poison"));
        using var doc = JsonDocument.Parse(body);
        Assert.Equal([2L, 1L], doc.RootElement.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("serial").GetInt64()));
    }

    /// <summary>Passes every call to the real store, except that it fails the batches <paramref name="fail"/> picks with <paramref name="error"/>.</summary>
    private sealed class FailingStore(IEventStore inner, Func<EventBatch, bool> fail, Exception error) : DelegatingStore(inner)
    {
        public override Task<StoreOutcome> StoreBatchAsync(EventBatch batch, long receivedUnixMs, CancellationToken cancellationToken) =>
            fail(batch) ? Task.FromException<StoreOutcome>(error) : base.StoreBatchAsync(batch, receivedUnixMs, cancellationToken);
    }

    /// <summary>A real error of the store's engine that no retry gets past, provoked on the test's own store.</summary>
    private static async Task<Exception> PermanentErrorAsync(string spec)
    {
        await using var connection = await StoreQuery.OpenAsync(spec);
        await using var command = connection.CreateCommand();
        if (connection is NpgsqlConnection)
        {
            // An index entry larger than a btree allows: the error of issue case 2.
            command.CommandText = """
                CREATE TEMP TABLE poison (x text); CREATE INDEX ON poison (x);
                INSERT INTO poison SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 400);
                """;
            return await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
        }
        // A value longer than SQLite's length limit.
        command.CommandText = "SELECT zeroblob(2000000000)";
        return await Assert.ThrowsAsync<SqliteException>(() => command.ExecuteNonQueryAsync());
    }

    private static EventBatch Batch(string agent, ulong sequence, int events, long firstSerial)
    {
        var batch = TestEvents.Batch(agent, sequence, events, firstSerial, startUnixMs: Now - 600_000);
        batch.Epoch = Epoch;
        return batch;
    }

    [Fact]
    public async Task Send_BatchTheStoreRefusesPermanently_InvalidArgumentCountedRecordedAndOthersGoOn()
    {
        var (store, spec) = await Stores.CreateAsync(EventTimeBounds.Default);
        var error = await PermanentErrorAsync(spec);
        string reason = StoreErrors.Permanent(error)!;
        Assert.NotNull(reason);
        await using var h = await CollectorHarness.StartAsync(new FailingStore(store, b => b.AgentId == AgentA && b.Sequence == 2, error));
        var a = h.Client();
        var b = h.Client();

        var a1 = await a.SendAsync(Batch(AgentA, 1, 10, 1), Bearer(TokenA));
        var b1 = await b.SendAsync(Batch(AgentB, 1, 5, 1), Bearer(TokenB));
        var refused = await Assert.ThrowsAsync<RpcException>(() => a.SendAsync(Batch(AgentA, 2, 7, 11), Bearer(TokenA)).ResponseAsync);
        // The agent resends it (or another copy of it arrives): refused the same way, counted again, one row.
        var again = await Assert.ThrowsAsync<RpcException>(() => a.SendAsync(Batch(AgentA, 2, 7, 11), Bearer(TokenA)).ResponseAsync);
        var rest = await Task.WhenAll(
            a.SendAsync(Batch(AgentA, 3, 4, 18), Bearer(TokenA)).ResponseAsync,
            b.SendAsync(Batch(AgentB, 2, 6, 6), Bearer(TokenB)).ResponseAsync);

        Assert.Equal([10u, 5u, 4u, 6u], new[] { a1, b1, rest[0], rest[1] }.Select(x => x.EventsStored));
        Assert.All(new[] { refused, again }, e =>
        {
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
            Assert.Equal($"the store refused batch 2 permanently: {reason}; nothing of it was stored", e.Status.Detail);
        });
        Assert.StartsWith(Stores.Kind == StoreKind.Postgres ? "PostgreSQL 54000: index row" : "SQLite SQLITE_TOOBIG: ", reason);

        // Counted apart from validation refusals and from transient store failures.
        var c = h.Server.Counters;
        Assert.Equal((4L, 25L, 2L, 0L, 0L), (c.BatchesStored, c.EventsStored, c.RefusedByStore, c.StoreFailures, c.RefusedInvalid));
        using var http = new HttpClient { DefaultRequestVersion = HttpVersion.Version11, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using (var ingest = JsonDocument.Parse(await http.GetStringAsync(new Uri(h.Server.Address, "/api/ingest"))))
        {
            Assert.Equal(2, ingest.RootElement.GetProperty("refused_by_store").GetInt64());
            Assert.Equal(0, ingest.RootElement.GetProperty("store_failures").GetInt64());
        }

        // Recorded once per key, with how often it was refused.
        var rows = await StoreQuery.RowsAsync(spec,
            "SELECT a.agent_id, r.epoch, r.sequence, r.status, r.reason, r.event_count, r.count FROM refusals r JOIN agents a ON a.id = r.agent");
        var row = Assert.Single(rows);
        Assert.Equal(new string?[] { AgentA, Epoch, "2", "InvalidArgument", refused.Status.Detail, "7", "2" }, row);

        // Nothing of it stored; every other batch stored whole.
        var stats = await h.Store.GetAgentStatsAsync(CancellationToken.None);
        Assert.Equal([(AgentA, 2L, 14L), (AgentB, 2L, 11L)], stats.Select(s => (s.AgentId, s.Batches, s.Events)));
        var serials = (await StoreSnapshot.EventsAsync(h.Store, new EventQuery(AgentId: AgentA))).Select(e => e.Event.Serial).Order();
        Assert.Equal([.. Enumerable.Range(1, 10).Select(i => (ulong)i), .. Enumerable.Range(18, 4).Select(i => (ulong)i)], serials);
    }
}

public sealed class SqlitePoisonBatchTests() : PoisonBatchTests(new SqliteStoreFactory());

[Collection(PostgresCollection.Name)]
public sealed class PostgresPoisonBatchTests(PostgresFixture pg) : PoisonBatchTests(new PostgresStoreFactory(pg.Cluster));
