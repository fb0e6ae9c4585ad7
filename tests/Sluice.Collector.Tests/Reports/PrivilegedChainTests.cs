using System.Text.Json;
using Google.Protobuf;
using Sluice.Collector.Cli;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using static Sluice.Collector.Tests.Reports.ReportDataset;

namespace Sluice.Collector.Tests.Reports;

/// <summary>
/// The privileged-commands section shows each command's parent chain, in every report format, on each store: known
/// levels, an unknown parent, a chain that stops at an unknown pid, one cut at the agent's depth, none at all, and
/// ancestors whose exe is hostile (markup, a spreadsheet formula, a newline, bytes that are not UTF-8).
/// </summary>
public abstract class PrivilegedChainTests : PerStoreTests
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-report-chain-").FullName;

    private protected PrivilegedChainTests(IStoreFactory stores) : base(stores)
    {
    }

    public override void Dispose()
    {
        Directory.Delete(_dir, recursive: true);
        base.Dispose();
    }

    private static ByteString B(string s) => ByteString.CopyFromUtf8(s);

    private static ProcessContext Chain(bool truncated, params string?[] ancestry)
    {
        var c = new ProcessContext { ParentState = ContextState.Known, AncestryTruncated = truncated };
        uint pid = 900;
        foreach (string? exe in ancestry)
        {
            c.Ancestry.Add(exe is null ? new Ancestor { Pid = pid--, Unknown = true } : new Ancestor { Pid = pid--, Exe = B(exe) });
        }
        c.Parent = new ProcessRef { Pid = 900, Exe = c.Ancestry[0].Exe };
        return c;
    }

    private async Task<string> FeedAsync()
    {
        var (store, spec) = await Stores.CreateAsync();
        await using var _ = store;
        var batch = Batch("h", 1, T0, T0 + Minute, "h1");
        batch.Events.Add(Exec(T0 + 1, 1, 0, 1000, 1000, "/usr/bin/sudo", "sudo", "id").With(Chain(false, "/usr/bin/bash", "/usr/sbin/sshd", "/usr/lib/systemd/systemd")));
        batch.Events.Add(Exec(T0 + 2, 2, 0, 1000, 1000, "/usr/bin/sudo", "sudo", "id").With(Chain(false, "/usr/bin/bash", "/usr/sbin/sshd", "/usr/lib/systemd/systemd")));
        batch.Events.Add(Exec(T0 + 3, 3, 0, 1000, 1000, "/usr/bin/sudo", "sudo", "id").With(new ProcessContext { ParentState = ContextState.Unknown }));
        batch.Events.Add(Exec(T0 + 4, 4, 0, 1000, 1000, "/usr/bin/su", "su").With(Chain(false, "/bin/sh", null)));
        batch.Events.Add(Exec(T0 + 5, 5, 0, 1000, 1000, "/usr/bin/passwd", "passwd").With(Chain(true, "/bin/sh", "/usr/bin/make")));
        batch.Events.Add(Exec(T0 + 6, 6, 0, 1000, 1000, "/usr/bin/id", "id"));
        var hostile = Chain(false, "<script>alert(1)</script>", "=cmd|' /C calc'!A0", "/tmp/a\nb|c");
        hostile.Ancestry[2].Exe = ByteString.CopyFrom([(byte)'/', 0xff, (byte)'x']);
        batch.Events.Add(Exec(T0 + 7, 7, 0, 1000, 1000, "/usr/bin/mount", "mount").With(hostile));
        await store.StoreBatchAsync(batch, T0 + Minute, CancellationToken.None);
        return spec;
    }

    private async Task<string> ReportAsync(string spec, string format)
    {
        string path = Path.Combine(_dir, format, "report." + format);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var stderr = new StringWriter();
        int rc = await ReportCommand.RunAsync(spec, "2025-11-25T00:00:00Z", "2025-11-25T02:00:00Z", null, format, path, null, null, null, stderr, CancellationToken.None);
        Assert.True(rc == 0, stderr.ToString());
        return await File.ReadAllTextAsync(format == "csv" ? Path.Combine(_dir, format, "report.privileged-commands.csv") : path);
    }

    private const string Ssh = "/usr/lib/systemd/systemd \u2192 /usr/sbin/sshd \u2192 /usr/bin/bash \u2192 /usr/bin/sudo";

    [Fact]
    public async Task Json_EachCommandGroupedWithItsChain_UnknownWhereNotKnown()
    {
        string json = await ReportAsync(await FeedAsync(), "json");

        using var doc = JsonDocument.Parse(json);
        var commands = doc.RootElement.GetProperty("privileged").GetProperty("commands").EnumerateArray()
            .ToDictionary(c => c.GetProperty("parent_chain").GetString()!, c => c.GetProperty("count").GetInt64());
        Assert.Equal(2, commands[Ssh]);
        Assert.Equal(1, commands["unknown \u2192 /usr/bin/sudo"]);
        Assert.Equal(1, commands["unknown \u2192 /bin/sh \u2192 /usr/bin/su"]);
        Assert.Equal(1, commands["\u2026 \u2192 /usr/bin/make \u2192 /bin/sh \u2192 /usr/bin/passwd"]);
        Assert.Equal(1, commands["unknown (no context) \u2192 /usr/bin/id"]);
        Assert.Equal(1, commands["/\uFFFDx \u2192 =cmd|' /C calc'!A0 \u2192 <script>alert(1)</script> \u2192 /usr/bin/mount"]);
        Assert.Equal(7, commands.Values.Sum());
    }

    [Fact]
    public async Task HtmlMarkdownCsv_ShowTheChain_HostileExesEscaped()
    {
        string spec = await FeedAsync();

        string html = await ReportAsync(spec, "html");
        string md = await ReportAsync(spec, "md");
        string csv = await ReportAsync(spec, "csv");

        Assert.Contains(System.Net.WebUtility.HtmlEncode(Ssh), html);
        Assert.Contains("unknown \u2192 /usr/bin/sudo", html);
        Assert.DoesNotContain("<script>alert(1)</script>", html);
        Assert.Contains("&lt;script&gt;alert(1)&lt;/script&gt; \u2192 /usr/bin/mount", html);
        Assert.Contains(Ssh, md);
        Assert.Contains("unknown (no context) \u2192 /usr/bin/id", md);
        Assert.StartsWith("agent,host,login_user,uid,exe,argv,parent_chain,count,first,last\r\n", csv);
        Assert.Contains($",{Ssh},2,", csv);
        Assert.Contains(",\u2026 \u2192 /usr/bin/make \u2192 /bin/sh \u2192 /usr/bin/passwd,1,", csv);
        // The chain that starts with a formula character's ancestor starts with '/', not '=': it is not quoted; the cell
        // holding the newline is quoted whole (RFC 4180).
        Assert.Contains(",\"/tmp/a\nb|c \u2192 /bin/sh", await ReportAsync(await FeedNewlineAsync(), "csv"));
    }

    private async Task<string> FeedNewlineAsync()
    {
        var (store, spec) = await Stores.CreateAsync();
        await using var _ = store;
        var batch = Batch("n", 1, T0, T0 + Minute, "h1");
        batch.Events.Add(Exec(T0 + 1, 1, 0, 1000, 1000, "/usr/bin/sudo", "sudo").With(Chain(false, "/bin/sh", "/tmp/a\nb|c")));
        await store.StoreBatchAsync(batch, T0 + Minute, CancellationToken.None);
        return spec;
    }
}

internal static class EventContextExtensions
{
    public static Event With(this Event e, ProcessContext context)
    {
        e.Context = context;
        return e;
    }
}

public sealed class SqlitePrivilegedChainTests() : PrivilegedChainTests(new SqliteStoreFactory());

[Collection(PostgresCollection.Name)]
public sealed class PostgresPrivilegedChainTests(PostgresFixture pg) : PrivilegedChainTests(new PostgresStoreFactory(pg.Cluster));
