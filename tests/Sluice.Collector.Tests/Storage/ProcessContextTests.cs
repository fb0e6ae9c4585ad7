using System.Buffers;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Sluice.Collector.Export;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.Json;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Tests.Storage;

/// <summary>Process contexts an agent's table gives events, as the tests send them (the agent side is not needed).</summary>
internal static class Contexts
{
    public const string DockerId = "3f4e1c9a2b7d8e6f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7";
    public const string PodmanId = "3f4e1c9a2b7dffff0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7";

    public static ByteString B(string s) => ByteString.CopyFromUtf8(s);

    /// <summary>sshd → bash → (this process), in a docker container, in ssh.service.</summary>
    public static ProcessContext Ssh(string containerId = DockerId, string runtime = "docker", string unit = "ssh.service") => new()
    {
        ParentState = ContextState.Known,
        Parent = new ProcessRef
        {
            Pid = 2100, Exe = B("/usr/bin/bash"), ExecSerial = 880, StartUnixMs = TestEvents.BaseUnixMs - 60_000,
            Source = ProcessSource.Exec, Cwd = B("/root"), Uid = 0, Auid = 1000, Argv = { B("-bash") },
        },
        Ancestry =
        {
            new Ancestor { Pid = 2100, Exe = B("/usr/bin/bash"), ExecSerial = 880 },
            new Ancestor { Pid = 2000, Exe = B("/usr/sbin/sshd"), ExecSerial = 12 },
            new Ancestor { Pid = 1, Exe = B("/usr/lib/systemd/systemd") },
        },
        ContainerState = ContextState.Known,
        Container = new Container { Id = containerId, Runtime = runtime },
        UnitState = ContextState.Known,
        Unit = unit,
        Cgroup = B($"/system.slice/docker-{containerId}.scope"),
        ExecSerial = 901,
    };

    /// <summary>A parent the table never saw: every field unknown.</summary>
    public static ProcessContext Unknown() => new()
    {
        ParentState = ContextState.Unknown,
        ContainerState = ContextState.Unknown,
        UnitState = ContextState.Unknown,
    };

    /// <summary>cron → sh, the chain stopping at an unknown pid, on the host (known: no container), inherited cgroup.</summary>
    public static ProcessContext CronPartial() => new()
    {
        ParentState = ContextState.Known,
        Parent = new ProcessRef { Pid = 3300, Exe = B("/bin/sh"), Source = ProcessSource.Fork, Exited = true },
        Ancestry =
        {
            new Ancestor { Pid = 3300, Exe = B("/bin/sh") },
            new Ancestor { Pid = 3200, Exe = B("/usr/sbin/cron"), ExecSerial = 5 },
            new Ancestor { Pid = 3100, Unknown = true },
        },
        ContainerState = ContextState.Known,
        UnitState = ContextState.Known,
        Unit = "cron.service",
        CgroupInherited = true,
    };

    /// <summary><paramref name="e"/> with <paramref name="context"/>.</summary>
    public static Event With(this Event e, ProcessContext? context)
    {
        e.Context = context;
        return e;
    }

    /// <summary>The replay JSON the agent's writer gives for <paramref name="e"/>, as an element.</summary>
    public static JsonElement ReplayJson(Event e)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            EventJsonWriter.Write(w, e);
        }
        return JsonDocument.Parse(buffer.WrittenMemory).RootElement.Clone();
    }
}

/// <summary>
/// Schema 9 on each store: the context kept whole and its searchable columns, exported exactly, part of the digest,
/// found by parent exe, container and unit, bounded against a token holder's forgeries.
/// </summary>
public abstract class ProcessContextTests : PerStoreTests
{
    private protected ProcessContextTests(IStoreFactory stores) : base(stores)
    {
    }

    /// <summary>Five execs: sshd→bash in docker, an unknown parent, cron's partial chain, one without context, one in podman.</summary>
    private static EventBatch Batch(ulong sequence = 1)
    {
        var batch = TestEvents.Batch("ctx", sequence, 5);
        batch.Events[0].With(Contexts.Ssh());
        batch.Events[1].With(Contexts.Unknown());
        batch.Events[2].With(Contexts.CronPartial());
        batch.Events[4].With(Contexts.Ssh(Contexts.PodmanId, "podman", "session-3.scope"));
        return batch;
    }

