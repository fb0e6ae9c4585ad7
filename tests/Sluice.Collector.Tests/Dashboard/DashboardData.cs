using Google.Protobuf;
using Grpc.Net.Client;
using Sluice.Collector.Hosting;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Tests.Dashboard;

/// <summary>A fleet of known content, sent over gRPC to a real collector, and the truth about it.</summary>
/// <remarks>
/// Three hours from <see cref="From"/>; every agent cuts one batch per minute, each covering its minute.
/// <list type="bullet">
/// <item>agent-a: every minute; h+1 events per batch in hour h (60, 120, 180: 360 in all); kernel_lost 7
/// in the batch of minute 70, socket_overruns 4 and serial_gaps 2 in the batch of minute 150.</item>
/// <item>agent-b: minutes of hours 0 and 2 only (hour 1 missing: a coverage gap), one event per batch (120), no loss.
/// Its sequences run on without a hole (1 to 120), as an agent that was stopped numbers them: a hole would be a delivery gap.</item>
/// <item>agent-c: every minute, one event per batch (180), no loss: continuous and complete; its rules
/// change from <see cref="RulesHash1"/> to <see cref="RulesHash2"/> with the batch of minute 120.</item>
/// </list>
/// </remarks>
internal static class DashboardData
{
    public const long From = TestEvents.BaseUnixMs;
    public const long To = From + 3 * HourMs;
    public const long HourMs = 3_600_000;
    public const long MinuteMs = 60_000;
    public static readonly string[] Agents = ["agent-a", "agent-b", "agent-c"];

    public static readonly long[] EventsPerHourA = [60, 120, 180];
    public const long EventsB = 120;
    public const long EventsC = 180;
    public const long KernelLostA = 7;
    public const long SocketOverrunsA = 4;
    public const long SerialGapsA = 2;
    public const string RulesHash1 = "sha256:4f2a";
    public const string RulesHash2 = "sha256:9c1d";

    /// <summary>Starts a collector (no agent tokens: the dashboard's own access is what these tests are about) over <paramref name="store"/>.</summary>
    public static Task<CollectorServer> StartAsync(IEventStore store, string? dashboardTokenFile = null) =>
        CollectorServer.StartAsync(new CollectorOptions
        {
            Listen = "127.0.0.1:0",
            Store = new StoreLocation(StoreKind.Sqlite, "given"),
            AllowAnonymous = true,
            DashboardTokenFile = dashboardTokenFile,
        }, store);

    /// <summary>Sends the three agents' batches through the collector's gRPC ingest.</summary>
    public static async Task SendFleetAsync(CollectorServer server)
    {
        using var channel = GrpcChannel.ForAddress(server.Address);
        var client = new Sluice.Protocol.V1.Ingest.IngestClient(channel);
        foreach (var batch in FleetBatches())
        {
            var ack = await client.SendAsync(batch);
            Assert.False(ack.Duplicate);
        }
    }

    public static IEnumerable<EventBatch> FleetBatches()
    {
        var serials = new Dictionary<string, long>();
        var sequences = new Dictionary<string, ulong>();
        for (int minute = 0; minute < 180; minute++)
        {
            int hour = minute / 60;
            yield return MinuteBatch("agent-a", minute, hour + 1, serials, sequences, minute switch
            {
                70 => new LossCounters { KernelLost = KernelLostA },
                150 => new LossCounters { SocketOverruns = SocketOverrunsA, SerialGaps = SerialGapsA },
                _ => new LossCounters(),
            });
            if (hour != 1)
            {
                yield return MinuteBatch("agent-b", minute, 1, serials, sequences, new LossCounters());
            }
            var c = MinuteBatch("agent-c", minute, 1, serials, sequences, new LossCounters());
            c.RulesHash = minute >= 120 ? RulesHash2 : RulesHash1;
            yield return c;
        }
    }

