using System.Globalization;
using System.Text;
using Sluice.Collector.Export;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Streaming;

/// <summary>
/// Subjects and message ids of the event stream: <c>sluice.events.AGENT.CLASS</c>, and
/// <c>AGENT:KEY:SEQUENCE:SERIAL:ORDINAL</c> as the <c>Nats-Msg-Id</c> that JetStream deduplicates on.
/// </summary>
/// <remarks>
/// An agent id is one subject token. NATS gives '.' (token separator), '*' and '>' (wildcards) and
/// whitespace a meaning, and a token may not be empty, so ids are percent-encoded: the UTF-8 bytes
/// A-Z a-z 0-9 '-' '_' stay as they are, every other byte becomes '%' and two upper-case hex digits,
/// and the empty id is a lone '%'. The encoding is reversible (<see cref="DecodeToken"/>) and the
/// same for every collector, so a consumer can subscribe to one agent:
/// <c>sluice.events.web-1%2Eexample%2Ecom.&gt;</c> for <c>web-1.example.com</c>.
/// </remarks>
internal static class StreamSubjects
{
    /// <summary>The subjects the collector publishes on and a stream it creates takes.</summary>
    public const string Filter = "sluice.events.>";

    public const string Prefix = "sluice.events.";

    /// <summary>The shape of every subject published: an existing stream's subjects must cover it.</summary>
    public const string Shape = "sluice.events.*.*";

    /// <summary><c>sluice.events.AGENT.CLASS</c>, AGENT encoded by <see cref="EncodeToken"/>.</summary>
    public static string Subject(string agentId, EventClass eventClass) =>
        string.Concat(Prefix, EncodeToken(agentId), ".", OcsfEvent.Token(eventClass));

    /// <summary>
    /// The message id of the event at <paramref name="ordinal"/> of a batch:
    /// <c>AGENT:E<i>epoch</i>:SEQUENCE:SERIAL:ORDINAL</c>, or <c>AGENT:B<i>boot_id</i>:...</c> when the batch has no epoch
    /// (agents before epochs), AGENT, epoch and boot id encoded by <see cref="EncodeToken"/>.
    /// </summary>
    /// <remarks>
    /// (agent, epoch, sequence) is the batch's key in the store, stored once with one content, so the
    /// ordinal makes the id unique and the same for every resend of the batch. The serial alone would
    /// not: serials repeat within a batch (0 for events that did not come from the kernel's numbering,
    /// and a serial reused after a reboot in a batch spanning it); it is kept for people reading ids.
    /// </remarks>
    public static string MessageId(string agentId, string epoch, string bootId, ulong sequence, ulong serial, int ordinal) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{EncodeToken(agentId)}:{(epoch.Length > 0 ? "E" + EncodeToken(epoch) : "B" + EncodeToken(bootId))}:{sequence}:{serial}:{ordinal}");

    /// <summary>The OCSF class and activity of <paramref name="e"/>; null if the classifier fails (the subject says "other").</summary>
    /// <remarks>
    /// A classifier that throws must not keep an event out of the stream; it goes out under "other". The activity is
    /// worked out once per event: the subject takes its class, and the OCSF payload is written from it.
    /// </remarks>
    public static OcsfActivity? Activity(Event e, out Exception? failure)
    {
        try
        {
            failure = null;
            return OcsfActivity.Of(e);
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            failure = error;
            return null;
        }
    }

    /// <summary>Percent-encodes <paramref name="value"/> into one valid subject token (see the remarks of the class).</summary>
    public static string EncodeToken(string value)
    {
        if (value.Length == 0)
        {
            return "%";
        }
        bool plain = true;
        foreach (char c in value)
        {
            if (!Plain(c))
            {
                plain = false;
                break;
            }
        }
        if (plain)
        {
            return value;
        }
        var text = new StringBuilder(value.Length * 3);
        foreach (byte b in Encoding.UTF8.GetBytes(value))
        {
            if (Plain((char)b))
            {
                text.Append((char)b);
            }
            else
            {
                text.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
        }
        return text.ToString();
    }

    /// <summary>The value <see cref="EncodeToken"/> made <paramref name="token"/> from.</summary>
    /// <exception cref="FormatException">Not a token <see cref="EncodeToken"/> makes.</exception>
    public static string DecodeToken(string token)
    {
        if (token == "%")
        {
            return "";
        }
        var bytes = new List<byte>(token.Length);
        for (int i = 0; i < token.Length; i++)
        {
            char c = token[i];
            if (Plain(c))
            {
                bytes.Add((byte)c);
            }
            else if (c == '%' && i + 2 < token.Length && byte.TryParse(token.AsSpan(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte b))
            {
                bytes.Add(b);
                i += 2;
            }
            else
            {
                throw new FormatException($"'{token}' is not an encoded subject token");
            }
        }
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes.ToArray());
        }
        catch (DecoderFallbackException e)
        {
            throw new FormatException($"'{token}' is not an encoded subject token: {e.Message}", e);
        }
    }

    /// <summary>True when subject pattern <paramref name="pattern"/> (with '*' and '>') matches every subject <paramref name="filter"/> matches.</summary>
    public static bool Covers(string pattern, string filter)
    {
        string[] p = pattern.Split('.');
        string[] f = filter.Split('.');
        for (int i = 0; i < p.Length; i++)
        {
            if (p[i] == ">")
            {
                return i < f.Length;
            }
            if (i >= f.Length || f[i] == ">")
            {
                return false;
            }
            if (p[i] != "*" && (p[i] != f[i] || f[i] == "*"))
            {
                return false;
            }
        }
        return p.Length == f.Length;
    }

    private static bool Plain(char c) => c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_';
}
