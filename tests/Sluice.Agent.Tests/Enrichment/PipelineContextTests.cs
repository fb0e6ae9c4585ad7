using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Sluice.Agent.Configuration;
using Sluice.Agent.Monitoring;
using Sluice.Agent.Pipeline;
using Sluice.Agent.Sinks;
using Sluice.Audit.Tables;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Tests.Enrichment;

public sealed class PipelineContextTests
{
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

    private static List<Event> Run(bool rawForm, bool enabled)
    {
        var sink = new WireSink();
        var options = new AgentOptions { Enrichment = { Enabled = enabled } };
        var proc = new FakeProc();
        using (var pipeline = new EventPipeline(options, sink, new AgentMetrics(), new FakeTimeProvider(), NullLogger<EventPipeline>.Instance,
            rawForm: rawForm, procSource: proc))
        {
            const string tail = "items=0 ppid={0} pid={1} auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm=\"sh\" exe=\"/bin/sh\" key=\"k\"";
            void Add(uint serial, string syscall, params (AuditMessageType, string)[] more)
            {
                string stamp = $"audit(1700000000.{serial % 1000:D3}:{serial}): ";
                pipeline.OnRecord(AuditMessageType.Syscall, Encoding.ASCII.GetBytes(stamp + syscall));
                foreach (var (t, text) in more)
                {
                    pipeline.OnRecord(t, Encoding.ASCII.GetBytes(stamp + text));
                }
                pipeline.OnRecord(AuditMessageType.Eoe, Encoding.ASCII.GetBytes(stamp));
            }
            Add(101, "arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 " + string.Format(tail, 1, 50), (AuditMessageType.Execve, "argc=2 a0=\"/bin/sh\" a1=\"./s.sh\""));
            Add(102, "arch=c000003e syscall=56 success=yes exit=51 a0=1200011 a1=0 a2=0 a3=0 " + string.Format(tail, 1, 50));
            Add(103, "arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 " + string.Format(tail, 50, 51), (AuditMessageType.Execve, "argc=1 a0=\"id\""));
            pipeline.Flush();
        }
        return [.. sink.Events.Select(Event.Parser.ParseFrom)];
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void BothForms_CarryTheContext(bool rawForm)
    {
        var events = Run(rawForm, enabled: true);

        var child = events.Single(e => e.Serial == 103);
        Assert.Equal(rawForm, child.RawOnly);
        Assert.Equal(ContextState.Known, child.Context.ParentState);
        Assert.Equal(50u, child.Context.Parent.Pid);
        Assert.Equal(["/bin/sh", "./s.sh"], child.Context.Parent.Argv.Select(a => a.ToStringUtf8()));
        Assert.Equal(101ul, child.Context.Parent.ExecSerial);
        Assert.Equal(103ul, child.Context.ExecSerial);
        // The reused context of one event does not leak into the next one's bytes.
        Assert.Equal(0ul, events.Single(e => e.Serial == 101).Context.Parent?.ExecSerial ?? 0);
        if (rawForm)
        {
            // The collector's expansion keeps the context (it cannot compute it).
            var full = Sluice.Protocol.Mapping.AuditEventMapper.Expand(child);
            Assert.Equal(child.Context, full.Context);
        }
    }

    [Fact]
    public void Disabled_NoContext()
    {
        Assert.All(Run(rawForm: true, enabled: false), e => Assert.Null(e.Context));
    }
}
