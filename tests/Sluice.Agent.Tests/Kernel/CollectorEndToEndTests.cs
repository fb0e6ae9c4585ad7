using System.Diagnostics;
using System.Text.Json;
using Sluice.Testing;

namespace Sluice.Agent.Tests.Kernel;

/// <summary>Kernel → agent → spool → gRPC → real sluice-collector → SQLite, read back with export.</summary>
[Collection(KernelAuditFixture.Collection)]
public sealed class CollectorEndToEndTests : IDisposable
{
    private readonly KernelStateGuard _guard = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-e2e-").FullName;
    private CollectorProcess? _collector;

    public void Dispose()
    {
        _collector?.Dispose();
        _guard.Dispose();
    }

    private static bool IsOurs(JsonElement e, string key, Dictionary<int, string[]> expected) =>
        e.TryGetProperty("key", out var k) && k.GetString() == key
        && e.TryGetProperty("pid", out var pid) && expected.ContainsKey(pid.GetInt32());

    [Fact]
    public void ExecsUnderLoad_DeliveredToCollector_EachStoredOnceWithExactArgv()
    {
        _collector = CollectorProcess.Start(_dir, "sqlite:" + Path.Combine(_dir, "events.db"), "e2e-agent", "e2e-secret-token");
        string key = TestRules.UniqueKey("e2e");
        string extra = _collector.SinkConfig(_dir, "e2e-agent", "e2e-secret-token") + """
            ,
            "Batching": { "MaxDelay": "00:00:00.200" }
            """;
        using var agent = AgentRunner.Start($"-a always,exit -F arch=b64 -S execve -F key={key}\n", extra);
        agent.WaitReady();

        const int n = 25;
        var expected = new Dictionary<int, string[]>();
        for (int i = 0; i < n; i++)
        {
            string[] argv = ["/bin/true", $"e2e-{i}", "sp ace", "q\"uote", "tab\t", "ünï", new string('x', 100 * i)];
            var psi = new ProcessStartInfo(argv[0]);
            foreach (var a in argv[1..])
            {
                psi.ArgumentList.Add(a);
            }
            using var p = Process.Start(psi)!;
            expected[p.Id] = argv;
            p.WaitForExit();
        }

        var sw = Stopwatch.StartNew();
        List<JsonElement> ours = [];
        while (sw.Elapsed < TimeSpan.FromSeconds(60))
        {
            ours = _collector.Export().Where(e => IsOurs(e, key, expected)).ToList();
            if (ours.Count >= n)
            {
                break;
            }
            Thread.Sleep(250);
        }
        Assert.Equal(0, agent.Stop());

        // The rule sees every exec on the host (the export runs too); ours are our children.
        ours = _collector.Export().Where(e => IsOurs(e, key, expected)).ToList();
        Assert.Equal(n, ours.Count);
        Assert.Equal(n, ours.Select(e => e.GetProperty("serial").GetUInt64()).Distinct().Count());
        foreach (var e in ours)
        {
            int pid = e.GetProperty("pid").GetInt32();
            Assert.Equal(expected[pid], e.GetProperty("argv").EnumerateArray().Select(a => a.GetString()!).ToArray());
            Assert.Equal("e2e-agent", e.GetProperty("agent_id").GetString());
        }
    }
}