    [Fact]
    public async Task StoreBatchAsync_EventsWithContext_ColumnsHoldWhatTheAgentKnewAndTheContextWhole()
    {
        var (store, spec) = await Stores.CreateAsync();
        await using var _ = store;
        var batch = Batch();

        await store.StoreBatchAsync(batch, TestEvents.BaseUnixMs, CancellationToken.None);

        var rows = await StoreQuery.RowsAsync(spec,
            "SELECT parent_exe, parent_pid, container_id, container_runtime, unit, parent_chain FROM events ORDER BY ordinal");
        Assert.Equal(new string?[] { "/usr/bin/bash", "2100", Contexts.DockerId, "docker", "ssh.service",
            "/usr/lib/systemd/systemd \u2192 /usr/sbin/sshd \u2192 /usr/bin/bash" }, rows[0]);
        // Unknown is not guessed: the chain says so, the columns are NULL.
        Assert.Equal(new string?[] { null, null, null, null, null, "unknown" }, rows[1]);
        // Known to be on the host: no container; the chain stops at the unknown pid.
        Assert.Equal(new string?[] { "/bin/sh", "3300", null, null, "cron.service", "unknown \u2192 /usr/sbin/cron \u2192 /bin/sh" }, rows[2]);
        Assert.Equal(new string?[] { null, null, null, null, null, null }, rows[3]);
        Assert.Equal(new string?[] { Contexts.PodmanId, "podman", "session-3.scope" }, rows[4][2..5]);
        // The context column is the ProcessContext's bytes, NULL without one.
        await using var c = await StoreQuery.OpenAsync(spec);
        await using var command = c.CreateCommand();
        command.CommandText = "SELECT context FROM events ORDER BY ordinal";
        await using var r = await command.ExecuteReaderAsync();
        for (int i = 0; await r.ReadAsync(); i++)
        {
            if (batch.Events[i].Context is null)
            {
                Assert.True(r.IsDBNull(0));
            }
            else
            {
                Assert.Equal(batch.Events[i].Context.ToByteArray(), r.GetFieldValue<byte[]>(0));
                Assert.Equal(batch.Events[i].Context, ContextColumns.Decode(r.GetFieldValue<byte[]>(0)));
            }
        }
    }

    [Fact]
    public async Task Export_StoredContext_PrintsTheSameContextJsonAsTheAgentsWriter()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var _s = store;
        var batch = Batch();
        await store.StoreBatchAsync(batch, TestEvents.BaseUnixMs, CancellationToken.None);

        using var output = new MemoryStream();
        await EventExporter.ExportAsync(store, new EventQuery(), output, CancellationToken.None);

