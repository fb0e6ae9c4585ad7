namespace Sluice.Audit.Netlink;

/// <summary>Looks up a process's name in /proc.</summary>
public static class ProcessNames
{
    /// <summary>The process's comm (/proc/PID/comm), or null if it is gone or pid is 0.</summary>
    public static string? Comm(uint pid)
    {
        if (pid == 0)
        {
            return null;
        }
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").TrimEnd('\n');
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
