using System.Diagnostics;
using Sluice.Testing;

namespace Sluice.Benchmarks.Harness;

/// <summary>
/// Debian's auditd, in the foreground (<c>auditd -n -s nochange -c DIR</c>) with a config
/// directory of its own, so the system's <c>/etc/audit</c> is neither read nor changed. RAW log
/// format; with <c>laurel</c>, Debian's laurel runs as its audisp plugin and writes its own JSON
/// log. Delivered events are counted in the RAW log (SYSCALL records with the key), or in laurel's
/// log (its lines with the key). With laurel, CPU and peak RSS are auditd's and laurel's summed.
/// </summary>
public sealed class AuditdConsumer(bool laurel) : IConsumer
{
    public const string AuditdPath = "/usr/sbin/auditd";
    public const string LaurelPath = "/usr/sbin/laurel";
    public const string LaurelUser = "_laurel";

    private ChildProcess? _auditd;
    private int? _laurelPid;
    private TrialContext? _trial;
    private LogCounter? _counter;

    public string Name => laurel ? "auditd + laurel" : "auditd RAW";

    public IReadOnlyList<int> ConsumerPids =>
        _auditd is null ? [] : _laurelPid is int l ? [_auditd.Pid, l] : [_auditd.Pid];

    public IReadOnlyList<int> CollectorPids => [];

    /// <summary>Null when the programs this consumer needs are installed; otherwise what is missing and how to install it.</summary>
    public static string? Missing(bool laurel)
    {
        if (!File.Exists(AuditdPath))
        {
            return $"auditd is not installed ({AuditdPath} not found): apt-get install auditd";
        }
        if (laurel && !File.Exists(LaurelPath))
        {
            return $"laurel is not installed ({LaurelPath} not found): apt-get install laurel";
        }
        if (laurel && Sluice.Audit.Rules.AccountNames.UserId(LaurelUser) is null)
        {
            return $"laurel's user {LaurelUser} does not exist (Debian's laurel package creates it): apt-get install --reinstall laurel";
        }
        return null;
    }

