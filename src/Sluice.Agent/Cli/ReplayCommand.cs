using System.Buffers;
using System.CommandLine;
using System.Text;
using Sluice.Agent.Configuration;
using Sluice.Agent.Events;
using Sluice.Audit.Accounts;
using Sluice.Audit.Records;
using Sluice.Protocol.Json;
using Sluice.Protocol.Mapping;

namespace Sluice.Agent.Cli;

/// <summary><c>sluice-agent replay FILE... | -</c>: audit.log files (RAW or ENRICHED, rotated, gzip) or stdin → JSON Lines events.</summary>
internal static class ReplayCommand
{
    internal const string EncodingHelp =
        "Output: one JSON object per event per line, with keys serial, timestamp, node, records [{type, raw, enriched}], " +
        "syscall, success, exit, pid, ppid, uid, auid, comm, exe, key, cwd, argv, paths, proctitle and more. " +
        "Text that is not valid UTF-8 round-trips byte-exactly: valid UTF-8 is written as is, and each byte that is not " +
        "part of valid UTF-8 is written as the lone surrogate escape \\udc80..\\udcff (0xDC00 + the byte), Python's " +
        "\"surrogateescape\": json.loads(line)[\"argv\"][0].encode(\"utf-8\", \"surrogateescape\") gives the exact bytes.";

