using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;
using Sluice.Agent.Configuration;

namespace Sluice.Agent.Shipping;

/// <summary>How request messages are compressed on the wire.</summary>
internal enum ShippingCompression
{
    /// <summary>gzip (grpc-encoding: gzip), which every gRPC server accepts: many times fewer bytes (the reference corpus shrinks 12.8× under gzip -1), for more CPU and memory on the host.</summary>
    Gzip,
    /// <summary>As serialized: the default (see <see cref="ShipperOptions.Compression"/>).</summary>
    None,
}

/// <summary>Where and how batches are shipped to the collector (config section "Shipping").</summary>
internal sealed class ShipperOptions
{
    public const string Section = "Shipping";

    /// <summary>Collector address, e.g. https://collector.example:7443: one collector. Set this or <see cref="CollectorUrls"/>, not both.</summary>
    public string CollectorUrl { get; set; } = "";

    /// <summary>
    /// Several collectors (all on one store), in order of preference: batches and heartbeats go to
    /// the first one that is up, and move to the next when it fails (Shipping/README.md, "Several
    /// collectors"). Set this or <see cref="CollectorUrl"/>, not both.
    /// </summary>
    public List<string> CollectorUrls { get; set; } = [];

    /// <summary>The collectors in force, in order of preference: <see cref="CollectorUrls"/>, or <see cref="CollectorUrl"/> alone.</summary>
    public IReadOnlyList<string> CollectorsInOrder() => CollectorUrls.Count > 0 ? CollectorUrls : string.IsNullOrEmpty(CollectorUrl) ? [] : [CollectorUrl];

    /// <summary>PEM file of the CA that signed the collector's certificate. Unset: the system trust store.</summary>
    public string? CaFile { get; set; }

    /// <summary>This agent's enrolment token, sent as "authorization: Bearer TOKEN". Set this or <see cref="TokenFile"/>.</summary>
    public string? Token { get; set; }

    /// <summary>File holding the token (first line), readable by its owner only (0600 or 0400). Re-read after the collector refuses the token.</summary>
    public string? TokenFile { get; set; }

    /// <summary>Permits an http:// collector URL (no TLS), for a collector on a loopback address only (127.0.0.0/8, ::1, localhost): elsewhere the token and the events would travel in clear.</summary>
    public bool AllowInsecureTransport { get; set; }

    /// <summary>
    /// None by default: gzip was the agent's most expensive stage once events shipped raw (about 1.9 µs
    /// per event of the agent's 5–6, and most of its peak RSS: grpc-dotnet copies each message into a
    /// new array of its size and compresses into a growing stream), measured in
    /// tests/Sluice.Benchmarks/README.md, "Agent footprint". Gzip is for links where bytes cost more
    /// than the hosts' CPU.
    /// </summary>
    public ShippingCompression Compression { get; set; } = ShippingCompression.None;

    /// <summary>Batches sent but not yet acknowledged. Acknowledgements are still applied in order.</summary>
    [Range(1, 64)]
    public int MaxInFlight { get; set; } = 4;

    /// <summary>Time allowed to one attempt of one call before it is abandoned and retried.</summary>
    [TimeSpanRange("00:00:00.010", "00:10:00")]
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(15);

    [TimeSpanRange("00:00:00.001", "00:10:00")]
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>First retry delay; it doubles per attempt, with jitter, up to <see cref="RetryMaxDelay"/>. Retries of transient failures never give up.</summary>
    [TimeSpanRange("00:00:00.001", "00:10:00")]
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    [TimeSpanRange("00:00:00.001", "01:00:00")]
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Circuit breaker: share of failed attempts in <see cref="BreakerSamplingDuration"/> that opens it.</summary>
    [Range(0.01, 1.0)]
    public double BreakerFailureRatio { get; set; } = 0.5;

    [Range(2, int.MaxValue)]
    public int BreakerMinimumThroughput { get; set; } = 8;

