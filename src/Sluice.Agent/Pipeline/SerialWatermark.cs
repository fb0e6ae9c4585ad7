using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Win32.SafeHandles;

namespace Sluice.Agent.Pipeline;

/// <summary>
/// The highest serial whose batch is in the spool, kept in <c>serial-watermark</c> in the state
/// directory with the boot id, so that an agent restarted after a crash counts what nobody received
/// in between as serial gaps: everything the kernel logged from the crash until the new agent
/// registered, plus what the crashed one had received but not yet spooled.
/// </summary>
/// <remarks>
/// Written in place (one <c>pwrite</c> of a fixed-size line) after each append, without fsync: it must
/// survive a crash of the process, like the page cache does; after a power loss the file may lag,
/// and the gap is then over-counted, never under-counted. Likewise a crash in the instant between
/// an append and this write. A clean stop removes the file together with the kernel state file
/// (<see cref="Kernel.KernelState.Delete"/>): after a clean stop, or a restore that gave audit back
/// to auditd, nothing is ours to count.
/// </remarks>
internal sealed class SerialWatermark : IDisposable
{
    public const string FileName = "serial-watermark";

    private readonly string _path;
    private readonly string _bootId;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private SafeFileHandle? _handle;
    private bool _hasHighest;
    private uint _highest;

    public SerialWatermark(string stateDirectory, string bootId, ILogger? logger = null)
    {
        _path = Path.Combine(stateDirectory, FileName);
        _bootId = bootId;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>The serial the previous run spooled last, if it ended without a clean stop on this boot; null otherwise.</summary>
    public uint? ReadPrevious()
    {
        try
        {
            var parts = File.ReadAllText(_path).Trim().Split(' ');
            return parts.Length == 2 && parts[0] == _bootId && uint.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out uint s) ? s : null;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Notes that a batch whose highest serial is <paramref name="highestSerial"/> is in the spool (null: a batch without events).</summary>
    public void Record(uint? highestSerial)
    {
        if (highestSerial is not uint s)
        {
            return;
        }
        lock (_lock)
        {
            // modulo 2^32, as the kernel's counter wraps
            if (!_hasHighest || (int)(s - _highest) > 0)
            {
                _highest = s;
                _hasHighest = true;
            }
            if (_handle is null)
            {
                Spool.PrivateFiles.EnsureDirectory(Path.GetDirectoryName(_path)!, _logger);
                _handle = Spool.PrivateFiles.OpenHandle(_path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite);
                // A file left by an older version may be looser than the 0600 it is created with now.
                Spool.PrivateFiles.Tighten(_handle, _path, _logger);
            }
            // Fixed width, so that each write replaces the whole line.
            RandomAccess.Write(_handle, Encoding.ASCII.GetBytes($"{_bootId} {_highest:D10}\n"), 0);
        }
    }

    /// <summary>Removes the file (a clean stop, or a restore).</summary>
    public static void Delete(string stateDirectory) => File.Delete(Path.Combine(stateDirectory, FileName));

    public void Dispose()
    {
        lock (_lock)
        {
            _handle?.Dispose();
            _handle = null;
        }
    }
}
