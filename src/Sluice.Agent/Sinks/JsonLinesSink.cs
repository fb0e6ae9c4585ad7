using System.Buffers;
using Sluice.Protocol.Json;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Sinks;

/// <summary>Writes events as JSON Lines in the replay format, to a file (appended) or stdout.</summary>
internal sealed class JsonLinesSink : IEventSink
{
    private readonly Stream _stream;
    private readonly ArrayBufferWriter<byte> _line = new(16 * 1024);

    public JsonLinesSink(Stream stream) => _stream = new BufferedStream(stream, 256 * 1024);

    /// <summary>Opens <paramref name="path"/> for appending (mode 0600), creating its directory.</summary>
    public static JsonLinesSink OpenFile(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var options = new FileStreamOptions
        {
            Mode = FileMode.Append,
            Access = FileAccess.Write,
            Share = FileShare.Read,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        };
        return new JsonLinesSink(new FileStream(path, options));
    }

    public void Write(Event e)
    {
        _line.ResetWrittenCount();
        EventJsonWriter.Write(_line, e);
        _stream.Write(_line.WrittenSpan);
    }

    public void Flush() => _stream.Flush();

    private bool _disposed;

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _stream.Flush();
        _stream.Dispose();
    }
}