        var lines = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(batch.Events.Count, lines.Length);
        for (int i = 0; i < lines.Length; i++)
        {
            using var exported = JsonDocument.Parse(lines[i]);
            var expected = Contexts.ReplayJson(batch.Events[i]);
            if (batch.Events[i].Context is null)
            {
                Assert.False(exported.RootElement.TryGetProperty("context", out _));
                continue;
            }
            Assert.Equal(expected.GetProperty("context").GetRawText(), exported.RootElement.GetProperty("context").GetRawText());
        }
    }

    [Fact]
    public async Task StoreBatchAsync_ResendWithContext_SameIsDuplicate_OtherContextUnderTheKeyIsConflict()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var _s = store;

        var first = await store.StoreBatchAsync(Batch(), 1, CancellationToken.None);
        var resend = await store.StoreBatchAsync(Batch(), 2, CancellationToken.None);
        var changed = Batch();
        changed.Events[0].Context.Ancestry[1].Exe = Contexts.B("/usr/sbin/sshd-evil");
        var conflict = await store.StoreBatchAsync(changed, 3, CancellationToken.None);
        var withoutContext = Batch();
        withoutContext.Events[0].Context = null;
        var conflictToo = await store.StoreBatchAsync(withoutContext, 4, CancellationToken.None);

        Assert.Equal(new StoreOutcome(false, 5), first);
        Assert.Equal(new StoreOutcome(true, 0), resend);
        Assert.True(conflict.Conflict);
        Assert.True(conflictToo.Conflict);
        Assert.NotEqual(BatchDigest.Of(Batch()), BatchDigest.Of(changed));
    }

    private static async Task<long[]> SerialsAsync(IEventStore store, ContextFilter filter)
    {
        var page = await store.SearchEventsAsync(new EventSearch
        {
            FromUnixMs = TestEvents.BaseUnixMs - 1000, ToUnixMs = TestEvents.BaseUnixMs + 100_000, Context = filter,
        }, CancellationToken.None);
        return [.. page.Events.Select(e => e.Serial)];
    }

    [Theory]
    [InlineData("/usr/bin/bash", null, null, new long[] { 5, 1 })]
    [InlineData("bash", null, null, new long[] { 5, 1 })]
    [InlineData("sh", null, null, new long[] { 3 })]
    [InlineData("/bin/sh", null, null, new long[] { 3 })]
    [InlineData("ash", null, null, new long[0])]
    [InlineData(null, Contexts.DockerId, null, new long[] { 1 })]
    [InlineData(null, "3f4e1c9a2b7d", null, new long[] { 5, 1 })]
    [InlineData(null, "3F4E1C9A2B7D8E6F", null, new long[] { 1 })]
    [InlineData(null, "3f4e1c9a2b7dffff", null, new long[] { 5 })]
    [InlineData(null, "3f4e1c9a2b7e", null, new long[0])]
    [InlineData(null, null, "ssh.service", new long[] { 1 })]
    [InlineData(null, null, "cron.service", new long[] { 3 })]
    [InlineData(null, null, "ssh", new long[0])]
    [InlineData("bash", "3f4e1c9a2b7d", "session-3.scope", new long[] { 5 })]
    public async Task SearchEventsAsync_ByParentExeContainerUnit_FindsExactlyTheMatchingEvents(string? parentExe, string? container, string? unit, long[] expected)
    {
        var (store, _) = await Stores.CreateAsync();
        await using var _s = store;
        await store.StoreBatchAsync(Batch(), 1, CancellationToken.None);

        var serials = await SerialsAsync(store, new ContextFilter(parentExe, ContextFilter.ParseContainer(container, "container"), unit));

        Assert.Equal(expected, serials);
    }

    [Fact]
    public async Task SearchAndExport_LongValuesSharingTheirEnds_ToldApartByTheExactCopy()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var _s = store;
        // Two parent exes of 3000 bytes that differ in the middle only: their bounded columns are equal.
        string a = "/opt/" + new string('a', 1500) + "X" + new string('b', 1500) + "/run";
        string b = "/opt/" + new string('a', 1500) + "Y" + new string('b', 1500) + "/run";
        string unitA = new string('u', 1500) + "1" + new string('v', 1500) + ".service";
        string unitB = new string('u', 1500) + "2" + new string('v', 1500) + ".service";
        var batch = TestEvents.Batch("ctx", 1, 2);
        var ca = Contexts.Ssh(unit: unitA);
        ca.Parent.Exe = Contexts.B(a);
        var cb = Contexts.Ssh(unit: unitB);
        cb.Parent.Exe = Contexts.B(b);
        batch.Events[0].With(ca);
        batch.Events[1].With(cb);
        await store.StoreBatchAsync(batch, 1, CancellationToken.None);

        Assert.Equal(new long[] { 1L }, await SerialsAsync(store, new ContextFilter(ParentExe: a)));
        Assert.Equal(new long[] { 2L }, await SerialsAsync(store, new ContextFilter(ParentExe: b)));
        Assert.Equal(new long[] { 2L, 1L }, await SerialsAsync(store, new ContextFilter(ParentExe: "run")));
        Assert.Equal(new long[] { 2L }, await SerialsAsync(store, new ContextFilter(Unit: unitB)));
        var exported = new List<ulong>();
        await foreach (var e in store.ReadEventsAsync(new EventQuery { Context = new ContextFilter(ParentExe: a) }, CancellationToken.None))
        {
            exported.Add(e.Event.Serial);
        }
        Assert.Equal([1UL], exported);
    }

    [Fact]
    public async Task ReadEventsAsync_ExportFilters_KeepOnlyMatchingEventsInOrder()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var _s = store;
        await store.StoreBatchAsync(Batch(), 1, CancellationToken.None);

        async Task<ulong[]> Export(ContextFilter f)
        {
            var list = new List<ulong>();
            await foreach (var e in store.ReadEventsAsync(new EventQuery { Context = f }, CancellationToken.None))
            {
                list.Add(e.Event.Serial);
            }
            return [.. list];
        }

        Assert.Equal(new ulong[] { 1UL, 5UL }, await Export(new ContextFilter(ParentExe: "bash")));
        Assert.Equal(new ulong[] { 5UL }, await Export(new ContextFilter(Container: Contexts.PodmanId)));
        Assert.Equal(new ulong[] { 3UL }, await Export(new ContextFilter(Unit: "cron.service")));
        Assert.Equal(new ulong[] { 1UL, 2UL, 3UL, 4UL, 5UL }, await Export(new ContextFilter()));
    }

    [Fact]
    public async Task StoreBatchAsync_ForgedContextWithinTheBound_StoredExactlyAndSearchable()
    {
        var (store, spec) = await Stores.CreateAsync();
        await using var _s = store;
        byte[] hostile = [(byte)'/', 0xff, 0xfe, 0x00, (byte)'\n', 0x1b, (byte)'[', (byte)'3', (byte)'1', (byte)'m', (byte)'<', (byte)'s', (byte)'>', 0xc3];
        var forged = Contexts.Ssh(containerId: "evil\0name\nx", runtime: "<script>alert(1)</script>", unit: "ssh.service\nFAKE: line\r\0");
        forged.Parent.Exe = ByteString.CopyFrom(hostile);
        forged.Parent.Argv.Add(ByteString.CopyFrom(hostile));
        forged.Parent.Cwd = ByteString.CopyFrom(hostile);
        forged.Cgroup = ByteString.CopyFrom(hostile);
        forged.Ancestry.Clear();
        // a deep ancestry: 2,000 levels, under the bound
        for (uint i = 0; i < 2000; i++)
        {
            forged.Ancestry.Add(new Ancestor { Pid = 10_000 + i, Exe = ByteString.CopyFrom(hostile), ExecSerial = i });
        }
        forged.AncestryTruncated = true;
        Assert.Null(ContextColumns.Check(new Event { Context = forged }));
        var batch = TestEvents.Batch("ctx", 1, 1);
        batch.Events[0].With(forged);

        Assert.Equal(new StoreOutcome(false, 1), await store.StoreBatchAsync(batch, 1, CancellationToken.None));

        var read = new List<Event>();
        await foreach (var e in store.ReadEventsAsync(new EventQuery(), CancellationToken.None))
        {
            read.Add(e.Event);
        }
        Assert.Equal(forged, Assert.Single(read).Context);
        // The columns show NUL and bytes that are not UTF-8 as U+FFFD; newlines and markup are kept as text.
        var row = (await StoreQuery.RowsAsync(spec, "SELECT parent_exe, container_id, container_runtime, unit FROM events")).Single();
        Assert.Equal("/\uFFFD\uFFFD\uFFFD\n\u001b[31m<s>\uFFFD", row[0]);
        Assert.Equal("evil\uFFFDname\nx", row[1]);
        Assert.Equal("<script>alert(1)</script>", row[2]);
        Assert.Equal("ssh.service\nFAKE: line\r\uFFFD", row[3]);
        Assert.Equal(new long[] { 1L }, await SerialsAsync(store, new ContextFilter(Unit: "ssh.service\nFAKE: line\r\uFFFD")));
    }
}