    [TimeSpanRange("00:00:00.500", "01:00:00")]
    public TimeSpan BreakerSamplingDuration { get; set; } = TimeSpan.FromSeconds(30);

    [TimeSpanRange("00:00:00.500", "01:00:00")]
    public TimeSpan BreakerBreakDuration { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>After the collector refuses our credentials, or answers in a way the agent does not understand, shipping stops and is probed again this often.</summary>
    [TimeSpanRange("00:00:00.010", "1.00:00:00")]
    public TimeSpan StallProbeInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Where batches the collector refuses as invalid are set aside, with the server's reason.</summary>
    [Required]
    public string QuarantineDirectory { get; set; } = "/var/lib/sluice/quarantine";

    /// <summary>Cap of the quarantine directory; the oldest quarantined batches are deleted (and counted) beyond it.</summary>
    [Range(1024L, long.MaxValue)]
    public long QuarantineMaxBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>The token: <see cref="Token"/>, or the first line of <see cref="TokenFile"/>.</summary>
    /// <exception cref="InvalidDataException">The token file is empty, or group or others may read it.</exception>
    public string ReadToken()
    {
        if (!string.IsNullOrEmpty(Token))
        {
            return Token;
        }
        string path = TokenFile ?? throw new InvalidOperationException($"{Section}:TokenFile: neither Token nor TokenFile is set");
        if (TokenFileExposure(path) is { } exposed)
        {
            throw new InvalidDataException(exposed);
        }
        string token = File.ReadLines(path).FirstOrDefault()?.Trim() ?? "";
        if (token.Length == 0)
        {
            throw new InvalidDataException($"{Section}:TokenFile: {path} is empty");
        }
        return token;
    }

    /// <summary>Why the token file at <paramref name="path"/> may not be used (group or others can read it), or null when only its owner can.</summary>
    public static string? TokenFileExposure(string path)
    {
        var mode = File.GetUnixFileMode(path);
        if ((mode & (UnixFileMode.GroupRead | UnixFileMode.OtherRead)) == 0)
        {
            return null;
        }
        string octal = Convert.ToString((int)mode, 8).PadLeft(4, '0');
        return $"{Section}:TokenFile: {path} has mode {octal}, so {((mode & UnixFileMode.OtherRead) != 0 ? "every user" : "its group")} can read the token. Make it readable by its owner only: chmod 600 {path}";
    }

    /// <summary>True for a loopback host: localhost, 127.0.0.0/8 and ::1.</summary>
    public static bool IsLoopback(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (string.Equals(url.IdnHost, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        return System.Net.IPAddress.TryParse(url.IdnHost, out var address)
            && !address.IsIPv4MappedToIPv6
            && System.Net.IPAddress.IsLoopback(address);
    }
}

/// <summary>Attribute-based checks of <see cref="ShipperOptions"/>, generated at compile time.</summary>
[OptionsValidator]
internal sealed partial class ShipperOptionsAttributeValidator : IValidateOptions<ShipperOptions>
{
}

/// <summary>Checks of <see cref="ShipperOptions"/> that span several fields or touch files.</summary>
internal sealed class ShipperOptionsValidator : IValidateOptions<ShipperOptions>
{
    public ValidateOptionsResult Validate(string? name, ShipperOptions o)
    {
        const string S = ShipperOptions.Section;
        var failures = new List<string>();
        var attributes = new ShipperOptionsAttributeValidator().Validate(name, o);
        if (attributes.Failed)
        {
            failures.AddRange(attributes.Failures);
        }
        bool hasUrl = !string.IsNullOrEmpty(o.CollectorUrl);
        if (hasUrl && o.CollectorUrls.Count > 0)
        {
            failures.Add($"{S}:CollectorUrl / {S}:CollectorUrls: set one of them, not both (CollectorUrl '{o.CollectorUrl}', CollectorUrls [{string.Join(", ", o.CollectorUrls)}]). For several collectors, list them all in {S}:CollectorUrls and delete {S}:CollectorUrl.");
        }
        else if (!hasUrl && o.CollectorUrls.Count == 0)
        {
            failures.Add($"{S}:CollectorUrl: the collector's URL is required (or several in {S}:CollectorUrls).");
        }
        else if (hasUrl)
        {
            ValidateUrl(o, $"{S}:CollectorUrl", o.CollectorUrl, failures);
        }
        else
        {
            var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            for (int i = 0; i < o.CollectorUrls.Count; i++)
            {
                string url = o.CollectorUrls[i] ?? "";
                if (ValidateUrl(o, $"{S}:CollectorUrls:{i}", url, failures) is { } parsed && !seen.Add(parsed.GetLeftPart(UriPartial.Authority)))
                {
                    failures.Add($"{S}:CollectorUrls:{i}: '{url}' names the same collector as an earlier entry; list each collector once.");
                }
            }
        }
        bool hasToken = !string.IsNullOrEmpty(o.Token);
        bool hasTokenFile = !string.IsNullOrEmpty(o.TokenFile);
        if (hasToken == hasTokenFile)
        {
            failures.Add($"{S}:Token / {S}:TokenFile: set exactly one of them (found {(hasToken ? "both" : "neither")}).");
        }
        else if (hasTokenFile)
        {
            try
            {
                o.ReadToken();
            }
            catch (InvalidDataException e) when (e.Message.StartsWith(S + ":TokenFile:", StringComparison.Ordinal))
            {
                failures.Add(e.Message);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                failures.Add($"{S}:TokenFile: cannot read a token from '{o.TokenFile}': {e.Message}");
            }
        }
        if (!string.IsNullOrEmpty(o.CaFile))
        {
            try
            {
                if (CollectorChannel.LoadCaCertificates(o.CaFile).Count == 0)
                {
                    failures.Add($"{S}:CaFile: '{o.CaFile}' holds no PEM certificate.");
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                failures.Add($"{S}:CaFile: cannot load '{o.CaFile}': {e.Message}");
            }
        }
        if (o.RetryMaxDelay < o.RetryBaseDelay)
        {
            failures.Add($"{S}:RetryMaxDelay: {o.RetryMaxDelay} is shorter than {S}:RetryBaseDelay ({o.RetryBaseDelay}).");
        }
        if (!Enum.IsDefined(o.Compression))
        {
            failures.Add($"{S}:Compression: '{o.Compression}' is not one of Gzip, None.");
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    // One collector URL: absolute https://, or http:// to a loopback address with AllowInsecureTransport. Returns it parsed when valid.
    private static Uri? ValidateUrl(ShipperOptions o, string key, string value, List<string> failures)
    {
        const string S = ShipperOptions.Section;
        if (!Uri.TryCreate(value, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttps && url.Scheme != Uri.UriSchemeHttp))
        {
            failures.Add($"{key}: '{value}' is not an absolute https:// URL.");
            return null;
        }
        if (url.Scheme == Uri.UriSchemeHttp && !o.AllowInsecureTransport)
        {
            failures.Add($"{key}: '{value}' is plain http; the token would travel in clear. Use https://, or set {S}:AllowInsecureTransport for a test collector on this host.");
            return null;
        }
        if (url.Scheme == Uri.UriSchemeHttp && !ShipperOptions.IsLoopback(url))
        {
            failures.Add($"{S}:AllowInsecureTransport: '{value}' ({key}) is plain http to {url.Host}, which is not a loopback address; the token and the events would cross the network in clear. Cleartext is allowed only to 127.0.0.0/8, ::1 or localhost: use https:// (with {S}:CaFile for a private CA).");
            return null;
        }
        return url;
    }

    /// <summary>Throws <see cref="OptionsValidationException"/> listing every failure.</summary>
    public static void ThrowIfInvalid(ShipperOptions options) => Sluice.Agent.Spool.OptionsValidation.ThrowIfInvalid(new ShipperOptionsValidator(), options, ShipperOptions.Section);
}