    private static EventBatch MinuteBatch(string agent, int minute, int events, Dictionary<string, long> serials, Dictionary<string, ulong> sequences, LossCounters loss)
    {
        long start = From + minute * MinuteMs;
        long serial = serials.GetValueOrDefault(agent, 1);
        serials[agent] = serial + events;
        ulong sequence = sequences[agent] = sequences.GetValueOrDefault(agent) + 1;
        var batch = TestEvents.Batch(agent, sequence, events, serial, start, stepMs: MinuteMs / events);
        batch.IntervalStartUnixMs = start;
        batch.IntervalEndUnixMs = start + MinuteMs;
        batch.CreatedUnixMs = start + MinuteMs;
        batch.Loss = loss;
        return batch;
    }

    /// <summary>Six events whose every search result is stated by hand in the search tests; in two batches (agent-a, then agent-b).</summary>
    /// <remarks>
    /// Times are From + n seconds, n = the event's number below, except that 5 and 6 share From + 5 s
    /// (a tie, broken by batch: agent-b's batch is stored second, so 6 comes first, newest first).
    /// <code>
    /// n  agent  key   auid   uid   exe                  argv
    /// 1  a      priv  1000   0     /usr/bin/sudo        sudo cat /etc/shadow
    /// 2  a      priv  1001   0     /usr/bin/sudo        sudo -i
    /// 3  a      exec  1000   1000  /usr/bin/ls          ls -l /etc
    /// 4  a      exec  unset  0     /usr/sbin/cron       cron -f
    /// 5  a      -     1002   1002  /usr/local/bin/xsudo xsudo SHADOW
    /// 6  b      priv  1000   0     /bin/sudo            sudo systemctl restart sshd
    /// </code>
    /// Only event 1 carries account names, as an agent resolving names sends them: auid alice, uid root.
    /// </remarks>
    public static IEnumerable<EventBatch> SearchBatches()
    {
        var a = Envelope("agent-a", 1);
        var first = Event(1, 1, "priv", 1000, 0, "/usr/bin/sudo", "sudo", "cat", "/etc/shadow");
        first.AuidName = "alice";
        first.UidName = "root";
        a.Events.Add(first);
        a.Events.Add(Event(2, 2, "priv", 1001, 0, "/usr/bin/sudo", "sudo", "-i"));
        a.Events.Add(Event(3, 3, "exec", 1000, 1000, "/usr/bin/ls", "ls", "-l", "/etc"));
        a.Events.Add(Event(4, 4, "exec", uint.MaxValue, 0, "/usr/sbin/cron", "cron", "-f"));
        a.Events.Add(Event(5, 5, null, 1002, 1002, "/usr/local/bin/xsudo", "xsudo", "SHADOW"));
        yield return a;
        var b = Envelope("agent-b", 1);
        b.Events.Add(Event(6, 5, "priv", 1000, 0, "/bin/sudo", "sudo", "systemctl", "restart", "sshd"));
        yield return b;
    }

    private static EventBatch Envelope(string agent, ulong sequence) => new()
    {
        AgentId = agent,
        Hostname = agent + ".example",
        BootId = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        Sequence = sequence,
        CreatedUnixMs = From + 10_000,
        IntervalStartUnixMs = From,
        IntervalEndUnixMs = From + 10_000,
        RulesHash = RulesHash1,
        Loss = new LossCounters(),
    };

    private static Event Event(long serial, int second, string? key, uint auid, uint uid, string exe, params string[] argv)
    {
        var e = TestEvents.Exec(serial, From + second * 1000L, 1);
        e.Key = key is null ? ByteString.Empty : TestEvents.Bytes(key);
        e.Auid = auid;
        e.Uid = uid;
        e.Exe = TestEvents.Bytes(exe);
        e.Comm = TestEvents.Bytes(Path.GetFileName(exe));
        e.Argv.Clear();
        e.Argv.AddRange(argv.Select(TestEvents.Bytes));
        return e;
    }
}
