using System.ComponentModel.DataAnnotations;
using System.Globalization;

namespace Sluice.Agent.Configuration;

/// <summary>
/// A <see cref="TimeSpan"/> option must lie between two limits, inclusive; the limits are written as
/// TimeSpan text in the invariant culture ("00:00:00.010", "1.00:00:00").
/// </summary>
/// <remarks>
/// DataAnnotations' <c>RangeAttribute(Type, string, string)</c> converts its limits through a
/// TypeConverter found by reflection, so the trimmer cannot keep what it needs (the agent is
/// compiled ahead of time). This one parses its limits itself, and its failure reads as
/// RangeAttribute's does: "The field X must be between MIN and MAX." with the limits as written.
/// </remarks>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field | AttributeTargets.Parameter, AllowMultiple = false)]
internal sealed class TimeSpanRangeAttribute : ValidationAttribute
{
    public TimeSpanRangeAttribute(string minimum, string maximum)
        : base("The field {0} must be between {1} and {2}.")
    {
        MinimumText = minimum;
        MaximumText = maximum;
        Minimum = Parse(minimum, nameof(minimum));
        Maximum = Parse(maximum, nameof(maximum));
        if (Minimum > Maximum)
        {
            throw new ArgumentException($"minimum {minimum} is above maximum {maximum}", nameof(minimum));
        }
    }

    public string MinimumText { get; }

    public string MaximumText { get; }

    public TimeSpan Minimum { get; }

    public TimeSpan Maximum { get; }

    /// <summary>Null is valid (as for RangeAttribute: [Required] is the check for presence); anything but a TimeSpan is not.</summary>
    public override bool IsValid(object? value) => value switch
    {
        null => true,
        TimeSpan t => t >= Minimum && t <= Maximum,
        _ => false,
    };

    public override string FormatErrorMessage(string name) =>
        string.Format(CultureInfo.CurrentCulture, ErrorMessageString, name, MinimumText, MaximumText);

    private static TimeSpan Parse(string text, string parameter) =>
        TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new ArgumentException($"'{text}' is not a TimeSpan (d.hh:mm:ss.fff)", parameter);
}