public sealed class SqliteProcessContextTests() : ProcessContextTests(new SqliteStoreFactory());

[Collection(PostgresCollection.Name)]
public sealed class PostgresProcessContextTests(PostgresFixture pg) : ProcessContextTests(new PostgresStoreFactory(pg.Cluster));

/// <summary>The bound on a context at ingest (<see cref="ContextColumns.MaxContextBytes"/>) and the container search term.</summary>
public sealed class ContextBoundsTests
{
    [Fact]
    public void Check_ContextOverTheBound_RefusedNamingEventAndSizes_BatchValidatorRefusesIt()
    {
        var huge = Contexts.Ssh();
        huge.Parent.Exe = ByteString.CopyFrom(new byte[1 << 20]);
        var deep = Contexts.Ssh();
        for (uint i = 0; i < 20_000; i++)
        {
            deep.Ancestry.Add(new Ancestor { Pid = i, Exe = Contexts.B("/x") });
        }
        var batch = TestEvents.Batch("ctx", 1, 3);
        batch.Events[1].With(huge);
        var validator = new Sluice.Collector.Ingest.BatchValidator(new Sluice.Collector.Ingest.IngestLimits());

        string? reason = validator.Check(batch);

        Assert.NotNull(reason);
        Assert.StartsWith($"event 1 (serial {batch.Events[1].Serial}) context is {huge.CalculateSize()} bytes, limit {ContextColumns.MaxContextBytes}", reason);
        Assert.Contains("limit 65536", ContextColumns.Check(new Event { Context = deep }));
        Assert.Null(ContextColumns.Check(new Event { Context = Contexts.Ssh() }));
        Assert.Null(ContextColumns.Check(new Event()));
        batch.Events[1].Context = Contexts.Ssh();
        Assert.Null(validator.Check(batch));
    }

    [Theory]
    [InlineData("3f4e1c9a2b7", "too short")]
    [InlineData("3f4e1c9a2b7d8e6f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7ff", "has 66 hex digits")]
    [InlineData("bad\nid", "control characters")]
    public void ParseContainer_TermNoIdCanMatch_RefusedNamingTheParameter(string term, string why)
    {
        var e = Assert.Throws<FormatException>(() => ContextFilter.ParseContainer(term, "--container"));

        Assert.StartsWith("--container: ", e.Message);
        Assert.Contains(why, e.Message);
    }

    [Fact]
    public void ParseContainer_HexInUpperCase_LoweredAndAPrefix_MachineNameKeptWhole()
    {
        Assert.Equal("3f4e1c9a2b7d", ContextFilter.ParseContainer("3F4E1C9A2B7D", "container"));
        Assert.True(new ContextFilter(Container: "3f4e1c9a2b7d").ContainerIsPrefix);
        Assert.False(new ContextFilter(Container: Contexts.DockerId).ContainerIsPrefix);
        Assert.Equal("My-Machine", ContextFilter.ParseContainer("My-Machine", "container"));
        Assert.False(new ContextFilter(Container: "My-Machine").ContainerIsPrefix);
    }
}
