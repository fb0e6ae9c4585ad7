using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace Sluice.Agent.Spool;

/// <summary>
/// Files and directories that hold audited data or the agent's state (spool segments and state,
/// quarantine, kernel-state.json, serial-watermark): created owner-only, 0600 and 0700, whatever
/// the umask of the process that runs the agent. The mode is given at creation (open(2)'s mode,
/// mkdir(2)'s mode), never fixed afterwards, so that no other user can open a file in between.
/// </summary>
internal static partial class PrivateFiles
{
    public const UnixFileMode Mode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public const UnixFileMode Mode0700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Every permission bit of the group and of others.</summary>
    public const UnixFileMode GroupAndOthers =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>
    /// Creates <paramref name="path"/> 0700, and each missing parent 0700 too (a parent made with the
    /// umask's mode could be writable by others, who could then move the directory away and put
    /// their own in its place); or, when it exists and its group or others have any access, takes
    /// that away and says so in the log. Existing parents are left as they are.
    /// </summary>
    public static void EnsureDirectory(string path, ILogger logger)
    {
        if (CreateMissing(path))
        {
            return;
        }
        var mode = File.GetUnixFileMode(path);
        if ((mode & GroupAndOthers) != 0)
        {
            var tightened = mode & ~GroupAndOthers;
            File.SetUnixFileMode(path, tightened);
            Log.DirectoryTightened(logger, path, Octal(mode), Octal(tightened));
        }
    }

    /// <summary>Creates <paramref name="path"/> and its missing parents, each 0700; false when it exists already (left as it is).</summary>
    public static bool CreateMissing(string path)
    {
        path = Path.GetFullPath(path);
        if (Directory.Exists(path))
        {
            return false;
        }
        var missing = new Stack<string>();
        for (string? d = path; d is not null && !Directory.Exists(d); d = Path.GetDirectoryName(d))
        {
            missing.Push(d);
        }
        while (missing.TryPop(out string? d))
        {
            Directory.CreateDirectory(d, Mode0700);
        }
        return true;
    }

    /// <summary>Takes group and others' access away from an existing file, saying so in the log (files written by older versions).</summary>
    public static void Tighten(SafeFileHandle handle, string path, ILogger logger)
    {
        var mode = File.GetUnixFileMode(handle);
        if ((mode & GroupAndOthers) != 0)
        {
            File.SetUnixFileMode(handle, mode & ~GroupAndOthers);
            Log.FileTightened(logger, path, Octal(mode));
        }
    }

    /// <summary>Opens a stream on <paramref name="path"/>; a file it creates is 0600.</summary>
    public static FileStream Open(string path, System.IO.FileMode mode, FileAccess access, FileShare share = FileShare.None) => new(path, new FileStreamOptions
    {
        Mode = mode,
        Access = access,
        Share = share,
        BufferSize = 0,
        UnixCreateMode = Mode0600,
    });

    /// <summary>
    /// A handle on <paramref name="path"/>, creating the file 0600 if <paramref name="mode"/> says so.
    /// (<see cref="File.OpenHandle"/> takes no creation mode: the file is created through a stream
    /// that has one, then opened.)
    /// </summary>
    public static SafeFileHandle OpenHandle(string path, System.IO.FileMode mode, FileAccess access, FileShare share)
    {
        if (mode is System.IO.FileMode.CreateNew or System.IO.FileMode.Create or System.IO.FileMode.OpenOrCreate)
        {
            using (Open(path, mode, FileAccess.Write, FileShare.ReadWrite))
            {
            }
            mode = System.IO.FileMode.Open;
        }
        return File.OpenHandle(path, mode, access, share);
    }

    /// <summary>Writes <paramref name="content"/> to <paramref name="path"/> atomically: a new 0600 temp file, fsync, rename, fsync of the directory.</summary>
    public static void WriteAtomically(string path, ReadOnlySpan<byte> content)
    {
        string temp = path + ".tmp";
        // A temp file left by a crash keeps the mode it was made with: make a new one.
        File.Delete(temp);
        using (var stream = Open(temp, System.IO.FileMode.CreateNew, FileAccess.Write))
        {
            RandomAccess.Write(stream.SafeFileHandle, content, 0);
            RandomAccess.FlushToDisk(stream.SafeFileHandle);
        }
        File.Move(temp, path, overwrite: true);
        DirectorySync.Flush(Path.GetDirectoryName(path)!);
    }

    public static string Octal(UnixFileMode mode) => Convert.ToString((int)mode, 8).PadLeft(4, '0');

    private static partial class Log
    {
        [LoggerMessage(EventId = 2020, Level = LogLevel.Warning, Message = "{Directory} was mode {Old}: group or others could read the audited data or state in it; now {New}")]
        public static partial void DirectoryTightened(ILogger logger, string directory, string old, string @new);

        [LoggerMessage(EventId = 2021, Level = LogLevel.Warning, Message = "{File} was mode {Old}: group or others could read it; now owner only")]
        public static partial void FileTightened(ILogger logger, string file, string old);
    }
}
