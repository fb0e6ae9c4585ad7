using System.Globalization;
using System.Text;
using GrpcStatus = Grpc.Core.Status;
using Sluice.Agent.Spool;

namespace Sluice.Agent.Shipping;

/// <summary>
/// Batches the collector refused as invalid, set aside so they do not block the queue:
/// <c>NNNNNNNNNNNNNNNNNNNN.batch</c> (the serialized EventBatch, as sent) and
/// <c>NNNNNNNNNNNNNNNNNNNN.reason</c> (time, status code and the server's message). Bounded by a
/// byte cap; the oldest are deleted beyond it, and counted.
/// </summary>
internal sealed class Quarantine
{
    private readonly string _directory;
    private readonly long _maxBytes;
    private readonly TimeProvider _time;
    private long _stored;
    private long _deleted;

    public Quarantine(string directory, long maxBytes, TimeProvider time)
    {
        _directory = Path.GetFullPath(directory);
        _maxBytes = maxBytes;
        _time = time;
    }

    public string DirectoryPath => _directory;

    public long Stored => Interlocked.Read(ref _stored);

    /// <summary>Quarantined batches deleted to keep the directory under its cap.</summary>
    public long DeletedOverCap => Interlocked.Read(ref _deleted);

    public void Put(ulong sequence, ReadOnlyMemory<byte> payload, GrpcStatus status)
    {
        Directory.CreateDirectory(_directory);
        string stem = Path.Combine(_directory, sequence.ToString("D20", CultureInfo.InvariantCulture));
        string reason = string.Create(CultureInfo.InvariantCulture,
            $"time {_time.GetUtcNow():O}\nsequence {sequence}\nstatus {status.StatusCode}\nmessage {status.Detail}\n");
        WriteAtomically(stem + ".reason", Encoding.UTF8.GetBytes(reason));
        WriteAtomically(stem + ".batch", payload.Span);
        Interlocked.Increment(ref _stored);
        EnforceCap();
    }

    private void WriteAtomically(string path, ReadOnlySpan<byte> content)
    {
        string temp = path + ".tmp";
        using (var handle = File.OpenHandle(temp, FileMode.Create, FileAccess.Write))
        {
            RandomAccess.Write(handle, content, 0);
            RandomAccess.FlushToDisk(handle);
        }
        File.Move(temp, path, overwrite: true);
        DirectorySync.Flush(_directory);
    }

    private void EnforceCap()
    {
        var files = new DirectoryInfo(_directory).GetFiles("*.batch").OrderBy(f => f.Name, StringComparer.Ordinal).ToList();
        long total = files.Sum(f => f.Length);
        for (int i = 0; i < files.Count - 1 && total > _maxBytes; i++)
        {
            total -= files[i].Length;
            files[i].Delete();
            File.Delete(Path.ChangeExtension(files[i].FullName, ".reason"));
            Interlocked.Increment(ref _deleted);
        }
    }
}
