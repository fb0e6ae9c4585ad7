using NATS.Client.Core;

namespace Sluice.Collector.Streaming;

/// <summary>
/// <c>--stream-credentials FILE</c>: a NATS .creds file (user JWT and NKey seed, as <c>nsc</c> writes it), or a file
/// whose first line that is not blank or a <c>#</c> comment is <c>USER:PASSWORD</c> or, without a colon, a token.
/// </summary>
/// <remarks>
/// The file is refused if its group or others have any access to it, as the agents' token file is
/// (<see cref="Auth.SecretFile"/>, which also takes it from systemd's <c>LoadCredential=</c>): it holds a secret
/// that lets its reader publish into (or read) the stream. A password containing ':' is fine (the first
/// colon separates); a token cannot contain one.
/// </remarks>
internal static class StreamCredentials
{
    private const string CredsMarker = "-----BEGIN NATS USER JWT-----";

    /// <exception cref="FormatException">The file cannot be read, is open to others, or holds nothing usable; the message names it.</exception>
    public static NatsAuthOpts Load(string path)
    {
        string text = Auth.SecretFile.ReadAllText(path, "--stream-credentials", "the secret that publishes into the stream");
        if (text.Contains(CredsMarker, StringComparison.Ordinal))
        {
            return new NatsAuthOpts { Creds = text };
        }
        string? line = text.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0 && l[0] != '#');
        if (line is null)
        {
            throw new FormatException($"--stream-credentials {path}: no credentials in it (a .creds file, USER:PASSWORD, or a token)");
        }
        int colon = line.IndexOf(':', StringComparison.Ordinal);
        return colon < 0
            ? new NatsAuthOpts { Token = line }
            : new NatsAuthOpts { Username = line[..colon], Password = line[(colon + 1)..] };
    }
}
