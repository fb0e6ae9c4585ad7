using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Sluice.Agent.Configuration;

/// <summary>Loads agent.json plus SLUICE_* environment overrides, and validates it before anything touches the kernel.</summary>
internal static class AgentConfiguration
{
    public const string DefaultPath = "/etc/sluice/agent.json";

    /// <summary>Environment variables <c>SLUICE_Drain__IntervalMs=50</c> override <c>Drain:IntervalMs</c>.</summary>
    public const string EnvironmentPrefix = "SLUICE_";

    /// <summary>
    /// Builds the configuration. A missing file is an error only when it was named explicitly;
    /// the default path may be absent (the embedded defaults apply).
    /// </summary>
    public static IConfiguration Build(string? path)
    {
        var builder = new ConfigurationBuilder();
        string file = path ?? DefaultPath;
        if (path is not null && !File.Exists(file))
        {
            throw new ConfigurationException($"config file {file}: not found");
        }
        if (File.Exists(file))
        {
            try
            {
                using var probe = File.OpenRead(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ConfigurationException($"config file {file}: cannot be read: {e.Message}");
            }
            builder.AddJsonFile(Path.GetFullPath(file), optional: false, reloadOnChange: false);
        }
        builder.AddEnvironmentVariables(EnvironmentPrefix);
        try
        {
            return builder.Build();
        }
        catch (Exception e) when (e is FormatException or InvalidDataException or System.Text.Json.JsonException)
        {
            throw new ConfigurationException($"config file {file}: not valid JSON: {e.Message}");
        }
    }

    /// <summary>Registers the options with binding that refuses unknown keys, and both validators.</summary>
    public static IServiceCollection AddAgentOptions(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptionsWithValidateOnStart<AgentOptions>()
            .Configure(_ => AgentOptions.RefuseRemovedKeys(configuration))
            .Bind(configuration, o => o.ErrorOnUnknownConfiguration = true)
            .PostConfigure(o => o.Sink.Type = SinkOptions.TypeFrom(configuration) ?? o.Sink.Type);
        services.AddSingleton<IValidateOptions<AgentOptions>, AgentOptionsValidator>();
        services.AddSingleton<IValidateOptions<AgentOptions>, AgentOptionsCrossValidator>();
        return services;
    }

    /// <summary>Binds and validates now, turning every failure into one message that names the key.</summary>
    public static AgentOptions Resolve(IServiceProvider services)
    {
        try
        {
            var options = services.GetRequiredService<IOptions<AgentOptions>>().Value;
            if (options.Sink.Type == SinkType.Collector)
            {
                // The delivery sections (spool, shipping, batching: the token file and its mode, a
                // cleartext URL) are bad configuration too, found before the kernel is touched.
                _ = services.GetRequiredService<IOptions<Spool.SpoolOptions>>().Value;
                _ = services.GetRequiredService<IOptions<Shipping.ShipperOptions>>().Value;
                _ = services.GetRequiredService<IOptions<Shipping.BatcherOptions>>().Value;
            }
            return options;
        }
        catch (OptionsValidationException e)
        {
            throw new ConfigurationException("invalid configuration:\n  " + string.Join("\n  ", e.Failures));
        }
        catch (InvalidOperationException e)
        {
            // The binder names the key: "'Foo' was not found on type ..." or
            // "Failed to convert configuration value at 'Drain:IntervalMs' to type ...".
            throw new ConfigurationException("invalid configuration: " + e.Message);
        }
    }

    /// <summary>Loads and validates in one step, for verbs that don't run the host.</summary>
    public static AgentOptions Load(string? path)
    {
        var services = new ServiceCollection().AddAgentOptions(Build(path)).BuildServiceProvider();
        return Resolve(services);
    }
}

/// <summary>The configuration cannot be used; the message says which key and why.</summary>
internal sealed class ConfigurationException(string message) : Exception(message);
