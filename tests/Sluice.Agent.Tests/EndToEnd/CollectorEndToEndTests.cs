using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Sluice.Testing;

namespace Sluice.Agent.Tests.EndToEnd;

/// <summary>Kernel → agent → spool → gRPC → real sluice-collector → SQLite, read back with export.</summary>
[Collection(KernelAuditFixture.Collection)]
public sealed class CollectorEndToEndTests : EndToEndTest
{
    /// <summary>Argument vectors that are hard to carry byte for byte: quoting, control characters, non-UTF-8, long and many arguments.</summary>
    private static byte[][] TrickyArgv(int i, string nonce)
    {
        byte[] A(string s) => Encoding.UTF8.GetBytes(s);
        var args = new List<byte[]>
        {
            A("/bin/true"),
            A($"e2e-{nonce}-{i}"),
            A("sp ace"), A("  lead and trail  "), A("q\"uote"), A("s'quote"), A("back\\slash"), A("tab\there"), A("new\nline"), A("cr\rlf"),
            A(""),
            A("ünïcødé ✓ 😀"),
            new byte[] { 0xff, 0xfe, (byte)'x', 0x80 },                 // not UTF-8 at all
            new byte[] { (byte)'a', 0xc3, (byte)'b' },                  // a lead byte without its continuation
            new byte[] { 0xc0, 0xaf },                                  // overlong '/'
            new byte[] { 0xed, 0xa0, 0x80 },                            // an encoded surrogate
            new byte[] { 0x01, 0x1b, (byte)'[', (byte)'m', 0x7f },      // control bytes
            A("a=b c=\"d\" msg='x'"),                        // looks like audit fields
        };
        switch (i % 4)
        {
            case 1:
                // Longer than one EXECVE chunk: the kernel splits it as aN[0], aN[1], ...
                args.Add(Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat($"long-{i}-é ", 2500))));
                break;
            case 2:
                // Many arguments: several EXECVE records for one exec.
                for (int k = 0; k < 400; k++)
                {
                    args.Add(A($"arg{k} x"));
                }
                break;
            case 3:
                args.Add([.. Enumerable.Range(1, 255).Select(b => (byte)b)]); // every byte value but NUL
                break;
        }
        return [.. args];
    }

    /// <summary>Runs exec_argv on the vectors: one forked child per vector, each execs it; returns the children's pids in order.</summary>
    private int[] ExecAll(byte[][][] vectors)
    {
        string spec = Path.Combine(Collector.Directory, "argv.spec");
        using (var f = File.Create(spec))
        {
            Span<byte> u32 = stackalloc byte[4];
            foreach (var argv in vectors)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(u32, (uint)argv.Length);
                f.Write(u32);
                foreach (var a in argv)
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(u32, (uint)a.Length);
                    f.Write(u32);
                    f.Write(a);
                }
            }
        }
        var (code, output) = NativeTools.Run(NativeTools.Get("exec_argv"), spec);
        Assert.True(code == 0, output);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')).ToArray();
        Assert.Equal(vectors.Length, lines.Length);
        Assert.All(lines, l => Assert.Equal("0", l[2])); // every child's exec of /bin/true succeeded
        return [.. lines.Select(l => int.Parse(l[1]))];
    }

    [Fact]
    public void TrickyArguments_ShippedToCollector_EachStoredOnceWithArgvByteExact()
    {
        Collector.Start();
        string key = TestRules.UniqueKey("e2e");
        using var agent = AgentRunner.Start($"-a always,exit -F arch=b64 -S execve -F key={key}\n", dir => Collector.AgentConfig(dir));
        agent.WaitReady();

        const int n = 40;
        string nonce = Guid.NewGuid().ToString("N")[..8];
        var vectors = Enumerable.Range(0, n).Select(i => TrickyArgv(i, nonce)).ToArray();
        int[] pids = ExecAll(vectors);
        var expected = pids.Select((pid, i) => (pid, i)).ToDictionary(p => p.pid, p => vectors[p.i]);

        bool Ours(JsonElement e) => e.TryGetProperty("key", out var k) && k.GetString() == key
            && e.TryGetProperty("pid", out var pid) && expected.ContainsKey(pid.GetInt32());
        Collector.WaitForExport(events => events.Count(Ours) >= n, TimeSpan.FromSeconds(60));
        Assert.Equal(0, agent.Stop());

        // The rule sees every exec on the host; ours are exec_argv's children.
        var ours = Collector.Export().Where(Ours).ToList();
        Assert.Equal(n, ours.Count);
        Assert.Equal(n, ours.Select(e => e.GetProperty("serial").GetUInt64()).Distinct().Count());
        Assert.Equal(n, ours.Select(e => e.GetProperty("pid").GetInt32()).Distinct().Count());
        foreach (var e in ours)
        {
            var want = expected[e.GetProperty("pid").GetInt32()];
            var got = e.GetProperty("argv").EnumerateArray().Select(CollectorProcess.Bytes).ToArray();
            Assert.Equal(want.Length, got.Length);
            for (int a = 0; a < want.Length; a++)
            {
                Assert.True(want[a].AsSpan().SequenceEqual(got[a]),
                    $"pid {e.GetProperty("pid")} argv[{a}]: expected {Convert.ToHexString(want[a])}, stored {Convert.ToHexString(got[a])}");
            }
            Assert.Equal(want.Length, e.GetProperty("argc").GetInt32());
            Assert.False(e.TryGetProperty("argv_incomplete", out var inc) && inc.GetBoolean());
            Assert.Equal("/usr/bin/true", Encoding.UTF8.GetString(CollectorProcess.Bytes(e.GetProperty("exe"))));
            Assert.Equal(CollectorProcess.AgentId, e.GetProperty("agent_id").GetString());
        }
        var stats = Collector.Stats();
        Assert.Equal(0, stats.GetProperty("loss").GetProperty("total_lost").GetInt64());
        Assert.Equal(0, stats.GetProperty("duplicates").GetInt64());
    }
}
