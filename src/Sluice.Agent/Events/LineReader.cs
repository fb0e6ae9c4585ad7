using System.Buffers;
using System.IO.Compression;

namespace Sluice.Agent.Events;

/// <summary>Reads a stream line by line as bytes (no decoding), from one pooled buffer that grows to the longest line.</summary>
/// <remarks>The buffer is rented from <see cref="ArrayPool{T}.Shared"/> and returned on Dispose; a line's span is valid until the next read.</remarks>
internal sealed class LineReader : IDisposable
{
    private readonly Stream _stream;
    private readonly int _maxLine;
    private byte[] _buffer;
    private int _start;
    private int _end;
    private bool _eof;

    public LineReader(Stream stream, int maxLine = 16 * 1024 * 1024)
    {
        _stream = stream;
        _maxLine = maxLine;
        _buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
    }

    /// <summary>Opens a file, or stdin for <c>-</c>; gzip files (rotated logs) are decompressed, found by their magic bytes.</summary>
    public static Stream Open(string path)
    {
        Stream s = path == "-" ? Console.OpenStandardInput() : new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.SequentialScan);
        if (path == "-" || !s.CanSeek)
        {
            return s;
        }
        Span<byte> magic = stackalloc byte[2];
        int n = s.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
        s.Position = 0;
        return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b ? new GZipStream(s, CompressionMode.Decompress) : s;
    }

    /// <summary>The next line without its newline; false at the end. A line longer than the limit is skipped and reported with <paramref name="tooLong"/> set and an empty line.</summary>
    public bool TryReadLine(out ReadOnlySpan<byte> line, out bool tooLong)
    {
        tooLong = false;
        while (true)
        {
            int nl = _buffer.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
            if (nl >= 0)
            {
                line = _buffer.AsSpan(_start, nl);
                _start += nl + 1;
                return true;
            }
            if (_eof)
            {
                if (_start < _end)
                {
                    line = _buffer.AsSpan(_start, _end - _start);
                    _start = _end;
                    return true;
                }
                line = default;
                return false;
            }
            if (_start > 0)
            {
                _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
                _end -= _start;
                _start = 0;
            }
            if (_end == _buffer.Length)
            {
                if (_buffer.Length >= _maxLine)
                {
                    // skip the rest of this line and report it
                    line = default;
                    tooLong = true;
                    _start = _end;
                    SkipToNewline();
                    return true;
                }
                byte[] bigger = ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
                _buffer.AsSpan(0, _end).CopyTo(bigger);
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = bigger;
            }
            int read = _stream.Read(_buffer, _end, _buffer.Length - _end);
            if (read == 0)
            {
                _eof = true;
            }
            _end += read;
        }
    }

    private void SkipToNewline()
    {
        Span<byte> scratch = stackalloc byte[4096];
        while (true)
        {
            int read = _stream.Read(scratch);
            if (read == 0)
            {
                _eof = true;
                _start = _end = 0;
                return;
            }
            int nl = scratch[..read].IndexOf((byte)'\n');
            if (nl >= 0)
            {
                scratch[(nl + 1)..read].CopyTo(_buffer);
                _start = 0;
                _end = read - nl - 1;
                return;
            }
        }
    }

    public void Dispose()
    {
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
        _stream.Dispose();
    }
}
