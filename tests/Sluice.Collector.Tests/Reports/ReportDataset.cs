using System.Text;
using Google.Protobuf;
using Sluice.Collector.Storage;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Tests.Reports;

/// <summary>
/// Hand-built batches and heartbeats of four hosts over two hours from <see cref="T0"/>, with known content:
/// <list type="bullet">
/// <item>a: heartbeats every minute throughout; batches every 10 minutes; one batch reports loss; its rules hash changes at 01:00.</item>
/// <item>b: silent from 00:30 to 01:10, then restarted.</item>
/// <item>c: seen once, ten hours before the range; nothing in it.</item>
/// <item>d: heartbeats only, no events: continuous and complete.</item>
/// </list>
/// </summary>
internal static class ReportDataset
{
    public const long T0 = 1_764_028_800_000; // 2025-11-25T00:00:00Z
    public const long Minute = 60_000;
    public const long End = T0 + 120 * Minute;
    public const uint Unset = 4294967295;

    public const string BaselineText = """
        -w /etc/passwd -p wa -k identity
        -w /etc/shadow -p wa -k identity
        -a always,exit -F arch=b64 -S init_module,finit_module -k modules
        """;

    /// <summary>The rule lines host a reports: the first and third baseline rules, and one more, as auditctl -l prints them.</summary>
    public static readonly string[] RulesOfA =
    [
        "-w /etc/passwd -p wa -k identity",
        "-a always,exit -F arch=b64 -S init_module,finit_module -F key=modules",
        "-a always,exit -F arch=b64 -S execve -F key=exec",
    ];

    public static async Task FeedAsync(IEventStore store)
    {
        var ct = CancellationToken.None;
        // Host a: a heartbeat every minute from a minute before the range to its end.
        for (long t = T0 - Minute; t < End; t += Minute)
        {
            var hb = Heartbeat("a", t, started: T0 - 60 * Minute, hash: t < T0 + 60 * Minute ? "h1" : "h2");
            if (t == T0 + 90 * Minute)
            {
                hb.Rules.AddRange(RulesOfA);
            }
            await store.StoreHeartbeatAsync(hb, t + 5, ct);
        }
        ulong seq = 0;
        for (long start = T0 - 10 * Minute; start <= End; start += 10 * Minute)
        {
            var batch = Batch("a", ++seq, start, start + 10 * Minute, start < T0 + 60 * Minute ? "h1" : "h2");
            if (start == T0 + 30 * Minute)
            {
                batch.Loss = new LossCounters { KernelLost = 3, SocketOverruns = 1, Filtered = 9 };
            }
            batch.Events.AddRange(EventsOfA(start, start + 10 * Minute));
            await store.StoreBatchAsync(batch, start + 10 * Minute + 5, ct);
        }

        // Host b: up until 00:30, silent for 40 minutes, restarted at 01:10.
        for (long t = T0 - Minute; t < End; t += Minute)
        {
            if (t > T0 + 30 * Minute && t < T0 + 70 * Minute)
            {
                continue;
            }
            await store.StoreHeartbeatAsync(Heartbeat("b", t, started: t < T0 + 70 * Minute ? T0 - 60 * Minute : T0 + 70 * Minute, hash: "h1"), t + 5, ct);
        }
        var b = Batch("b", 1, T0 + 70 * Minute, T0 + 71 * Minute, "h1");
        // b's agent enriches: the command's parent chain (sshd, its session's shell) is known.
        b.Events.Add(Exec(T0 + 70 * Minute + 500, 1, euid: 0, auid: 1001, uid: 1001, "/usr/bin/sudo", "sudo", "systemctl", "restart", "nginx"));
        b.Events[^1].Context = new ProcessContext
        {
            ParentState = ContextState.Known,
            Parent = new ProcessRef { Pid = 700, Exe = ByteString.CopyFromUtf8("/usr/bin/bash"), Source = ProcessSource.Exec },
            Ancestry =
            {
                new Ancestor { Pid = 700, Exe = ByteString.CopyFromUtf8("/usr/bin/bash") },
                new Ancestor { Pid = 650, Exe = ByteString.CopyFromUtf8("/usr/sbin/sshd") },
            },
        };
        await store.StoreBatchAsync(b, T0 + 72 * Minute, ct);

        // Host c: one heartbeat long before.
        await store.StoreHeartbeatAsync(Heartbeat("c", T0 - 600 * Minute, started: T0 - 601 * Minute, hash: "h0"), T0 - 600 * Minute, ct);

        // Host d: heartbeats only.
        for (long t = T0 - 2 * Minute; t <= End + Minute; t += 2 * Minute)
        {
            await store.StoreHeartbeatAsync(Heartbeat("d", t, started: T0 - 100 * Minute, hash: "h1"), t + 5, ct);
        }
    }

