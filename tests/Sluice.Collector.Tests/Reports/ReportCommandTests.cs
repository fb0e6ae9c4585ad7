using System.Text.RegularExpressions;
using Sluice.Collector.Cli;
using Sluice.Collector.Tests.Support;
using static Sluice.Collector.Tests.Reports.ReportDataset;

namespace Sluice.Collector.Tests.Reports;

public sealed partial class ReportCommandTests : IDisposable
{
    private readonly SqliteStoreFactory _stores = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-report-cli-").FullName;

    public void Dispose()
    {
        _stores.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<string> FedStoreAsync()
    {
        var (store, spec) = await _stores.CreateAsync();
        await using (store)
        {
            await FeedAsync(store);
        }
        return spec;
    }

    private async Task<(int Rc, string Stderr, string Out)> RunAsync(string spec, string format, string from = "2025-11-25T00:00:00Z", string to = "2025-11-25T02:00:00Z",
        string? agent = null, string? baseline = null, int? silence = null)
    {
        string path = Path.Combine(_dir, "report." + format);
        var stderr = new StringWriter();
        int rc = await ReportCommand.RunAsync(spec, from, to, agent, format, path, baseline, silence, null, stderr, CancellationToken.None);
        return (rc, stderr.ToString(), File.Exists(path) ? await File.ReadAllTextAsync(path) : "");
    }

    [Fact]
    public async Task Html_SelfContained_ChartsWithOneLinePerHostAndLossBars()
    {
        var (rc, stderr, html) = await RunAsync(await FedStoreAsync(), "html");

        Assert.Equal(0, rc);
        Assert.Contains("4 hosts, 1 continuous and complete", stderr);
        // Nothing is fetched: no external URL but the SVG namespace, no script, no link, no img src.
        Assert.Equal(["http://www.w3.org/2000/svg"], UrlRegex().Matches(html).Select(m => m.Value).Distinct());
        Assert.DoesNotContain("<script", html);
        Assert.DoesNotContain("<link", html);
        Assert.Contains("<svg id=\"events-per-hour\"", html);
        Assert.Equal(["a", "b"], HostLineRegex().Matches(html).Select(m => m.Groups[1].Value));
        Assert.Contains("<title>a: 27 events</title>", html);
        Assert.Equal(["3", "1"], LossBarRegex().Matches(html).Select(m => m.Groups[1].Value));
        Assert.Contains("times in UTC", html);
        Assert.Contains("PCI DSS v4.0 10.2.1.2", html);
    }

    [Fact]
    public async Task Md_CoverageRowsAndControls()
    {
        var (rc, _, md) = await RunAsync(await FedStoreAsync(), "md");

        Assert.Equal(0, rc);
        Assert.Contains("- Range: 2025-11-25T00:00:00.000Z to 2025-11-25T02:00:00.000Z (times in UTC", md);
        Assert.Contains("| b | b.example | gaps: no agent 2025-11-25 00:30:00 to 2025-11-25 01:10:00 (40m) | no | 1h 20m | 40m | 1 | 1 | 81 |", md);
        Assert.Contains("| d | d.example | continuous, complete | yes | 2h | 0ms |", md);
        Assert.Contains("Evidences: PCI DSS v4.0 10.2.1.4", md);
    }

    [Fact]
    public async Task Csv_OneFilePerSectionAndAnIndex()
    {
        string spec = await FedStoreAsync();
        var (rc, _, index) = await RunAsync(spec, "csv");

        Assert.Equal(0, rc);
        var lines = index.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("from,to,time_zone,generated_at,agent,table,file,rows", lines[0]);
        // Coverage (4), privileged (2), identity (2), access failures, audit changes (2), baseline, central policy (2).
        Assert.Equal(14, lines.Length - 1);
        Assert.Contains(lines, l => l.EndsWith(",policy,report.policy.csv,4", StringComparison.Ordinal));
        string privileged = await File.ReadAllTextAsync(Path.Combine(_dir, "report.privileged-commands.csv"));
        Assert.Contains("\r\nb,b.example,1001,1001,/usr/bin/sudo,sudo systemctl restart nginx,/usr/sbin/sshd \u2192 /usr/bin/bash \u2192 /usr/bin/sudo,1,2025-11-25T01:10:00.500Z,2025-11-25T01:10:00.500Z\r\n", privileged);
        Assert.Contains("\r\na,a.example,0,0,/usr/bin/id,id,unknown (no context) \u2192 /usr/bin/id,8,", privileged);
    }

    [Fact]
    public async Task Json_UnixSecondsRangeAndAgent()
    {
        var (rc, _, json) = await RunAsync(await FedStoreAsync(), "json", from: "1764028800", to: "1764036000", agent: "a");

        Assert.Equal(0, rc);
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal("UTC", root.GetProperty("time_zone").GetString());
        Assert.Equal(T0, root.GetProperty("from_unix_ms").GetInt64());
        Assert.Equal("a", root.GetProperty("coverage")[0].GetProperty("agent_id").GetString());
        Assert.Equal(11, root.GetProperty("privileged").GetProperty("total").GetInt64());
        Assert.Equal(1, root.GetProperty("coverage").GetArrayLength());
    }

    [Theory]
    [InlineData("pdf", null, null, "--format 'pdf': expected html, md, csv or json")]
    [InlineData("json", "2025-11-25T02:00:00Z", null, "must be after --from")]
    [InlineData("json", null, "no-such.rules", "--baseline 'no-such.rules': no such file")]
    public async Task BadArguments_ExitTwoNamingTheArgument_NothingWritten(string format, string? from, string? baseline, string message)
    {
        string spec = await FedStoreAsync();
        var (rc, stderr, output) = await RunAsync(spec, format, from: from ?? "2025-11-25T00:00:00Z", baseline: baseline);

        Assert.Equal(2, rc);
        Assert.Contains(message, stderr);
        Assert.Equal("", output);
    }

    [Fact]
    public async Task BadBaselineRule_ExitTwoNamingFileAndLine()
    {
        string rules = Path.Combine(_dir, "bad.rules");
        await File.WriteAllTextAsync(rules, "-w /etc/passwd -p wa -k identity\n-a always,exit -S no_such_call\n");

        var (rc, stderr, _) = await RunAsync(await FedStoreAsync(), "md", baseline: rules);

        Assert.Equal(2, rc);
        Assert.Contains($"--baseline '{rules}': not a usable rules file: {rules}:2", stderr);
    }

    [Fact]
    public async Task MissingStore_ExitOne()
    {
        var (rc, stderr, _) = await RunAsync("sqlite:" + Path.Combine(_dir, "none.db"), "md");

        Assert.Equal(1, rc);
        Assert.Contains("no SQLite store at", stderr);
    }

    [GeneratedRegex(@"https?://[^\s""'<>]+")]
    private static partial Regex UrlRegex();

    [GeneratedRegex(@"<polyline data-host=""([^""]+)""")]
    private static partial Regex HostLineRegex();

    [GeneratedRegex(@"<rect data-hour=""2025-11-25T00:00:00.000Z"" data-kind=""[^""]+"" data-lost=""(\d+)""")]
    private static partial Regex LossBarRegex();
}
