using System.Text;

namespace Sluice.Collector.Tests.Support;

/// <summary>Writes token files as an operator must: 0600 (the collector refuses one that group or others can read or write).</summary>
public static class PrivateFile
{
    public const UnixFileMode Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public static void Write(string path, string text)
    {
        using (var file = new FileStream(path, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = Mode }))
        {
            file.Write(Encoding.UTF8.GetBytes(text));
        }
        File.SetUnixFileMode(path, Mode);
    }

    public static Task WriteAsync(string path, string text)
    {
        Write(path, text);
        return Task.CompletedTask;
    }
}
