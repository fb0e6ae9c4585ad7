using System.Text;

namespace Sluice.Benchmarks.Harness;

/// <summary>
/// Counts the lines of a growing log file that contain all of some byte strings, reading only
/// what was appended since the last call. A line still being written (no newline yet) is
/// counted once it is complete. Lines that contain any of the excluded strings are not counted.
/// </summary>
public sealed class LogCounter
{
    private readonly string _path;
    private readonly byte[][] _needles;
    private readonly byte[][] _excluded;
    private readonly byte[] _buffer = new byte[1 << 20];
    private long _offset;
    private int _carry;
    private long _count;

    public LogCounter(string path, string[] needles, string[]? excluded = null)
    {
        _path = path;
        _needles = needles.Select(Encoding.UTF8.GetBytes).ToArray();
        _excluded = (excluded ?? []).Select(Encoding.UTF8.GetBytes).ToArray();
    }

    public long Count()
    {
        if (!File.Exists(_path))
        {
            return _count;
        }
        using var stream = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        if (stream.Length < _offset)
        {
            throw new InvalidOperationException($"{_path} shrank (rotated or truncated) while it was being counted");
        }
        stream.Position = _offset;
        int read;
        while ((read = stream.Read(_buffer, _carry, _buffer.Length - _carry)) > 0)
        {
            _offset += read;
            int end = _carry + read;
            int start = 0;
            int nl;
            while ((nl = Array.IndexOf(_buffer, (byte)'\n', start, end - start)) >= 0)
            {
                if (Matches(_buffer.AsSpan(start, nl - start)))
                {
                    _count++;
                }
                start = nl + 1;
            }
            _carry = end - start;
            if (_carry == _buffer.Length)
            {
                throw new InvalidOperationException($"{_path} has a line longer than {_buffer.Length} bytes");
            }
            Buffer.BlockCopy(_buffer, start, _buffer, 0, _carry);
        }
        return _count;
    }

    /// <summary>True when <paramref name="line"/> contains every needle and no excluded string.</summary>
    public bool Matches(ReadOnlySpan<byte> line)
    {
        foreach (var excluded in _excluded)
        {
            if (line.IndexOf(excluded) >= 0)
            {
                return false;
            }
        }
        foreach (var needle in _needles)
        {
            if (line.IndexOf(needle) < 0)
            {
                return false;
            }
        }
        return true;
    }
}
