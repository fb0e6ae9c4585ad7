using Microsoft.Extensions.Options;
using Sluice.Audit.Tables;

namespace Sluice.Agent.Configuration;

/// <summary>Checks the DataAnnotations of <see cref="AgentOptions"/> and its sections (source-generated).</summary>
[OptionsValidator]
internal sealed partial class AgentOptionsValidator : IValidateOptions<AgentOptions>;

/// <summary>Rules that span several fields, or need the kernel tables.</summary>
internal sealed class AgentOptionsCrossValidator : IValidateOptions<AgentOptions>
{
    public ValidateOptionsResult Validate(string? name, AgentOptions o)
    {
        var errors = new List<string>();
        if (o.Drain.MinIntervalMs > o.Drain.IntervalMs)
        {
            errors.Add($"Drain:MinIntervalMs ({o.Drain.MinIntervalMs}) must not exceed Drain:IntervalMs ({o.Drain.IntervalMs})");
        }
        if (o.Reservoir.InitialBufferBytes > o.Reservoir.MaxBufferBytes)
        {
            errors.Add($"Reservoir:InitialBufferBytes ({o.Reservoir.InitialBufferBytes}) must not exceed Reservoir:MaxBufferBytes ({o.Reservoir.MaxBufferBytes})");
        }
        if (o.Kernel.BacklogLimit > o.Kernel.MaxBacklogLimit)
        {
            errors.Add($"Kernel:BacklogLimit ({o.Kernel.BacklogLimit}) must not exceed Kernel:MaxBacklogLimit ({o.Kernel.MaxBacklogLimit})");
        }
        if (o.Kernel.Failure == 2 && !o.Kernel.AllowPanic)
        {
            errors.Add("Kernel:Failure is 2 (panic on the first lost record) but Kernel:AllowPanic is false; set AllowPanic to confirm");
        }
        if (o.Sink.Type == SinkType.JsonLines && string.IsNullOrWhiteSpace(o.Sink.Path))
        {
            errors.Add("Sink:Path is required when Sink:Type is JsonLines");
        }
        if (o.Interpretation.ResolveNames && !Path.IsPathRooted(o.Interpretation.AccountsRoot))
        {
            errors.Add($"Interpretation:AccountsRoot must be an absolute directory, not '{o.Interpretation.AccountsRoot}'");
        }
        if (!Path.IsPathRooted(o.StateDirectory))
        {
            errors.Add($"StateDirectory must be an absolute path, not '{o.StateDirectory}'");
        }
        try
        {
            _ = Metrics.MetricsListen.Parse(o.Status.MetricsListen);
        }
        catch (FormatException e)
        {
            errors.Add(e.Message);
        }
        for (int i = 0; i < o.Rules.EffectiveFiles.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(o.Rules.EffectiveFiles[i]))
            {
                errors.Add($"Rules:Files:{i} is empty");
            }
        }
        for (int i = 0; i < o.Filters.Count; i++)
        {
            var f = o.Filters[i];
            foreach (var type in f.RecordTypes ?? [])
            {
                if (!AuditMessageTypeTable.TryGetType(type, out _))
                {
                    errors.Add($"Filters:{i}:RecordTypes: unknown record type '{type}'");
                }
            }
            foreach (var syscall in f.Syscalls ?? [])
            {
                if (!SyscallTable.TryGetNumber(AuditArch.X86_64, syscall, out _)
                    && !SyscallTable.TryGetNumber(AuditArch.I386, syscall, out _)
                    && !SyscallTable.TryGetNumber(AuditArch.Aarch64, syscall, out _))
                {
                    errors.Add($"Filters:{i}:Syscalls: unknown syscall '{syscall}'");
                }
            }
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
