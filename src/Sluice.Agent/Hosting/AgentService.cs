using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sluice.Agent.Configuration;
using Sluice.Agent.Draining;
using Sluice.Agent.Kernel;
using Sluice.Agent.Monitoring;
using Sluice.Audit.Netlink;

namespace Sluice.Agent.Hosting;

/// <summary>
/// The agent's startup and shutdown sequence around the Quartz jobs. Registered before the
/// Quartz hosted service, so it starts first and stops last: the jobs never run against a
/// socket that is not there, and the final drain happens after the last scheduled one.
/// </summary>
internal sealed partial class AgentService(
    AgentOptions options,
    KernelSession session,
    KernelOwnership ownership,
    IRulesLoader rules,
    DrainController controller,
    Func<IRecordPipeline> pipelineFactory,
    AgentMetrics metrics,
    ILogger<AgentService> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        metrics.Mode = options.Mode == AgentMode.Unicast ? "unicast" : "multicast";
        AuditEventSocket? socket = null;
        try
        {
            if (options.Mode == AgentMode.Unicast)
            {
                ownership.TakeOver(session.Control);
                metrics.Immutable = ownership.Immutable;
                session.WantedBacklogLimit = ownership.Immutable ? session.Control.GetStatus().BacklogLimit : options.Kernel.BacklogLimit;
            }
            else
            {
                Log.Multicast(logger);
            }

            socket = AuditEventSocket.Open(options.Mode == AgentMode.Unicast ? AuditReceiveMode.Unicast : AuditReceiveMode.Multicast,
                options.Drain.ReceiveBatch);
            int granted = socket.SetReceiveBuffer(options.Reservoir.InitialBufferBytes);
            Log.Buffer(logger, options.Reservoir.InitialBufferBytes, granted);

            if (options.Mode == AgentMode.Unicast)
            {
                socket.ClaimConsumer();
                Log.Claimed(logger, Environment.ProcessId);
                if (!ownership.Immutable)
                {
                    session.LoadedRules = rules.Load(session.Control);
                    metrics.RulesLoaded = session.LoadedRules.Count;
                }
                else
                {
                    metrics.RulesLoaded = session.Control.ListRules().Count;
                }
                metrics.RulesHash = rules.Hash;
            }
            if (options.Enrichment.Enabled)
            {
                WarnMissingProcessRules(session.Control.ListRules());
            }
            metrics.BacklogLimit = (int)session.Control.GetStatus().BacklogLimit;
            controller.Attach(socket, pipelineFactory());
            Log.Started(logger, options.Drain.IntervalMs, options.Drain.BatchCap);
            Log.Sink(logger, options.Sink.Type switch
            {
                SinkType.Collector => $"{(options.Shipping.CollectorsInOrder().Count > 1 ? "the collectors at " : "the collector at ")}{string.Join(", ", options.Shipping.CollectorsInOrder())}, through the spool in {options.Spool.Directory}",
                SinkType.Stdout => "standard output, as JSON Lines",
                _ => $"{options.Sink.Path}, as JSON Lines",
            });
        }
        catch (Exception e)
        {
            Log.StartFailed(logger, e.Message);
            // Leave the host as it was found, even though the start failed half-way.
            controller.Dispose();
            socket?.Dispose();
            RestoreHost();
            throw;
        }
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Log.Stopping(logger);
        try
        {
            controller.FinalDrain();
        }
        catch (Exception e)
        {
            Log.FinalDrainFailed(logger, e.Message);
        }
        var final = metrics.Snapshot();
        Log.Totals(logger, final.Records, final.Events, final.Filtered, final.Written, final.TotalLoss);
        if (controller.IsRunning && controller.Socket.IsConsumer)
        {
            try
            {
                controller.Socket.ReleaseConsumer();
                Log.Released(logger);
            }
            catch (AuditException e)
            {
                Log.ReleaseFailed(logger, e.Message);
            }
        }
        controller.Dispose();
        RestoreHost();
        return Task.CompletedTask;
    }

    private void RestoreHost()
    {
        if (ownership.State is not { } state)
        {
            return;
        }
        try
        {
            var report = ownership.Restore(session.Control, state);
            foreach (var note in report.Notes)
            {
                Log.RestoreNote(logger, note);
            }
            Log.Restored(logger, report.RulesDeleted, report.RulesAdded, string.Join(", ", report.SettingsRestored), report.AuditdStarted);
        }
        catch (Exception e)
        {
            Log.RestoreFailed(logger, e.Message);
        }
    }

    /// <summary>One warning naming the exec, fork and exit_group rules the process table lacks; the agent never adds them.</summary>
    private void WarnMissingProcessRules(IReadOnlyList<Sluice.Audit.Rules.KernelRule> loaded)
    {
        var missing = Enrichment.RuleAdvisor.Missing(loaded, Sluice.Audit.Tables.AuditArch.Machine);
        if (missing.Count > 0)
        {
            Log.ProcessRulesMissing(logger, Enrichment.RuleAdvisor.Describe(missing));
        }
    }

    private static partial class Log
    {
        [LoggerMessage(139, LogLevel.Warning, "Process context: the rules in force produce no events for {Missing}; parents, ancestry and exits of such processes will be UNKNOWN or late. `sluice-agent rules suggest` prints the rules to add (the agent never adds them itself)")]
        public static partial void ProcessRulesMissing(ILogger logger, string missing);

        [LoggerMessage(60, LogLevel.Information, "Compatibility mode: reading the audit multicast group; auditd keeps running, no kernel settings or rules are changed, delivery is best effort")]
        public static partial void Multicast(ILogger logger);

        [LoggerMessage(61, LogLevel.Information, "Receive buffer: asked {Asked} bytes, granted {Granted}")]
        public static partial void Buffer(ILogger logger, int asked, int granted);

        [LoggerMessage(62, LogLevel.Information, "Registered as the audit consumer (pid {Pid})")]
        public static partial void Claimed(ILogger logger, int pid);

        [LoggerMessage(63, LogLevel.Information, "Draining every {Interval} ms, at most {Cap} records per drain")]
        public static partial void Started(ILogger logger, int interval, int cap);

        [LoggerMessage(73, LogLevel.Information, "Events go to {Sink}")]
        public static partial void Sink(ILogger logger, string sink);

        [LoggerMessage(64, LogLevel.Critical, "Start failed: {Message}; restoring the host")]
        public static partial void StartFailed(ILogger logger, string message);

        [LoggerMessage(65, LogLevel.Information, "Stopping: final drain, then restore")]
        public static partial void Stopping(ILogger logger);

        [LoggerMessage(66, LogLevel.Error, "Final drain failed: {Message}")]
        public static partial void FinalDrainFailed(ILogger logger, string message);

        [LoggerMessage(67, LogLevel.Information, "Totals: {Records} records, {Events} events, {Filtered} filtered, {Written} written, {Loss} lost")]
        public static partial void Totals(ILogger logger, long records, long events, long filtered, long written, long loss);

        [LoggerMessage(68, LogLevel.Information, "Unregistered as the audit consumer")]
        public static partial void Released(ILogger logger);

        [LoggerMessage(69, LogLevel.Error, "Could not unregister: {Message}")]
        public static partial void ReleaseFailed(ILogger logger, string message);

        [LoggerMessage(70, LogLevel.Warning, "Restore: {Note}")]
        public static partial void RestoreNote(ILogger logger, string note);

        [LoggerMessage(71, LogLevel.Information, "Host restored: {Deleted} rules deleted, {Added} re-added, settings [{Settings}], auditd started: {Auditd}")]
        public static partial void Restored(ILogger logger, int deleted, int added, string settings, bool auditd);

        [LoggerMessage(72, LogLevel.Critical, "Restore failed: {Message}. Run `sluice-agent restore` to retry from the state file")]
        public static partial void RestoreFailed(ILogger logger, string message);
    }
}
