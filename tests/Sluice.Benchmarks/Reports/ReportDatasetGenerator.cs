using System.Diagnostics;
using System.Globalization;
using System.Text;
using Google.Protobuf;
using Sluice.Collector.Storage;
using Sluice.Protocol.V1;

namespace Sluice.Benchmarks.Reports;

/// <summary>
/// A synthetic fleet for the compliance report benchmark, written through the store's own batch
/// and heartbeat API so it has the real schema, indexes and partitions.
/// </summary>
/// <remarks>
/// Per host: a heartbeat every <c>--heartbeat-seconds</c>; a batch every <c>--batch-minutes</c>
/// covering the time since the previous one (contiguous intervals, as the agent cuts them); events
/// spread over the hour: about 85% execve (half of them as root, some through sudo), and the rest
/// file opens refused with EACCES/EPERM, logins and authentications (one in ten failed), account
/// changes, identity file writes, configuration changes, time changes and module loads. Every 17th
/// host is down for two hours on one day (no heartbeats, no batches); every 13th host reports
/// kernel loss and socket overruns in one batch; every 11th host changes its rules on day 10.
/// Deterministic for a given --seed.
/// </remarks>
internal sealed class ReportDatasetGenerator
{
    public sealed record Options(int Hosts, int Days, int EventsPerHostHour, long StartUnixMs, int HeartbeatSeconds, int BatchMinutes, int Seed, int Parallel);

    private const long HourMs = 3_600_000;
    private static readonly string[] Commands =
    [
        "/usr/bin/ls -la /var/log", "/usr/bin/systemctl status nginx", "/usr/bin/cat /etc/hostname", "/usr/bin/ps aux", "/usr/bin/df -h",
        "/usr/sbin/logrotate /etc/logrotate.conf", "/usr/bin/apt-get update", "/usr/bin/curl -s http://localhost/health", "/usr/bin/grep -r error /var/log/app",
        "/usr/bin/python3 /opt/app/worker.py", "/usr/bin/tar czf /backup/etc.tgz /etc", "/usr/bin/find /tmp -mtime +7 -delete", "/usr/bin/id",
        "/usr/bin/journalctl -u app --since today", "/usr/bin/ss -tlnp", "/usr/bin/uptime", "/usr/bin/git -C /srv/repo pull", "/usr/bin/rsync -a /srv /backup",
    ];
    private static readonly string[] RootRules =
    [
        "-a always,exit -F arch=b64 -S execve,execveat -F key=exec",
        "-w /etc/passwd -p wa -k identity",
        "-w /etc/shadow -p wa -k identity",
        "-w /etc/group -p wa -k identity",
        "-w /etc/sudoers -p wa -k privilege",
        "-a always,exit -F arch=b64 -S init_module,finit_module,delete_module -F key=modules",
        "-a always,exit -F arch=b64 -S adjtimex,settimeofday,clock_settime -F key=time-change",
    ];

    public static Options Parse(string[] args) => Parse(args, out _);

