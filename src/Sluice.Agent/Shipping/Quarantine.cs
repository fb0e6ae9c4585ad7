using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using GrpcStatus = Grpc.Core.Status;
using Sluice.Agent.Spool;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Shipping;

/// <summary>
/// Batches the collector refused, set aside so they do not block the queue:
/// <c>NNNNNNNNNNNNNNNNNNNN.batch</c> (the serialized EventBatch, as sent) and
/// <c>NNNNNNNNNNNNNNNNNNNN.reason</c> (time, sequence, epoch, event count, status code and the
/// server's message). The directory is 0700 and the files 0600: they hold audited data. Bounded
/// by a byte cap; the oldest are deleted beyond it, and counted (quarantine_trimmed_*).
/// </summary>
internal sealed partial class Quarantine
{
    private readonly string _directory;
    private readonly long _maxBytes;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private long _stored;
    private long _deleted;
    private long _deletedEvents;

    public Quarantine(string directory, long maxBytes, TimeProvider time, ILogger logger)
    {
        _directory = Path.GetFullPath(directory);
        _maxBytes = maxBytes;
        _time = time;
        _logger = logger;
    }

    public string DirectoryPath => _directory;

    public long Stored => Interlocked.Read(ref _stored);

    /// <summary>Quarantined batches deleted to keep the directory under its cap, or replaced by another batch of the same sequence.</summary>
    public long DeletedOverCap => Interlocked.Read(ref _deleted);

    /// <summary>Events of <see cref="DeletedOverCap"/>.</summary>
    public long DeletedOverCapEvents => Interlocked.Read(ref _deletedEvents);

    /// <summary>
    /// Writes the batch and its reason, then deletes the oldest batches beyond the cap. Returns what
    /// was deleted (as quarantine_trimmed_batches and _events), for the spool to report.
    /// </summary>
    public DeliveryLoss Put(ulong sequence, string epoch, int events, ReadOnlyMemory<byte> payload, GrpcStatus status)
    {
        PrivateFiles.EnsureDirectory(_directory, _logger);
        string stem = Path.Combine(_directory, sequence.ToString("D20", CultureInfo.InvariantCulture));
        var trimmed = DeliveryLoss.None;
        // The same sequence under another epoch (a spool made anew, with this directory kept): the
        // older copy is replaced, so it is gone like a trimmed one. The same batch again (a crash
        // before its acknowledgement was recorded) is written over and counted once.
        if (File.Exists(stem + ".batch") && ReadReason(stem + ".reason") is { } old && old.Epoch != epoch)
        {
            trimmed += new DeliveryLoss { QuarantineTrimmedBatches = 1, QuarantineTrimmedEvents = (ulong)EventsOf(stem, old) };
        }
        string reason = string.Create(CultureInfo.InvariantCulture,
            $"time {_time.GetUtcNow():O}\nsequence {sequence}\nepoch {epoch}\nevents {events}\nstatus {status.StatusCode}\nmessage {status.Detail}\n");
        PrivateFiles.WriteAtomically(stem + ".reason", Encoding.UTF8.GetBytes(reason));
        PrivateFiles.WriteAtomically(stem + ".batch", payload.Span);
        Interlocked.Increment(ref _stored);
        trimmed += EnforceCap(stem + ".batch");
        Interlocked.Add(ref _deleted, (long)trimmed.QuarantineTrimmedBatches);
        Interlocked.Add(ref _deletedEvents, (long)trimmed.QuarantineTrimmedEvents);
        return trimmed;
    }

    // Oldest first (by the time each was written; sequences start again in a spool made anew), never the one just put.
    private DeliveryLoss EnforceCap(string newest)
    {
        var files = new DirectoryInfo(_directory).GetFiles("*.batch")
            .OrderBy(f => f.LastWriteTimeUtc).ThenBy(f => f.Name, StringComparer.Ordinal).ToList();
        long total = files.Sum(f => f.Length);
        var trimmed = DeliveryLoss.None;
        for (int i = 0; i < files.Count && total > _maxBytes; i++)
        {
            if (files[i].FullName == newest)
            {
                continue;
            }
            string stem = Path.ChangeExtension(files[i].FullName, null);
            long events = EventsOf(stem, ReadReason(stem + ".reason"));
            total -= files[i].Length;
            files[i].Delete();
            File.Delete(stem + ".reason");
            trimmed += new DeliveryLoss { QuarantineTrimmedBatches = 1, QuarantineTrimmedEvents = (ulong)events };
            Log.Trimmed(_logger, files[i].FullName, events, _maxBytes);
        }
        return trimmed;
    }

    private sealed record Reason(string? Epoch, long? Events);

    private static Reason? ReadReason(string path)
    {
        try
        {
            string? epoch = null;
            long? events = null;
            foreach (string line in File.ReadLines(path))
            {
                if (line.StartsWith("epoch ", StringComparison.Ordinal))
                {
                    epoch = line[6..];
                }
                else if (line.StartsWith("events ", StringComparison.Ordinal) && long.TryParse(line.AsSpan(7), NumberStyles.None, CultureInfo.InvariantCulture, out long n))
                {
                    events = n;
                }
            }
            return new Reason(epoch, events);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    // The reason file says; one written before it did is counted from the batch itself.
    private static long EventsOf(string stem, Reason? reason)
    {
        if (reason?.Events is long n)
        {
            return n;
        }
        try
        {
            return EventBatch.Parser.ParseFrom(File.ReadAllBytes(stem + ".batch")).Events.Count;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Google.Protobuf.InvalidProtocolBufferException)
        {
            return 0;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2110, Level = LogLevel.Error, Message = "Quarantine over its cap of {MaxBytes} bytes: deleted {Batch} ({Events} events); counted as quarantine_trimmed")]
        public static partial void Trimmed(ILogger logger, string batch, long events, long maxBytes);
    }
}
