using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using Sluice.Agent.Configuration;

namespace Sluice.Agent.Shipping;

/// <summary>When a batch is cut (config section "Batching"): at <see cref="MaxEvents"/>, <see cref="MaxBytes"/> or <see cref="MaxDelay"/>, whichever comes first.</summary>
internal sealed class BatcherOptions
{
    public const string Section = "Batching";

    [Range(1, 100_000)]
    public int MaxEvents { get; set; } = 2000;

    /// <summary>Serialized size of a batch's events; a single larger event still goes out, alone.</summary>
    [Range(1024, 64 * 1024 * 1024)]
    public int MaxBytes { get; set; } = 1024 * 1024;

    /// <summary>Longest time an event waits in an open batch.</summary>
    [TimeSpanRange("00:00:00.001", "00:10:00")]
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>Attribute-based checks of <see cref="BatcherOptions"/>, generated at compile time.</summary>
[OptionsValidator]
internal sealed partial class BatcherOptionsValidator : IValidateOptions<BatcherOptions>
{
    /// <summary>Throws <see cref="OptionsValidationException"/> listing every failure.</summary>
    public static void ThrowIfInvalid(BatcherOptions options) => Sluice.Agent.Spool.OptionsValidation.ThrowIfInvalid(new BatcherOptionsValidator(), options, BatcherOptions.Section);
}