    public static Command Create()
    {
        var files = new Argument<string[]>("FILE")
        {
            Description = "audit.log files, RAW or ENRICHED, rotated or gzip-compressed, in the order to read them; - or none for stdin.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var strict = new Option<bool>("--strict") { Description = "Exit with status 3 if any line was malformed (they are still reported and skipped)." };
        var names = new Option<bool>("--names")
        {
            Description = "Add account names (uid_name, auid_name, euid_name, gid_name, egid_name, ...) from THIS host's /etc/passwd " +
                "and /etc/group. Off by default: ids mean what the logging host's files said, so naming another host's log with " +
                "this host's files gives wrong names. For another host's log, use --names-root with a copy of its files.",
        };
        var namesRoot = new Option<string?>("--names-root")
        {
            Description = "Like --names, but with DIR/etc/passwd and DIR/etc/group (e.g. copies taken from the host that wrote the log).",
            HelpName = "DIR",
        };
        var noContext = new Option<bool>("--no-context")
        {
            Description = "Leave out each event's process context. By default it comes from the events alone (exec and fork events " +
                "earlier in the files): no /proc and no cgroups, so container and unit are unknown (docs/process-context.md, \"Replay\").",
        };
        var command = new Command("replay",
            "Reassemble audit records from log files into events and write them as JSON Lines on stdout. " +
            "Malformed lines are reported on stderr with their file and line number, counted, and skipped. " + EncodingHelp);
        command.Arguments.Add(files);
        command.Options.Add(strict);
        command.Options.Add(names);
        command.Options.Add(namesRoot);
        command.Options.Add(noContext);
        command.SetAction(parse =>
        {
            string[] paths = parse.GetValue(files) ?? [];
            string? root = parse.GetValue(namesRoot);
            if (root is not null && !Directory.Exists(root))
            {
                Console.Error.WriteLine($"sluice-agent replay: --names-root {root}: no such directory");
                return 2;
            }
            AccountNameCache? accounts = root is not null ? new AccountNameCache(root) : parse.GetValue(names) ? new AccountNameCache("/") : null;
            using Stream stdout = Console.OpenStandardOutput();
            return Run(paths.Length == 0 ? ["-"] : paths, stdout, Console.Error, parse.GetValue(strict), accounts,
                parse.GetValue(noContext) ? null : new EnrichmentOptions());
        });
        return command;
    }

    /// <summary>Replays <paramref name="paths"/>; returns the exit status (0 ok, 1 a file could not be read, 3 malformed lines with --strict).</summary>
    /// <param name="names">Names the events' ids when given (<c>--names</c>); null leaves them numeric.</param>
    /// <param name="enrichment">The process table's bounds when each event gets its context (from the events alone); null: none.</param>
    internal static int Run(IReadOnlyList<string> paths, Stream stdout, TextWriter stderr, bool strict = false, AccountNameCache? names = null,
        EnrichmentOptions? enrichment = null)
    {
        // No /proc: the processes of a capture are not this host's now.
        var enricher = enrichment is null ? null : new Enrichment.Enricher(enrichment, proc: null);
        if (names is not null)
        {
            // load both files now, so that their problems are reported before the events
            ReportAccounts(stderr, names.Users);
            ReportAccounts(stderr, names.Groups);
        }
        var output = new BufferedStream(stdout, 64 * 1024);
        var json = new ArrayBufferWriter<byte>(16 * 1024);
        long events = 0;
        var clock = new RecordClock();
        var reassembler = new AuditReassembler(ev =>
        {
            using (ev)
            {
                json.ResetWrittenCount();
                var context = enricher?.Enrich(ev);
                var e = AuditEventMapper.ToProto(ev, AuditEventInterpreter.Interpret(ev, names));
                e.Context = context;
                EventJsonWriter.Write(json, e);
                output.Write(json.WrittenSpan);
                events++;
            }
        }, clock);

        long lines = 0, malformed = 0;
        int status = 0;
        foreach (string path in paths)
        {
            string name = path == "-" ? "<stdin>" : path;
            Stream stream;
            try
            {
                stream = LineReader.Open(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"sluice-agent replay: {name}: cannot read: {e.Message}");
                status = 1;
                continue;
            }
            using var reader = new LineReader(stream);
            long lineNumber = 0;
            try
            {
                while (reader.TryReadLine(out ReadOnlySpan<byte> line, out bool tooLong))
                {
                    lineNumber++;
                    lines++;
                    if (tooLong)
                    {
                        malformed++;
                        stderr.WriteLine($"sluice-agent replay: {name}:{lineNumber}: line too long, skipped");
                        continue;
                    }
                    if (line.IsEmpty || (line.Length == 1 && line[0] == (byte)'\r'))
                    {
                        continue;
                    }
                    AuditParseError error = AuditLogLine.TryParse(line, out AuditLogLine parsed);
                    if (error == AuditParseError.None && AuditRecordHeader.TryParse(parsed.KernelText, out AuditRecordHeader header))
                    {
                        clock.Observe(header.UnixMilliseconds);
                        if (reassembler.Add(parsed.Type, parsed.KernelText, parsed.Node, parsed.Enriched))
                        {
                            reassembler.CompleteExpired();
                            continue;
                        }
                        error = AuditParseError.BadLength;
                    }
                    malformed++;
                    stderr.WriteLine($"sluice-agent replay: {name}:{lineNumber}: malformed record ({Describe(error)}): {Preview(line)}");
                }
            }
            catch (Exception e) when (e is IOException or InvalidDataException)
            {
                stderr.WriteLine($"sluice-agent replay: {name}:{lineNumber}: read failed: {e.Message}");
                status = 1;
            }
        }
        reassembler.Flush();
        output.Flush();
        AuditReassemblerCounters c = reassembler.Counters;
        stderr.WriteLine($"sluice-agent replay: {lines} lines, {c.RecordsAccepted} records, {events} events, {malformed} malformed lines, {c.SerialGaps} serials missing");
        if (status == 0 && strict && malformed > 0)
        {
            status = 3;
        }
        return status;
    }

    private static void ReportAccounts(TextWriter stderr, AccountFileStatus status)
    {
        if (!status.Healthy)
        {
            stderr.WriteLine($"sluice-agent replay: {status.Describe()}");
        }
    }

    private static string Describe(AuditParseError error) => error switch
    {
        AuditParseError.BadType => "no known type=",
        AuditParseError.BadHeader => "no msg=audit(SEC.MSEC:SERIAL): header",
        AuditParseError.BadLength => "empty or too long",
        AuditParseError.UnterminatedQuote => "unterminated quote",
        _ => error.ToString(),
    };

    private static string Preview(ReadOnlySpan<byte> line)
    {
        ReadOnlySpan<byte> head = line.Length > 80 ? line[..80] : line;
        var sb = new StringBuilder(head.Length + 3);
        foreach (byte b in head)
        {
            sb.Append(b is >= 0x20 and < 0x7f ? (char)b : '.');
        }
        if (line.Length > 80)
        {
            sb.Append("...");
        }
        return sb.ToString();
    }

    /// <summary>
    /// The reassembler's clock during a replay: the latest record time seen, so that the 2 s timeout
    /// applies to the log's own time, as it did when the records were written.
    /// </summary>
    private sealed class RecordClock : TimeProvider
    {
        private long _unixMs;

        public void Observe(long unixMs)
        {
            if (unixMs > _unixMs)
            {
                _unixMs = unixMs;
            }
        }

        public override long TimestampFrequency => 1000;

        public override long GetTimestamp() => _unixMs;

        public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(_unixMs);
    }
}