    /// <summary>Host a's events in [from, to): the known content is all in 00:00–00:10 and 01:00–01:10, plus edges.</summary>
    private static IEnumerable<Event> EventsOfA(long from, long to)
    {
        long serial = from / 1000;
        var all = new List<Event>();
        if (from == T0)
        {
            // Exactly at the range start: counted.
            for (int i = 0; i < 3; i++) all.Add(Exec(T0 + i, ++serial, euid: 0, auid: 0, uid: 0, "/usr/bin/id", "id"));
            for (int i = 0; i < 2; i++) all.Add(Exec(T0 + 1000 + i, ++serial, euid: 0, auid: 1000, uid: 0, "/usr/bin/sudo", "sudo", "id"));
            all.Add(Exec(T0 + 2000, ++serial, euid: 0, auid: Unset, uid: 0, "/usr/sbin/cron", "cron", "-f"));
            all.Add(Exec(T0 + 3000, ++serial, euid: 1000, auid: 1000, uid: 1000, "/usr/bin/ls", "ls"));
            var failed = Exec(T0 + 4000, ++serial, euid: 0, auid: 0, uid: 0, "/nonexistent", "nonexistent");
            failed.Success = false;
            failed.Exit = -2;
            all.Add(failed);
            all.Add(User("ADD_USER", T0 + 5000, ++serial, auid: 1000, success: true));
            all.Add(User("USER_AUTH", T0 + 6000, ++serial, auid: 1000, success: false));
            all.Add(User("USER_AUTH", T0 + 6100, ++serial, auid: 1000, success: false));
            all.Add(User("USER_AUTH", T0 + 6200, ++serial, auid: 1000, success: true));
            all.Add(User("USER_LOGIN", T0 + 6300, ++serial, auid: 1000, success: true));
            all.Add(FileCall("rename", T0 + 7000, ++serial, auid: 0, uid: 0, exit: 0, "/etc/passwd+", "/etc/passwd"));
            all.Add(FileCall("openat", T0 + 7100, ++serial, auid: 0, uid: 0, exit: 3, "/etc/shadow-"));
            all.Add(FileCall("openat", T0 + 8000, ++serial, auid: 1000, uid: 1000, exit: -13, "/root/secret"));
            all.Add(FileCall("openat", T0 + 8100, ++serial, auid: 1000, uid: 1000, exit: -13, "/root/secret"));
            all.Add(FileCall("unlink", T0 + 8200, ++serial, auid: 1000, uid: 1000, exit: -1, "/etc/hosts"));
        }
        if (from == T0 + 60 * Minute)
        {
            all.Add(User("CONFIG_CHANGE", T0 + 60 * Minute + 100, ++serial, auid: 0, success: true));
            // auditctl's change as the kernel logs it with syscall auditing on: CONFIG_CHANGE inside its sendto.
            var sendto = FileCall("sendto", T0 + 60 * Minute + 150, ++serial, auid: 1000, uid: 0, exit: 1084);
            sendto.Records.Insert(0, new Sluice.Protocol.V1.Record { Type = 1305, Raw = ByteString.CopyFromUtf8($"audit({sendto.Timestamp}:{sendto.Serial}): op=add_rule key=\"k\" list=4 res=1") });
            all.Add(sendto);
            all.Add(FileCall("init_module", T0 + 60 * Minute + 200, ++serial, auid: 0, uid: 0, exit: 0));
            all.Add(FileCall("settimeofday", T0 + 60 * Minute + 300, ++serial, auid: 0, uid: 0, exit: 0));
            for (int i = 0; i < 4; i++) all.Add(Exec(T0 + 60 * Minute + 1000 + i, ++serial, euid: 0, auid: 0, uid: 0, "/usr/bin/id", "id"));
        }
        if (from == T0 - 10 * Minute)
        {
            // Just before the range: not counted.
            all.Add(Exec(T0 - 1, ++serial, euid: 0, auid: 0, uid: 0, "/usr/bin/id", "id"));
        }
        if (from == End - 10 * Minute)
        {
            // The last millisecond of the range: counted.
            all.Add(Exec(End - 1, ++serial, euid: 0, auid: 0, uid: 0, "/usr/bin/id", "id"));
        }
        if (from == End)
        {
            // Exactly at the range end: not counted.
            all.Add(Exec(End, ++serial, euid: 0, auid: 0, uid: 0, "/usr/bin/id", "id"));
        }
        return all;
    }