    public void Start(TrialContext trial, CancellationToken cancel)
    {
        _trial = trial;
        string dir = Path.Combine(trial.Directory, "auditd");
        string logDir = Path.Combine(dir, "log");
        string pluginDir = Path.Combine(dir, "plugins.d");
        Directory.CreateDirectory(logDir);
        Directory.CreateDirectory(pluginDir);
        // auditd refuses config files that are not root's or that others may write.
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        File.SetUnixFileMode(pluginDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
        WriteConfig(Path.Combine(dir, "auditd.conf"), AuditdConf(logDir, pluginDir));
        string auditLog = Path.Combine(logDir, "audit.log");
        if (laurel)
        {
            string laurelDir = Path.Combine(dir, "laurel");
            Directory.CreateDirectory(laurelDir);
            var (code, output) = Sluice.Testing.NativeTools.Run("chown", $"{LaurelUser}: {laurelDir}");
            if (code != 0)
            {
                throw new InvalidOperationException($"cannot give {laurelDir} to {LaurelUser}: {output}");
            }
            WriteConfig(Path.Combine(dir, "laurel.toml"), LaurelToml(laurelDir));
            WriteConfig(Path.Combine(pluginDir, "laurel.conf"), LaurelPlugin(Path.Combine(dir, "laurel.toml")));
            // One JSON line per event; the rule's own CONFIG_CHANGE events carry the key too.
            _counter = new LogCounter(Path.Combine(laurelDir, "audit.log"), ["\"SYSCALL\":{", $"\"key\":\"{trial.Key}\""], ["\"CONFIG_CHANGE\":"]);
        }
        else
        {
            _counter = new LogCounter(auditLog, ["type=SYSCALL ", $" key=\"{trial.Key}\""]);
        }
        _auditd = ChildProcess.Start(Name, AuditdPath, ["-n", "-s", "nochange", "-c", dir]);
        ConsumerWait.Registered(trial.Control, _auditd, _auditd.Pid, TimeSpan.FromSeconds(60), cancel);
        if (laurel)
        {
            var sw = Stopwatch.StartNew();
            while (_laurelPid is null)
            {
                _laurelPid = ProcStat.Children(_auditd.Pid).Cast<int?>().FirstOrDefault(p => Comm(p!.Value) == "laurel");
                if (_laurelPid is not null)
                {
                    break;
                }
                _auditd.ThrowIfExited("starting laurel");
                if (sw.Elapsed > TimeSpan.FromSeconds(30))
                {
                    throw new TimeoutException($"auditd did not start its laurel plugin within 30 s; auditd's output:\n{_auditd.Output}");
                }
                Thread.Sleep(100);
            }
        }
        trial.Control.AddRule(trial.Rule);
    }

    public long Delivered() => _counter?.Count() ?? 0;

    public string? Details() => laurel && _laurelPid is int l && !File.Exists($"/proc/{l}/stat")
        ? "laurel exited during the run" : null;

    public void Stop()
    {
        if (_trial is not null)
        {
            ConsumerWait.DeleteRule(_trial.Control, _trial.Rule);
        }
        if (_auditd is not null && _auditd.Stop(TimeSpan.FromSeconds(30)) is null)
        {
            Console.Error.WriteLine($"{Name}: did not stop within 30 s of SIGTERM; killed");
        }
        if (_trial is not null)
        {
            ConsumerWait.Unregistered(_trial.Control, TimeSpan.FromSeconds(10));
        }
    }

    public void Dispose() => _auditd?.Dispose();

    /// <summary>
    /// Debian's shipped auditd.conf (auditd 3.0.9) except: logs in the trial directory, RAW format,
    /// no rotation, and no disk-space action that could suspend logging mid-run.
    /// </summary>
    public static string AuditdConf(string logDir, string pluginDir) => $"""
        local_events = yes
        write_logs = yes
        log_file = {logDir}/audit.log
        log_group = root
        log_format = RAW
        flush = INCREMENTAL_ASYNC
        freq = 50
        max_log_file = 100000
        num_logs = 0
        priority_boost = 4
        name_format = NONE
        max_log_file_action = IGNORE
        space_left = 75
        space_left_action = IGNORE
        verify_email = no
        action_mail_acct = root
        admin_space_left = 50
        admin_space_left_action = IGNORE
        disk_full_action = IGNORE
        disk_error_action = SYSLOG
        use_libwrap = no
        tcp_listen_queue = 5
        tcp_max_per_addr = 1
        tcp_client_max_idle = 0
        transport = TCP
        distribute_network = no
        q_depth = 2000
        overflow_action = SYSLOG
        max_restarts = 10
        plugin_dir = {pluginDir}
        end_of_event_timeout = 2

        """;

    /// <summary>Debian's laurel plugin file, pointing at the trial's laurel config.</summary>
    public static string LaurelPlugin(string configPath) => $"""
        active = yes
        direction = out
        type = always
        format = string
        path = {LaurelPath}
        args = --config {configPath}

        """;

    /// <summary>Debian's laurel config.toml (0.5.1) except the directory and no rotation during a run.</summary>
    public static string LaurelToml(string directory) => $$"""
        directory = "{{directory}}"
        user = "{{LaurelUser}}"
        statusreport-period = 0

        [auditlog]
        file = "audit.log"
        size = 100000000000
        generations = 1

        [transform]
        execve-argv = [ "array" ]

        [translate]
        universal = false
        user-db = false

        [enrich]
        pid = true
        execve-env = [ "LD_PRELOAD", "LD_LIBRARY_PATH" ]
        container = true
        script = true

        [label-process]
        label-keys = [ "software_mgmt" ]
        propagate-labels = [ "software_mgmt" ]

        """;

    private static void WriteConfig(string path, string text)
    {
        File.WriteAllText(path, text);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
    }

    private static string? Comm(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (IOException)
        {
            return null;
        }
    }
}
