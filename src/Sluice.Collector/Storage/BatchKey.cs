namespace Sluice.Collector.Storage;

/// <summary>A batch's identity beyond (agent, epoch, sequence): its content digest.</summary>
internal static class BatchKey
{
    /// <summary>
    /// Whether a batch whose digest is <paramref name="incoming"/> is a resend of the one stored under its key.
    /// Rows stored before schema 6 have no digest (''): taken as the same, as they were then.
    /// </summary>
    public static bool SameContent(string stored, string incoming) => stored.Length == 0 || stored == incoming;
}