    public static AgentHeartbeat Heartbeat(string agent, long t, long started, string hash) => new()
    {
        AgentId = agent, Hostname = agent + ".example", BootId = "boot", Version = "1.0", Mode = "unicast",
        TimeUnixMs = t, StartedUnixMs = started, RulesHash = hash, RulesCount = 3,
        Kernel = new KernelSettings { Enabled = 1 }, LossTotals = new LossCounters(),
    };

    public static EventBatch Batch(string agent, ulong seq, long start, long end, string hash) => new()
    {
        AgentId = agent, Hostname = agent + ".example", BootId = "boot", Sequence = seq, CreatedUnixMs = end,
        IntervalStartUnixMs = start, IntervalEndUnixMs = end, RulesHash = hash, Loss = new LossCounters(),
    };

    public static Event Exec(long t, long serial, uint euid, uint auid, uint uid, string exe, params string[] argv)
    {
        var e = Base(t, serial, "SYSCALL", 1300);
        e.Syscall = "execve";
        e.Success = true;
        e.Exit = 0;
        e.Euid = euid;
        e.Auid = auid;
        e.Uid = uid;
        e.Exe = ByteString.CopyFromUtf8(exe);
        e.Comm = ByteString.CopyFromUtf8(Path.GetFileName(exe));
        e.Argv.AddRange(argv.Select(ByteString.CopyFromUtf8));
        e.Paths.Add(ByteString.CopyFromUtf8(exe));
        return e;
    }

    public static Event User(string type, long t, long serial, uint auid, bool success)
    {
        uint code = type switch { "ADD_USER" => 1114, "USER_AUTH" => 1100, "USER_LOGIN" => 1112, "CONFIG_CHANGE" => 1305, _ => 1100 };
        var e = Base(t, serial, type, code);
        e.Auid = auid;
        e.Uid = 0;
        e.Success = success;
        e.Exe = ByteString.CopyFromUtf8(type == "CONFIG_CHANGE" ? "/usr/sbin/auditctl" : "/usr/sbin/sshd");
        return e;
    }

    public static Event FileCall(string syscall, long t, long serial, uint auid, uint uid, long exit, params string[] paths)
    {
        var e = Base(t, serial, "SYSCALL", 1300);
        e.Syscall = syscall;
        e.Success = exit >= 0;
        e.Exit = exit;
        e.Auid = auid;
        e.Uid = uid;
        e.Euid = uid;
        e.Exe = ByteString.CopyFromUtf8("/usr/bin/tool");
        e.Paths.AddRange(paths.Select(ByteString.CopyFromUtf8));
        return e;
    }

    private static Event Base(long t, long serial, string firstType, uint code)
    {
        string ts = $"{t / 1000}.{t % 1000:000}";
        var e = new Event { Serial = (ulong)serial, Timestamp = ts, TimeUnixMs = t, FirstType = firstType };
        e.Records.Add(new Sluice.Protocol.V1.Record { Type = code, Raw = ByteString.CopyFrom(Encoding.UTF8.GetBytes($"audit({ts}:{serial}): test")) });
        return e;
    }
}
