using System.Buffers;
using System.Text.Json;
using Sluice.Audit.Accounts;
using Sluice.Audit.Records;
using Sluice.Collector.Export;
using Sluice.Collector.Storage;
using Sluice.Protocol.Mapping;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Tests.Ocsf;

/// <summary>The reference corpus as stored events, and OCSF text of them.</summary>
internal static class OcsfCorpus
{
    public const string AgentId = "corpus-agent";
    public const string Hostname = "corpus.example";

    /// <summary>OCSF 1.8.0's class_uid of each class, written out here rather than taken from the writer it checks.</summary>
    public static int ClassUid(EventClass c) => c switch
    {
        EventClass.Process => 1007,
        EventClass.FileSystem => 1001,
        EventClass.Authentication => 3002,
        EventClass.AccountChange => 3001,
        EventClass.Network => 4001,
        _ => 0,
    };

    public static readonly string[] Files = ["kernel-6.18-raw.log", "kernel-6.18-enriched.log"];

    /// <summary>Every event of a corpus file, interpreted as the agent does, with account names from the capturing host's files.</summary>
    public static List<StoredEvent> Load(string file) =>
        FromLog(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "corpus", file)));

    /// <summary>Events of audit log lines (RAW format, one record a line) written for a test.</summary>
    public static List<StoredEvent> FromLines(params string[] lines) =>
        FromLog(System.Text.Encoding.UTF8.GetBytes(string.Join('\n', lines)));

    private static List<StoredEvent> FromLog(ReadOnlySpan<byte> all)
    {
        var names = new AccountNameCache(Path.Combine(AppContext.BaseDirectory, "Fixtures", "accounts"));
        var events = new List<StoredEvent>();
        var reassembler = new AuditReassembler(ev =>
        {
            using (ev)
            {
                Event e = AuditEventMapper.ToProto(ev, AuditEventInterpreter.Interpret(ev, names));
                // a batch of 100 events each, as an agent might have sent them
                events.Add(new StoredEvent(AgentId, Hostname, 1 + ((ulong)events.Count / 100), e));
            }
        });
        // the records are bytes (the enriched log's separator, arguments that are not UTF-8): split lines as bytes
        foreach (Range line in all.Split((byte)'\n'))
        {
            if (all[line].IsEmpty)
            {
                continue;
            }
            Assert.Equal(AuditParseError.None, reassembler.AddLogLine(all[line]));
        }
        reassembler.Flush();
        return events;
    }

    /// <summary>The OCSF object of <paramref name="stored"/> as UTF-8 text.</summary>
    public static byte[] Ocsf(StoredEvent stored, bool indented = false)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = ReplayPayload.WriterOptions.Encoder, Indented = indented }))
        {
            OcsfEvent.Write(writer, stored);
        }
        return buffer.WrittenSpan.ToArray();
    }
}
