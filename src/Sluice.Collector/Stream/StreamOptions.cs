using System.Globalization;
using System.Text.RegularExpressions;

namespace Sluice.Collector.Streaming;

/// <summary>The format of each message's payload (<c>--stream-format</c>).</summary>
internal enum StreamFormat
{
    /// <summary>The replay JSON of <c>export</c> (<see cref="Export.ReplayPayload"/>).</summary>
    Replay,

    /// <summary>OCSF JSON (<see cref="Export.OcsfEvent"/>).</summary>
    Ocsf,
}

/// <summary>What <c>serve --stream ...</c> is told: where to publish the stored events, and how much to hold while it cannot.</summary>
internal sealed partial record StreamOptions
{
    public const string DefaultName = "SLUICE_EVENTS";

    /// <summary>
    /// 50,000 events: enough to ride out a leader election or a reconnect at a fleet's usual rates. Each buffered
    /// event is the decoded event the agent sent: 3.9–4.1 KB of managed memory measured on the reference corpus's
    /// kernel events (records and interpreted fields), so about 200 MB when full.
    /// </summary>
    public const int DefaultBufferEvents = 50_000;

    public const int MaxBufferEvents = 10_000_000;

    /// <summary>150 ms: well under an agent's call deadline, and enough to ride out a publisher that is only slow for a moment.</summary>
    public static readonly TimeSpan DefaultMaxWait = TimeSpan.FromMilliseconds(150);

    /// <summary>
    /// The duplicate window of a stream the collector creates: JetStream drops a message whose Nats-Msg-Id it saw
    /// this recently. 10 minutes covers an agent's resend after a lost acknowledgement (its retry backoff stays
    /// under a minute) and the time an event waits in the collector's buffer.
    /// </summary>
    public static readonly TimeSpan DuplicateWindow = TimeSpan.FromMinutes(10);

    /// <summary>An existing stream with a shorter duplicate window is used, with a warning.</summary>
    public static readonly TimeSpan ShortDuplicateWindow = TimeSpan.FromMinutes(2);

    /// <summary>Seed URLs (<c>nats://HOST:PORT</c> or <c>tls://HOST:PORT</c>); the client learns the rest of the cluster from the server it reaches.</summary>
    public required IReadOnlyList<Uri> Servers { get; init; }

    public string Name { get; init; } = DefaultName;

    public StreamFormat Format { get; init; } = StreamFormat.Replay;

    /// <summary>Replicas of a stream the collector creates (1–5); an existing stream keeps its own.</summary>
    public int Replicas { get; init; } = 1;

    /// <summary>Events held for publishing at most (<c>--stream-buffer-events</c>).</summary>
    public int BufferEvents { get; init; } = DefaultBufferEvents;

    /// <summary>How long an ingest call may wait for room in the buffer before its events are dropped from the stream (<c>--stream-max-wait</c>); no wait while disconnected.</summary>
    public TimeSpan MaxWait { get; init; } = DefaultMaxWait;

    /// <summary>A NATS .creds file, or a file with <c>USER:PASSWORD</c> or a token on its first line (<c>--stream-credentials</c>).</summary>
    public string? CredentialsFile { get; init; }

    /// <summary>Publishes awaiting their acknowledgement at once.</summary>
    public int InFlight { get; init; } = 64;

    /// <summary>How long shutdown waits for the buffer to drain before the rest is counted as dropped.</summary>
    public TimeSpan FlushTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Parses <c>--stream</c>: one URL or several separated by commas.</summary>
    /// <exception cref="ArgumentException">The message names the option and the value.</exception>
    public static IReadOnlyList<Uri> ParseServers(string value)
    {
        var servers = new List<Uri>();
        foreach (string part in value.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!Uri.TryCreate(part, UriKind.Absolute, out var uri) || uri.Scheme is not ("nats" or "tls") || uri.Host.Length == 0
                || uri.AbsolutePath is not ("" or "/") || uri.Query.Length > 0)
            {
                throw new ArgumentException($"--stream '{part}': expected nats://HOST:PORT (or tls://HOST:PORT), several separated by commas");
            }
            if (uri.UserInfo.Length > 0)
            {
                // Every local user can read a command line (ps); the credentials go in a private file.
                throw new ArgumentException($"--stream '{uri.Scheme}://...@{uri.Host}': no credentials in the URL, where any local user can read them; give them in --stream-credentials FILE");
            }
            servers.Add(new UriBuilder(uri.Scheme, uri.Host, uri.IsDefaultPort || uri.Port < 0 ? 4222 : uri.Port).Uri);
        }
        return servers;
    }

    public static StreamFormat ParseFormat(string value) => value switch
    {
        "replay" => StreamFormat.Replay,
        "ocsf" => StreamFormat.Ocsf,
        _ => throw new ArgumentException($"--stream-format '{value}': expected replay or ocsf"),
    };

    /// <summary>A whole number for <paramref name="option"/> in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public static int ParseInt(string option, string value, int min, int max) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= min && n <= max
            ? n
            : throw new ArgumentException($"{option} '{value}': expected a whole number from {min} to {max}");

    /// <summary>Checks the values; throws naming the option.</summary>
    public void Validate()
    {
        if (Servers.Count == 0)
        {
            throw new ArgumentException("--stream: at least one nats://HOST:PORT");
        }
        if (!StreamName().IsMatch(Name))
        {
            throw new ArgumentException($"--stream-name '{Name}': 1-64 characters of A-Z a-z 0-9 _ -");
        }
        if (Replicas is < 1 or > 5)
        {
            throw new ArgumentException($"--stream-replicas {Replicas}: expected 1 to 5");
        }
        if (BufferEvents is < 1 or > MaxBufferEvents)
        {
            throw new ArgumentException($"--stream-buffer-events {BufferEvents}: expected 1 to {MaxBufferEvents}");
        }
        if (MaxWait < TimeSpan.Zero || MaxWait > TimeSpan.FromMinutes(1))
        {
            throw new ArgumentException($"--stream-max-wait {MaxWait.TotalMilliseconds}: expected 0 to 60000 ms");
        }
        if (CredentialsFile is { Length: 0 })
        {
            throw new ArgumentException("--stream-credentials: a file name");
        }
        if (InFlight < 1 || FlushTimeout < TimeSpan.Zero)
        {
            throw new ArgumentException("the stream's in-flight limit must be positive and its flush timeout not negative");
        }
    }

    // NATS forbids whitespace, '.', '*', '>' and path separators in stream names; a narrower set also suits file names and shells.
    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex StreamName();
}
