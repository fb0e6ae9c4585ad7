using Microsoft.Extensions.Options;

namespace Sluice.Agent.Spool;

/// <summary>Runs an options validator outside the host (constructors that take options directly).</summary>
internal static class OptionsValidation
{
    /// <summary>Throws <see cref="OptionsValidationException"/> listing every failure, each naming its key.</summary>
    public static void ThrowIfInvalid<T>(IValidateOptions<T> validator, T options, string section)
        where T : class
    {
        var result = validator.Validate(null, options);
        if (result.Failed)
        {
            throw new OptionsValidationException(section, typeof(T), result.Failures);
        }
    }
}
