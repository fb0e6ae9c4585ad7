using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Sluice.Agent.Cli;
using Sluice.Audit.Accounts;
using Sluice.Protocol.Json;

namespace Sluice.Agent.Tests.Cli;

public sealed class ReplayCommandTests : IDisposable
{
    private static readonly string RawLog = Path.Combine(AppContext.BaseDirectory, "Fixtures", "corpus", "kernel-6.18-raw.log");
    private static readonly string EnrichedLog = Path.Combine(AppContext.BaseDirectory, "Fixtures", "corpus", "kernel-6.18-enriched.log");
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-replay-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Status, List<JsonElement> Events, string Stderr) Replay(params string[] paths) => Replay(false, paths);

    private static (int Status, List<JsonElement> Events, string Stderr) Replay(bool strict, params string[] paths) => Replay(strict, null, paths);

    private static (int Status, List<JsonElement> Events, string Stderr) Replay(bool strict, AccountNameCache? names, params string[] paths)
    {
        using var stdout = new MemoryStream();
        var stderr = new StringWriter();
        int status = ReplayCommand.Run(paths, stdout, stderr, strict, names);
        var events = new List<JsonElement>();
        foreach (string line in Encoding.UTF8.GetString(stdout.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            events.Add(JsonDocument.Parse(line).RootElement.Clone());
        }
        return (status, events, stderr.ToString());
    }

    private static byte[] Bytes(JsonElement e)
    {
        // GetString() refuses lone surrogates; read the escaped text and undo the encoding
        string raw = e.GetRawText();
        Assert.True(ByteStringJson.TryDecode(Encoding.UTF8.GetBytes(raw[1..^1]), out byte[] bytes), raw);
        return bytes;
    }

    private static int DistinctSerials(string path) => File.ReadLines(path)
        .Select(l => l[(l.IndexOf(':', l.IndexOf("audit(", StringComparison.Ordinal)) + 1)..l.IndexOf(')')])
        .Distinct().Count();

    [Theory]
    [InlineData("kernel-6.18-raw.log")]
    [InlineData("kernel-6.18-enriched.log")]
    public void Run_Corpus_OneLinePerSerialWithTheKeys(string file)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "corpus", file);

        var (status, events, stderr) = Replay(path);

        Assert.Equal(0, status);
        Assert.Equal(DistinctSerials(path), events.Count);
        Assert.Equal(events.Count, events.Select(e => e.GetProperty("serial").GetUInt64()).Distinct().Count());
        Assert.Contains("3799 lines, 3799 records, 836 events, 0 malformed lines", stderr);
        Assert.All(events, e =>
        {
            Assert.Equal(JsonValueKind.Number, e.GetProperty("serial").ValueKind);
            Assert.Matches(@"^\d+\.\d{3}$", e.GetProperty("timestamp").GetString());
            Assert.False(e.TryGetProperty("node", out _));
            Assert.All(e.GetProperty("records").EnumerateArray(), r =>
            {
                Assert.Matches("^[A-Z_]+$", r.GetProperty("type").GetString());
                Assert.StartsWith("audit(" + e.GetProperty("timestamp").GetString() + ":" + e.GetProperty("serial").GetUInt64() + "): ", r.GetProperty("raw").GetString());
            });
        });
        var syscalls = events.Where(e => e.GetProperty("first_type").GetString() == "SYSCALL").ToList();
        Assert.True(syscalls.Count > 800);
        Assert.All(syscalls, e =>
        {
            foreach (string key in new[] { "syscall", "success", "exit", "pid", "ppid", "uid", "auid", "comm", "exe" })
            {
                Assert.True(e.TryGetProperty(key, out _), $"serial {e.GetProperty("serial")} has no {key}");
            }
        });
        var exec = events.First(e => e.TryGetProperty("syscall", out var s) && s.GetString() == "execve");
        foreach (string key in new[] { "key", "cwd", "argv", "paths", "proctitle" })
        {
            Assert.True(exec.TryGetProperty(key, out _), $"the execve event has no {key}");
        }
        Assert.Equal("exec", exec.GetProperty("key").GetString());
    }

    [Fact]
    public void Run_RawCorpus_RecordsAreTheExactKernelText()
    {
        var (_, events, _) = Replay(RawLog);

        var fromJson = events.SelectMany(e => e.GetProperty("records").EnumerateArray()
            .Select(r => $"type={r.GetProperty("type").GetString()} msg={Encoding.UTF8.GetString(Bytes(r.GetProperty("raw")))}"))
            .Order(StringComparer.Ordinal);
        var fromFile = File.ReadLines(RawLog).Order(StringComparer.Ordinal);

        Assert.Equal(fromFile, fromJson);
    }

    [Fact]
    public void Run_EnrichedCorpus_SuffixKeptApartFromRaw()
    {
        var (_, events, _) = Replay(EnrichedLog);

        var syscall = events.SelectMany(e => e.GetProperty("records").EnumerateArray()).First(r => r.GetProperty("type").GetString() == "SYSCALL");
        Assert.DoesNotContain("\u001d", syscall.GetProperty("raw").GetString());
        Assert.StartsWith("ARCH=x86_64 SYSCALL=", syscall.GetProperty("enriched").GetString());
    }

    [Fact]
    public void Run_LongCommandLine_ArgvExact()
    {
        var (_, events, _) = Replay(RawLog);

        var ev = Assert.Single(events, e => e.TryGetProperty("argc", out var argc) && argc.GetInt32() == 3002);
        var argv = ev.GetProperty("argv").EnumerateArray().Select(Bytes).ToList();
        Assert.Equal(3002, argv.Count);
        Assert.Equal("/bin/true"u8.ToArray(), argv[0]);
        Assert.Equal(Enumerable.Repeat((byte)'A', 9000).ToArray(), argv[1]);
        Assert.Equal(Enumerable.Range(0, 3000).Select(i => $"x{i}"), argv.Skip(2).Select(Encoding.ASCII.GetString));
        Assert.False(ev.TryGetProperty("argv_incomplete", out _));
    }

    [Fact]
    public void Run_NotUtf8Arguments_SurrogateEscapedAndRoundTrip()
    {
        byte[] arg = [0xff, 0xfe, (byte)'a', 0xc3, 0xbc, 0xe2, 0x82, (byte)'"', 0x80, (byte)'\n'];
        string path = Path.Combine(_dir, "audit.log");
        File.WriteAllLines(path,
        [
            "type=SYSCALL msg=audit(1700000000.001:5): arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=2 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=\"x\" exe=\"/x\" key=(null)",
            $"type=EXECVE msg=audit(1700000000.001:5): argc=2 a0=\"/x\" a1={Convert.ToHexString(arg)}",
            $"type=PROCTITLE msg=audit(1700000000.001:5): proctitle=2F7800{Convert.ToHexString(arg)}",
        ]);

        using var stdout = new MemoryStream();
        ReplayCommand.Run([path], stdout, new StringWriter());
        string line = Encoding.UTF8.GetString(stdout.ToArray());
        var ev = JsonDocument.Parse(line).RootElement;

        Assert.Contains("\"argv\":[\"/x\",\"\\udcff\\udcfeaü\\udce2\\udc82\\\"\\udc80\\n\"]", line);
        Assert.Equal(arg, Bytes(ev.GetProperty("argv")[1]));
        Assert.Equal(arg, Bytes(ev.GetProperty("proctitle")[1]));
    }

    [Fact]
    public void Run_MalformedLines_ReportedWithLineNumberCountedAndReplayGoesOn()
    {
        string path = Path.Combine(_dir, "bad.log");
        File.WriteAllLines(path,
        [
            "type=SYSCALL msg=audit(1.001:1): arch=c000003e syscall=59 success=yes exit=0 pid=2",
            "type=PROCTITLE msg=audit(1.001:1): proctitle=78",
            "this is not an audit record",
            "type=SYSCALL msg=audit(1.001): arch=c000003e",
            "type=NO_SUCH_TYPE msg=audit(1.001:2): x=1",
            "type=SYSCALL msg=audit(1.001:3): arch=c000003e syscall=2 success=no exit=-2 pid=3",
            "type=PROCTITLE msg=audit(1.001:3): proctitle=79",
        ]);

        var (status, events, stderr) = Replay(path);
        var (strictStatus, _, _) = Replay(true, path);

        Assert.Equal(0, status);
        Assert.Equal(3, strictStatus);
        Assert.Equal([1UL, 3UL], events.Select(e => e.GetProperty("serial").GetUInt64()));
        Assert.Equal("ENOENT", events[1].GetProperty("exit_name").GetString());
        Assert.Contains($"{path}:3: malformed record (no known type=): this is not an audit record", stderr);
        Assert.Contains($"{path}:4: malformed record (no msg=audit(SEC.MSEC:SERIAL): header)", stderr);
        Assert.Contains($"{path}:5: malformed record (no known type=)", stderr);
        Assert.Contains("7 lines, 4 records, 2 events, 3 malformed lines", stderr);
    }

    [Fact]
    public void Run_RotatedGzipAndPlain_SameEventsAsOneFile()
    {
        string[] lines = File.ReadAllLines(RawLog);
        int cut = lines.Length / 2;
        string older = Path.Combine(_dir, "audit.log.1.gz");
        string newer = Path.Combine(_dir, "audit.log");
        using (var gz = new GZipStream(File.Create(older), CompressionLevel.Fastest))
        {
            gz.Write(Encoding.UTF8.GetBytes(string.Join('\n', lines[..cut]) + "\n"));
        }
        File.WriteAllLines(newer, lines[cut..]);

        var (status, split, _) = Replay(older, newer);
        var (_, whole, _) = Replay(RawLog);

        Assert.Equal(0, status);
        Assert.Equal(whole.Select(e => e.GetRawText()), split.Select(e => e.GetRawText()));
    }

    [Fact]
    public void Run_MissingFile_Status1AndOtherFilesStillReplayed()
    {
        string missing = Path.Combine(_dir, "nope.log");

        var (status, events, stderr) = Replay(missing, RawLog);

        Assert.Equal(1, status);
        Assert.Equal(836, events.Count);
        Assert.Contains($"{missing}: cannot read", stderr);
    }

    [Fact]
    public void Cli_StdinDash_WritesJsonLines()
    {
        var (code, output) = AgentProcess.RunTool("sh", $"-c \"'{AgentProcess.ExePath}' replay - < '{RawLog}' 2>/dev/null | wc -l\"");

        Assert.Equal(0, code);
        Assert.Equal("836", output.Trim());
    }

    [Fact]
    public void Cli_Help_DocumentsTheEncoding()
    {
        var (code, stdout, _) = AgentProcess.Run("replay --help");

        Assert.Equal(0, code);
        Assert.Contains("surrogateescape", stdout);
        Assert.Contains("\\udc80", stdout);
    }

    private static readonly string[] NameKeys =
        ["uid_name", "auid_name", "euid_name", "suid_name", "fsuid_name", "gid_name", "egid_name", "sgid_name", "fsgid_name", "path_ouid_names", "path_ogid_names"];

    [Fact]
    public void Run_WithoutNames_IdsStayNumeric()
    {
        var (status, events, stderr) = Replay(RawLog);

        Assert.Equal(0, status);
        Assert.All(events, e => Assert.All(NameKeys, k => Assert.False(e.TryGetProperty(k, out _), $"serial {e.GetProperty("serial")} has {k}")));
        Assert.DoesNotContain("passwd", stderr);
    }

    [Fact]
    public void Run_WithNames_EveryIdNamedFromTheGivenFiles()
    {
        var names = new AccountNameCache(Path.Combine(AppContext.BaseDirectory, "Fixtures", "accounts"));

        var (status, events, stderr) = Replay(false, names, RawLog);

        Assert.Equal(0, status);
        Assert.Equal(836, events.Count);
        // the fixture's malformed lines are reported before the events, and skipped
        Assert.Contains("etc/passwd: 2 malformed lines skipped (the first is line 7)", stderr);
        Assert.Contains("etc/group: 1 malformed lines skipped (the first is line 5)", stderr);
        var byUid = new Dictionary<uint, string> { [0] = "root", [1001] = "corpususer" };
        var byGid = new Dictionary<uint, string> { [0] = "root", [42] = "shadow", [1001] = "corpususer" };
        int syscalls = 0;
        foreach (JsonElement e in events.Where(e => e.TryGetProperty("syscall", out _)))
        {
            syscalls++;
            foreach (var (id, map) in new[] { ("uid", byUid), ("euid", byUid), ("gid", byGid), ("egid", byGid) })
            {
                Assert.Equal(map[e.GetProperty(id).GetUInt32()], e.GetProperty(id + "_name").GetString());
            }
            uint auid = e.GetProperty("auid").GetUInt32();
            Assert.Equal(auid == uint.MaxValue ? null : byUid[auid], e.TryGetProperty("auid_name", out var an) ? an.GetString() : null);
            Assert.True(e.TryGetProperty("suid_name", out _) && e.TryGetProperty("fsgid_name", out _));
            if (e.TryGetProperty("path_ouid_names", out JsonElement owners))
            {
                Assert.Equal(e.GetProperty("paths").GetArrayLength(), owners.GetArrayLength());
                Assert.Equal(owners.GetArrayLength(), e.GetProperty("path_ogid_names").GetArrayLength());
            }
        }
        Assert.True(syscalls > 800);
        var shadow = events.Where(e => e.TryGetProperty("path_ogid_names", out var g) && g.EnumerateArray().Any(x => x.GetString() == "shadow")).ToList();
        Assert.NotEmpty(shadow);
        Assert.Contains(shadow, e => e.GetProperty("paths").EnumerateArray().Any(p => p.GetString() == "/etc/shadow"));
    }

    [Fact]
    public void Run_NamesFilesMissing_SaidOnStderrAndIdsStayNumeric()
    {
        var (status, events, stderr) = Replay(false, new AccountNameCache(_dir), RawLog);

        Assert.Equal(0, status);
        Assert.Contains($"{Path.Combine(_dir, "etc", "passwd")}: no such file; those ids stay numeric", stderr);
        Assert.All(events, e => Assert.False(e.TryGetProperty("uid_name", out _)));
    }

    [Fact]
    public void Cli_Names_ThisHostsFiles()
    {
        var (code, stdout, stderr) = AgentProcess.Run($"replay --names \"{RawLog}\"");

        Assert.Equal(0, code);
        var root = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement)
            .First(e => e.TryGetProperty("uid", out var u) && u.GetUInt32() == 0);
        Assert.Equal("root", root.GetProperty("uid_name").GetString());
        Assert.Contains("836 events", stderr);
    }

    [Fact]
    public void Cli_NamesRootNotADirectory_Status2()
    {
        string missing = Path.Combine(_dir, "nowhere");

        var (code, stdout, stderr) = AgentProcess.Run($"replay --names-root \"{missing}\" \"{RawLog}\"");

        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Contains($"--names-root {missing}: no such directory", stderr);
    }

    [Fact]
    public void Cli_Help_SaysNamesAreThisHosts()
    {
        var (code, stdout, _) = AgentProcess.Run("replay --help");

        Assert.Equal(0, code);
        Assert.Contains("--names", stdout);
        Assert.Contains("THIS host", stdout);
        Assert.Contains("--names-root", stdout);
    }
}
