using Microsoft.Extensions.Logging;
using Sluice.Collector.Interop;

namespace Sluice.Collector.Auth;

/// <summary>The token file of a running collector: read at start, and again whenever it changes, without a restart.</summary>
/// <remarks>
/// On the authentication path, at most once per <see cref="CheckInterval"/>, one caller looks at the file's inode, size,
/// owner and times (one statx call, no read); the others use the table in hand meanwhile. When they changed, and stay
/// so at the next check (an editor writing in place is done by then), the file is read and parsed again (through <see cref="SecretFile"/>, so a file opened to others is refused as at start). A
/// file that then fails, for a bad line or its mode or because it is gone, leaves the previous table in force: the
/// failure is logged with the file and line, and counted (<see cref="ReloadFailures"/>), once per version of the file.
/// Revoking an agent (removing its line) therefore refuses its next call within two <see cref="CheckInterval"/>s of
/// the edit; a garbled edit never locks every agent out.
/// </remarks>
internal sealed class AgentTokenFile
{
    /// <summary>How often a call may look at the file; one second by default.</summary>
    public static readonly TimeSpan DefaultCheckInterval = TimeSpan.FromSeconds(1);

    private readonly string _path;
    private readonly TimeProvider _time;
    private readonly long _intervalTicks;
    private volatile AgentTokens _tokens;
    private Files.FileStamp? _stamp;
    private Files.FileStamp? _settling;
    private long _nextCheck;
    private int _checking;
    private long _reloads;
    private long _reloadFailures;

    private AgentTokenFile(string path, AgentTokens tokens, Files.FileStamp? stamp, ILogger? logger, TimeProvider time, TimeSpan interval)
    {
        _path = path;
        _tokens = tokens;
        _stamp = stamp;
        Logger = logger;
        _time = time;
        _intervalTicks = (long)(interval.TotalSeconds * time.TimestampFrequency);
        _nextCheck = time.GetTimestamp() + _intervalTicks;
    }

    /// <summary>Reads the file; at start a bad file is an error (there is no previous table to keep).</summary>
    /// <exception cref="FormatException">As <see cref="AgentTokens.Load"/>.</exception>
    public static AgentTokenFile Load(string path, ILogger? logger = null, TimeProvider? time = null, TimeSpan? checkInterval = null)
    {
        var stamp = Files.Stat(path, out _);
        var tokens = AgentTokens.Load(path);
        return new AgentTokenFile(path, tokens, stamp, logger, time ?? TimeProvider.System, checkInterval ?? DefaultCheckInterval);
    }

    public string Path => _path;

    /// <summary>Where reloads and failed reloads are logged; none until the host sets it.</summary>
    public ILogger? Logger { get; set; }

    public TimeSpan CheckInterval => TimeSpan.FromSeconds((double)_intervalTicks / _time.TimestampFrequency);

    /// <summary>Times the file was read again after a change and its table taken.</summary>
    public long Reloads => Interlocked.Read(ref _reloads);

    /// <summary>Times a changed file could not be used, and the previous table was kept.</summary>
    public long ReloadFailures => Interlocked.Read(ref _reloadFailures);

    /// <summary>The table in force, after looking at the file if it is time to.</summary>
    public AgentTokens Current
    {
        get
        {
            long now = _time.GetTimestamp();
            if (now >= Volatile.Read(ref _nextCheck) && Interlocked.CompareExchange(ref _checking, 1, 0) == 0)
            {
                try
                {
                    Volatile.Write(ref _nextCheck, now + _intervalTicks);
                    Check();
                }
                finally
                {
                    Volatile.Write(ref _checking, 0);
                }
            }
            return _tokens;
        }
    }

    /// <summary>The table in force, without looking at the file.</summary>
    public AgentTokens Snapshot => _tokens;

    /// <summary>Looks at the file now, and reads it again if it changed and was the same at the previous look; returns whether the table was replaced.</summary>
    public bool Check()
    {
        var stamp = Files.Stat(_path, out string? statError);
        if (stamp == _stamp)
        {
            _settling = null;
            return false;
        }
        if (stamp != _settling)
        {
            // Changed: taken at the next check if it stays so. An editor that writes the file in place truncates it
            // first; read in between, it would be a valid empty table that refuses every agent.
            _settling = stamp;
            return false;
        }
        _settling = null;
        // Remembered before reading: a file that fails is reported once, not on every check, until it changes again.
        _stamp = stamp;
        try
        {
            if (stamp is null)
            {
                throw new FormatException($"token file {_path}: cannot read it: {statError}");
            }
            var tokens = AgentTokens.Load(_path);
            _tokens = tokens;
            Interlocked.Increment(ref _reloads);
            if (Logger is not null)
            {
                AuthLog.TokensReloaded(Logger, _path, tokens.Count);
            }
            return true;
        }
        catch (FormatException e)
        {
            Interlocked.Increment(ref _reloadFailures);
            if (Logger is not null)
            {
                AuthLog.TokensReloadFailed(Logger, e.Message, _tokens.Count);
            }
            return false;
        }
    }
}

internal static partial class AuthLog
{
    [LoggerMessage(EventId = 160, Level = LogLevel.Information, Message = "token file {Path} changed: {Count} agents enrolled now")]
    public static partial void TokensReloaded(ILogger logger, string path, int count);

    [LoggerMessage(EventId = 161, Level = LogLevel.Error, Message = "{Reason}; the previous token table ({Count} agents) stays in force until the file is fixed")]
    public static partial void TokensReloadFailed(ILogger logger, string reason, int count);
}