    private static Options Parse(string[] args, out string? store)
    {
        store = null;
        var o = new Options(100, 30, 60, 1_761_955_200_000 /* 2025-11-01T00:00:00Z */, 300, 15, 1, 100);
        for (int i = 1; i < args.Length; i++)
        {
            string v = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i++])
            {
                case "--store": store = v; break;
                case "--hosts": o = o with { Hosts = int.Parse(v, CultureInfo.InvariantCulture) }; break;
                case "--days": o = o with { Days = int.Parse(v, CultureInfo.InvariantCulture) }; break;
                case "--events-per-host-hour": o = o with { EventsPerHostHour = int.Parse(v, CultureInfo.InvariantCulture) }; break;
                case "--start": o = o with { StartUnixMs = DateTimeOffset.Parse(v, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal).ToUnixTimeMilliseconds() }; break;
                case "--heartbeat-seconds": o = o with { HeartbeatSeconds = int.Parse(v, CultureInfo.InvariantCulture) }; break;
                case "--batch-minutes": o = o with { BatchMinutes = int.Parse(v, CultureInfo.InvariantCulture) }; break;
                case "--seed": o = o with { Seed = int.Parse(v, CultureInfo.InvariantCulture) }; break;
                case "--parallel": o = o with { Parallel = int.Parse(v, CultureInfo.InvariantCulture) }; break;
                default: throw new ArgumentException($"unknown option {args[i - 1]}");
            }
        }
        return o;
    }

    public static async Task<int> RunAsync(string[] args)
    {
        var o = Parse(args, out string? store);
        if (store is null)
        {
            Console.Error.WriteLine("report-dataset --store sqlite:PATH|postgres:CONN [--hosts 100] [--days 30] [--events-per-host-hour 60] [--start 2025-11-01] [--heartbeat-seconds 300] [--batch-minutes 15] [--seed 1] [--parallel 100]");
            return 2;
        }
        // Generated data need not survive a power cut: commit without waiting for the disk, so the
        // run measures the store's write path rather than fsync latency.
        var location = StoreLocation.Parse(store);
        IEventStore s = location.Kind == StoreKind.Sqlite
            ? new Sluice.Collector.Storage.Sqlite.SqliteEventStore(location.Target, new Sluice.Collector.Storage.Sqlite.SqliteStoreOptions { SyncEveryCommit = false })
            : new Sluice.Collector.Storage.Postgres.PostgresEventStore(location.Target + ";Options=-c synchronous_commit=off");
        await using var _ = s;
        await s.InitializeAsync(CancellationToken.None);
        var sw = Stopwatch.StartNew();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var (events, batches, heartbeats) = await GenerateAsync(s, o, CancellationToken.None);
        Console.WriteLine(FormattableString.Invariant(
            $"report-dataset: {o.Hosts} hosts x {o.Days} days: {events} events, {batches} batches, {heartbeats} heartbeats in {sw.Elapsed.TotalSeconds:F1} s (generator CPU {(Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds:F1} s)"));
        Console.WriteLine(FormattableString.Invariant(
            $"range: --from {DateTimeOffset.FromUnixTimeMilliseconds(o.StartUnixMs):yyyy-MM-ddTHH:mm:ssZ} --to {DateTimeOffset.FromUnixTimeMilliseconds(o.StartUnixMs + o.Days * 24 * HourMs):yyyy-MM-ddTHH:mm:ssZ}"));
        return 0;
    }

    public static async Task<(long Events, long Batches, long Heartbeats)> GenerateAsync(IEventStore store, Options o, CancellationToken ct)
    {
        long events = 0, batches = 0, heartbeats = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, o.Hosts), new ParallelOptions { MaxDegreeOfParallelism = o.Parallel, CancellationToken = ct }, async (host, token) =>
        {
            var (e, b, h) = await HostAsync(store, o, host, token);
            Interlocked.Add(ref events, e);
            Interlocked.Add(ref batches, b);
            Interlocked.Add(ref heartbeats, h);
        });
        return (events, batches, heartbeats);
    }

    private static async Task<(long, long, long)> HostAsync(IEventStore store, Options o, int host, CancellationToken ct)
    {
        var rng = new Random(o.Seed * 7919 + host);
        string agent = $"host-{host:D3}";
        long start = o.StartUnixMs, end = o.StartUnixMs + o.Days * 24 * HourMs;
        // A two-hour outage on one day for every 17th host.
        (long From, long To) outage = host % 17 == 5 ? (start + (host % o.Days) * 24 * HourMs + 3 * HourMs, start + (host % o.Days) * 24 * HourMs + 5 * HourMs) : (0, 0);
        long lossyBatchAt = host % 13 == 2 ? start + ((host * 7) % o.Days) * 24 * HourMs + 14 * HourMs : -1;
        long rulesChange = host % 11 == 3 ? start + Math.Min(10, o.Days - 1) * 24 * HourMs : long.MaxValue;
        bool Down(long t) => t >= outage.From && t < outage.To;
        string Hash(long t) => t < rulesChange ? "sha256:baseline-v1" : "sha256:baseline-v2";

        long nEvents = 0, nBatches = 0, nBeats = 0;
        long heartbeatMs = o.HeartbeatSeconds * 1000L;
        long batchMs = o.BatchMinutes * 60_000L;
        long nextBeat = start - heartbeatMs + rng.Next((int)heartbeatMs);
        string? lastRulesSent = null;
        ulong sequence = 0;
        long serial = 1000;
        long intervalStart = start - batchMs;
        for (long cut = start; cut <= end; cut += batchMs)
        {
            // Heartbeats up to this cut.
            for (; nextBeat < cut; nextBeat += heartbeatMs)
            {
                if (Down(nextBeat))
                {
                    continue;
                }
                var hb = new AgentHeartbeat
                {
                    AgentId = agent, Hostname = agent + ".fleet.example", BootId = "boot-" + host, Version = "1.0.0", Mode = "unicast",
                    TimeUnixMs = nextBeat, StartedUnixMs = nextBeat < outage.To || outage.To == 0 ? start - HourMs : outage.To,
                    RulesHash = Hash(nextBeat), RulesCount = (uint)RootRules.Length,
                    Kernel = new KernelSettings { Enabled = 1, BacklogLimit = 65752 }, LossTotals = new LossCounters(),
                };
                if (lastRulesSent != hb.RulesHash)
                {
                    hb.Rules.AddRange(hb.RulesHash.EndsWith("v1", StringComparison.Ordinal) ? RootRules[..^1] : RootRules);
                    lastRulesSent = hb.RulesHash;
                }
                await store.StoreHeartbeatAsync(hb, nextBeat + 3, ct);
                nBeats++;
            }
            // The agent stops at the outage's start and its first batch after starts at the outage's end.
            long batchStart = intervalStart, batchEnd = cut;
            if (outage.To > 0 && batchStart < outage.From && batchEnd > outage.From)
            {
                batchEnd = outage.From;
            }
            else if (outage.To > 0 && batchStart >= outage.From && batchStart < outage.To)
            {
                if (batchEnd <= outage.To)
                {
                    intervalStart = cut;
                    continue;
                }
                batchStart = outage.To;
            }
            var batch = new EventBatch
            {
                AgentId = agent, Hostname = agent + ".fleet.example", BootId = "boot-" + host, Sequence = ++sequence, CreatedUnixMs = batchEnd,
                IntervalStartUnixMs = batchStart, IntervalEndUnixMs = batchEnd, RulesHash = Hash(batchEnd), Loss = new LossCounters { Filtered = (ulong)rng.Next(50) },
            };
            if (lossyBatchAt >= batchStart && lossyBatchAt < batchEnd)
            {
                batch.Loss.KernelLost = 120;
                batch.Loss.SocketOverruns = 37;
            }
            int count = (int)(o.EventsPerHostHour * (batchEnd - batchStart) / HourMs);
            for (int i = 0; i < count; i++)
            {
                long t = batchStart + (batchEnd - batchStart) * i / Math.Max(1, count);
                if (t < start || t >= end)
                {
                    continue;
                }
                batch.Events.Add(Event(rng, t, ++serial));
            }
            await store.StoreBatchAsync(batch, cut + 50, ct);
            nBatches++;
            nEvents += batch.Events.Count;
            intervalStart = cut;
        }
        return (nEvents, nBatches, nBeats);
    }

    private static Event Event(Random rng, long t, long serial)
    {
        int roll = rng.Next(1000);
        uint[] users = [1000, 1001, 1002, 1003, 4294967295, 0];
        uint auid = users[rng.Next(users.Length)];
        return roll switch
        {
            < 850 => Exec(rng, t, serial, auid),
            < 880 => Syscall(t, serial, "openat", auid, auid == 4294967295 ? 33 : auid, rng.Next(3) == 0 ? -1 : -13, "/root/.ssh/id_ed25519", "/srv/secret/db.key"),
            < 960 => User(rng, t, serial, (string[])["USER_AUTH", "USER_ACCT", "USER_LOGIN", "USER_START", "USER_END"], auid),
            < 970 => Syscall(t, serial, "openat", 0, 0, 3, "/etc/passwd"),
            < 975 => User(rng, t, serial, (string[])["ADD_USER", "DEL_USER", "USER_CHAUTHTOK", "ADD_GROUP"], 1000),
            < 985 => User(rng, t, serial, (string[])["CONFIG_CHANGE"], 0),
            < 993 => Syscall(t, serial, "adjtimex", 0, 0, 0),
            _ => Syscall(t, serial, "finit_module", 0, 0, 0, "/lib/modules/6.1.0/kernel/fs/fuse/fuse.ko"),
        };
    }

    private static Event Base(long t, long serial, string firstType, uint type, string raw)
    {
        string ts = string.Create(CultureInfo.InvariantCulture, $"{t / 1000}.{t % 1000:000}");
        var e = new Event { Serial = (ulong)serial, Timestamp = ts, TimeUnixMs = t, FirstType = firstType, Arch = "x86_64" };
        e.Records.Add(new Record { Type = type, Raw = ByteString.CopyFromUtf8($"audit({ts}:{serial}): {raw}") });
        return e;
    }

    private static Event Exec(Random rng, long t, long serial, uint auid)
    {
        string line = Commands[rng.Next(Commands.Length)];
        bool root = rng.Next(2) == 0;
        bool sudo = root && auid is not 0 and not 4294967295 && rng.Next(3) == 0;
        string[] argv = sudo ? ["sudo", .. line.Split(' ')] : line.Split(' ');
        string exe = sudo ? "/usr/bin/sudo" : argv[0];
        uint uid = root ? 0 : auid == 4294967295 ? 33 : auid;
        var e = Base(t, serial, "SYSCALL", 1300,
            $"arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid={serial % 60000} auid={auid} uid={uid} euid={uid} ses=1 comm=\"{Path.GetFileName(exe)}\" exe=\"{exe}\" key=\"exec\"");
        e.Records.Add(new Record { Type = 1309, Raw = ByteString.CopyFromUtf8($"audit({e.Timestamp}:{serial}): argc={argv.Length} " + string.Join(' ', argv.Select((a, i) => $"a{i}=\"{a}\""))) });
        e.Syscall = "execve";
        e.Success = true;
        e.Exit = 0;
        e.Auid = auid;
        e.Uid = uid;
        e.Euid = uid;
        e.Pid = (uint)(serial % 60000);
        e.Ppid = 1;
        e.Ses = 1;
        e.Exe = ByteString.CopyFromUtf8(exe);
        e.Comm = ByteString.CopyFromUtf8(Path.GetFileName(exe));
        e.Key = ByteString.CopyFromUtf8("exec");
        e.Argv.AddRange(argv.Select(ByteString.CopyFromUtf8));
        e.Paths.Add(ByteString.CopyFromUtf8(exe));
        return e;
    }

    private static Event Syscall(long t, long serial, string name, uint auid, uint uid, long exit, params string[] paths)
    {
        var e = Base(t, serial, "SYSCALL", 1300, $"arch=c000003e syscall=0 success={(exit >= 0 ? "yes" : "no")} exit={exit} auid={auid} uid={uid} euid={uid}");
        e.Syscall = name;
        e.Success = exit >= 0;
        e.Exit = exit;
        e.Auid = auid;
        e.Uid = uid;
        e.Euid = uid;
        e.Exe = ByteString.CopyFromUtf8("/usr/bin/app");
        e.Paths.AddRange(paths.Select(ByteString.CopyFromUtf8));
        return e;
    }

    private static Event User(Random rng, long t, long serial, string[] types, uint auid)
    {
        string type = types[rng.Next(types.Length)];
        bool ok = rng.Next(10) != 0;
        uint code = type switch
        {
            "USER_AUTH" => 1100, "USER_ACCT" => 1101, "USER_LOGIN" => 1112, "USER_START" => 1105, "USER_END" => 1106,
            "ADD_USER" => 1114, "DEL_USER" => 1115, "USER_CHAUTHTOK" => 1108, "ADD_GROUP" => 1116, _ => 1305,
        };
        var e = Base(t, serial, type, code, $"pid=812 uid=0 auid={auid} ses=3 msg='op=x exe=\"/usr/sbin/sshd\" res={(ok ? "success" : "failed")}'");
        e.Auid = auid;
        e.Uid = 0;
        e.Pid = 812;
        e.Success = ok;
        e.Exe = ByteString.CopyFromUtf8("/usr/sbin/sshd");
        return e;
    }
}
