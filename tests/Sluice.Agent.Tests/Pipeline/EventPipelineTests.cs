using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Sluice.Agent.Configuration;
using Sluice.Agent.Monitoring;
using Sluice.Agent.Pipeline;
using Sluice.Agent.Sinks;
using Sluice.Audit.Tables;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Tests.Pipeline;

public sealed class EventPipelineTests
{
    private sealed class ListSink : IEventSink
    {
        public List<Event> Events { get; } = [];

        public void Write(Event e) => Events.Add(e);

        public void Flush()
        {
        }

        public void Dispose()
        {
        }
    }

    private static readonly string FixtureAccounts = Path.Combine(AppContext.BaseDirectory, "Fixtures", "accounts");

    // records as the drain hands them over: type and kernel text
    private static readonly (ushort Type, string Text)[] Records =
    [
        (1300, "audit(1795567850.751:1173900): arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c a1=1 a2=0 a3=0 items=1 ppid=1 pid=2 auid=1001 uid=1001 gid=1001 euid=0 suid=0 fsuid=0 egid=42 sgid=42 fsgid=42 tty=pts0 ses=3 comm=\"cat\" exe=\"/usr/bin/cat\" key=(null)"),
        (1302, "audit(1795567850.751:1173900): item=0 name=\"/etc/shadow\" inode=20 dev=fe:00 mode=0100640 ouid=0 ogid=42 rdev=00:00 nametype=NORMAL"),
        (1320, "audit(1795567850.751:1173900): "),
    ];

    /// <summary>Serializes each event as it is written, as the batcher does: the raw form is reused and wraps the event's buffers.</summary>
    private sealed class WireSink : IEventSink
    {
        public List<byte[]> Events { get; } = [];

        public void Write(Event e) => Events.Add(Google.Protobuf.MessageExtensions.ToByteArray(e));

        public void Flush()
        {
        }

        public void Dispose()
        {
        }
    }

    private static Event RunOne(AgentOptions options, bool rawForm = false)
    {
        var sink = new WireSink();
        using var pipeline = new EventPipeline(options, sink, new AgentMetrics(), new FakeTimeProvider(), NullLogger<EventPipeline>.Instance, rawForm: rawForm);
        foreach (var (type, text) in Records)
        {
            pipeline.OnRecord((AuditMessageType)type, Encoding.UTF8.GetBytes(text));
        }
        pipeline.Flush();
        return Event.Parser.ParseFrom(Assert.Single(sink.Events));
    }

    [Theory]
    [InlineData("Collector", "Collector", false, true)]
    [InlineData("Collector", "Agent", false, false)]
    [InlineData("Collector", "Collector", true, false)]
    [InlineData("JsonLines", "Collector", false, false)]
    [InlineData("Stdout", "Collector", false, false)]
    public void ShipsRawForm_OnlyToTheCollector_AndOnlyWithoutNames(string sink, string at, bool names, bool raw)
    {
        var options = new AgentOptions
        {
            Sink = { Type = Enum.Parse<SinkType>(sink) },
            Interpretation = { At = Enum.Parse<InterpretationSite>(at), ResolveNames = names },
        };

        Assert.Equal(raw, EventPipeline.ShipsRawForm(options));
    }

    [Fact]
    public void OnRecord_RawForm_RecordsAndHeaderOnly_CollectorExpandsItToTheAgentsFullForm()
    {
        var options = new AgentOptions { Interpretation = { AccountsRoot = FixtureAccounts } };

        Event raw = RunOne(options, rawForm: true);
        Event full = RunOne(options);

        Assert.True(raw.RawOnly);
        Assert.Equal((1173900ul, "1795567850.751", "eoe"), (raw.Serial, raw.Timestamp, raw.Completion));
        Assert.Equal(Records.Where(r => r.Type != 1320).Select(r => r.Text), raw.Records.Select(r => r.Raw.ToStringUtf8()));
        Assert.Equal(("", "", false), (raw.Syscall, raw.FirstType, raw.HasUid));
        Assert.Equal("openat", full.Syscall);
        Assert.Equal(full, Sluice.Protocol.Mapping.AuditEventMapper.Expand(raw));
    }

    [Fact]
    public void OnRecord_ResolveNamesOff_IdsOnly()
    {
        Event e = RunOne(new AgentOptions { Interpretation = { AccountsRoot = FixtureAccounts } });

        Assert.Equal(1001u, e.Uid);
        Assert.False(e.HasUidName);
        Assert.False(e.HasAuidName);
        Assert.False(e.HasEgidName);
        Assert.Null(e.PathOwnerNames);
    }

    [Fact]
    public void OnRecord_ResolveNamesOn_NamesFromTheAccountsRoot()
    {
        Event e = RunOne(new AgentOptions { Interpretation = { ResolveNames = true, AccountsRoot = FixtureAccounts } });

        Assert.Equal(1001u, e.Uid);
        Assert.Equal(("corpususer", "corpususer", "root", "corpususer", "shadow"), (e.UidName, e.AuidName, e.EuidName, e.GidName, e.EgidName));
        Assert.Equal(("root", "root", "shadow", "shadow"), (e.SuidName, e.FsuidName, e.SgidName, e.FsgidName));
        Assert.Equal(["root"], e.PathOwnerNames.OuidNames);
        Assert.Equal(["shadow"], e.PathOwnerNames.OgidNames);
    }
}
