using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using Sluice.Agent.Configuration;

namespace Sluice.Agent.Spool;

/// <summary>When the spool forces written batches to stable storage.</summary>
internal enum FsyncMode
{
    /// <summary>fsync after every batch, before the batch becomes visible to the shipper (default).</summary>
    PerBatch,
    /// <summary>fsync at most every <see cref="SpoolOptions.FsyncInterval"/>; batches become visible to the shipper after that fsync.</summary>
    Interval,
    /// <summary>Never fsync; the page cache survives a process crash but not a power loss.</summary>
    Never,
}

/// <summary>Configuration of the on-disk spool between the pipeline and the shipper (config section "Spool").</summary>
internal sealed class SpoolOptions
{
    public const string Section = "Spool";

    /// <summary>Directory that holds the segment files and the state file; created if missing.</summary>
    [Required]
    public string Directory { get; set; } = "/var/lib/sluice/spool";

    /// <summary>Size cap of all segment files together. When a new batch does not fit, the oldest segments are dropped and counted.</summary>
    [Range(64 * 1024L, long.MaxValue)]
    public long MaxBytes { get; set; } = 1024L * 1024 * 1024;

    /// <summary>A segment is closed and a new one started when the next batch would make it larger than this.</summary>
    [Range(16 * 1024L, 1024L * 1024 * 1024)]
    public long SegmentBytes { get; set; } = 16L * 1024 * 1024;

    public FsyncMode Fsync { get; set; } = FsyncMode.PerBatch;

    /// <summary>Used with <see cref="FsyncMode.Interval"/>.</summary>
    [TimeSpanRange("00:00:00.001", "00:10:00")]
    public TimeSpan FsyncInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The acknowledged position is written to disk at most this often (and always before a segment is deleted). A crash may resend what was acknowledged since; the collector deduplicates it.</summary>
    [TimeSpanRange("00:00:00", "01:00:00")]
    public TimeSpan AckPersistInterval { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>Attribute-based checks of <see cref="SpoolOptions"/>, generated at compile time.</summary>
[OptionsValidator]
internal sealed partial class SpoolOptionsAttributeValidator : IValidateOptions<SpoolOptions>
{
}

/// <summary>Checks of <see cref="SpoolOptions"/> that span several fields.</summary>
internal sealed class SpoolOptionsValidator : IValidateOptions<SpoolOptions>
{
    /// <summary>The cap must hold at least this many segments, so that a drop removes a small part of the spool.</summary>
    public const int MinSegmentsPerCap = 4;

    /// <summary>Open file handles are kept per segment; this bounds their number.</summary>
    public const long MaxSegmentsPerCap = 4096;

    public ValidateOptionsResult Validate(string? name, SpoolOptions options)
    {
        var failures = new List<string>();
        var attributes = new SpoolOptionsAttributeValidator().Validate(name, options);
        if (attributes.Failed)
        {
            failures.AddRange(attributes.Failures);
        }
        if (string.IsNullOrWhiteSpace(options.Directory))
        {
            failures.Add($"{SpoolOptions.Section}:Directory: must name a directory.");
        }
        if (options.SegmentBytes > 0 && options.MaxBytes / options.SegmentBytes < MinSegmentsPerCap)
        {
            failures.Add($"{SpoolOptions.Section}:SegmentBytes: {options.SegmentBytes} is more than 1/{MinSegmentsPerCap} of {SpoolOptions.Section}:MaxBytes ({options.MaxBytes}); a full spool would drop too much at once.");
        }
        if (options.SegmentBytes > 0 && options.MaxBytes / options.SegmentBytes > MaxSegmentsPerCap)
        {
            failures.Add($"{SpoolOptions.Section}:SegmentBytes: {options.SegmentBytes} makes more than {MaxSegmentsPerCap} segments under {SpoolOptions.Section}:MaxBytes ({options.MaxBytes}); use larger segments.");
        }
        if (!Enum.IsDefined(options.Fsync))
        {
            failures.Add($"{SpoolOptions.Section}:Fsync: '{options.Fsync}' is not one of PerBatch, Interval, Never.");
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>Throws <see cref="OptionsValidationException"/> listing every failure.</summary>
    public static void ThrowIfInvalid(SpoolOptions options) => Sluice.Agent.Spool.OptionsValidation.ThrowIfInvalid(new SpoolOptionsValidator(), options, SpoolOptions.Section);
}
