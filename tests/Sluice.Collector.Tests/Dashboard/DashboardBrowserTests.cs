using System.Globalization;
using OpenQA.Selenium;
using Sluice.Collector.Hosting;
using Sluice.Collector.Tests.Support;
using Xunit.Abstractions;
using static Sluice.Collector.Tests.Dashboard.DashboardData;

namespace Sluice.Collector.Tests.Dashboard;

/// <summary>The dashboard in a real browser (headless Chromium) served by a real collector over SQLite, on the known fleet.</summary>
/// <remarks>Screenshots go to TestResults/ under the test assembly's directory; each test prints its path.</remarks>
public sealed class DashboardBrowserTests(ITestOutputHelper output) : IDisposable
{
    private static readonly string RangeQuery =
        $"from={Iso(From)}&to={Iso(To)}";

    private readonly SqliteStoreFactory _stores = new();

    public void Dispose() => _stores.Dispose();

    private static string Iso(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private async Task<CollectorServer> FleetCollectorAsync(string? tokenFile = null)
    {
        var (store, _) = await _stores.CreateAsync();
        var server = await StartAsync(store, tokenFile);
        await SendFleetAsync(server);
        return server;
    }

    private string SaveScreenshot(HeadlessChromium browser, string name)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "TestResults", name + ".png");
        browser.Screenshot(path);
        output.WriteLine($"screenshot: {path}");
        Assert.True(new FileInfo(path).Length > 10_000, $"{path} is too small to be a screenshot of the page");
        return path;
    }

    private static void WaitLoaded(HeadlessChromium browser) =>
        browser.WaitFor(() => browser.Driver.FindElement(By.TagName("body")).GetDomAttribute("data-loaded") == "true", "the page to load its data");

    private static IWebElement FleetRow(IWebDriver d, string agent) =>
        d.FindElement(By.CssSelector($"#fleet-table tbody tr[data-agent='{agent}']"));

    private static string Cell(IWebElement row, string column) =>
        row.FindElement(By.CssSelector($"td[data-col='{column}']")).Text;

    [Fact]
    public async Task Dashboard_KnownFleet_TableChartsAndSearchShowTheRightNumbers()
    {
        await using var server = await FleetCollectorAsync();
        await using var _ = server.Store;
        using var browser = new HeadlessChromium();
        var d = browser.Driver;

        d.Navigate().GoToUrl(new Uri(server.Address, "/?" + RangeQuery));
        WaitLoaded(browser);

        // The fleet table: one row per host, numbers as the page shows them.
        var rows = d.FindElements(By.CssSelector("#fleet-table tbody tr"));
        Assert.Equal(Agents, rows.Select(r => r.GetDomAttribute("data-agent")));
        var a = FleetRow(d, "agent-a");
        Assert.Equal("agent-a.example", Cell(a, "hostname"));
        Assert.Equal(EventsPerHourA.Sum().ToString(CultureInfo.InvariantCulture), Cell(a, "events"));
        Assert.Equal((KernelLostA + SocketOverrunsA + SerialGapsA).ToString(CultureInfo.InvariantCulture), Cell(a, "lost"));
        Assert.Equal(KernelLostA.ToString(CultureInfo.InvariantCulture), Cell(a, "kernel_lost"));
        Assert.Equal(SocketOverrunsA.ToString(CultureInfo.InvariantCulture), Cell(a, "socket_overruns"));
        Assert.Equal(SerialGapsA.ToString(CultureInfo.InvariantCulture), Cell(a, "serial_gaps"));
        Assert.Equal("0", Cell(a, "spool_dropped"));
        Assert.StartsWith("gaps:", Cell(a, "verdict"));
        var b = FleetRow(d, "agent-b");
        Assert.Equal(EventsB.ToString(CultureInfo.InvariantCulture), Cell(b, "events"));
        Assert.Equal("0", Cell(b, "lost"));
        Assert.StartsWith("gaps:", Cell(b, "verdict"));
        var c = FleetRow(d, "agent-c");
        Assert.Equal(EventsC.ToString(CultureInfo.InvariantCulture), Cell(c, "events"));
        Assert.Equal("continuous, complete", Cell(c, "verdict"));
        Assert.Equal("3 hosts, 1 continuous and complete; 660 events, 13 lost.", d.FindElement(By.Id("fleet-summary")).Text);

        // Drill down into agent-a: the events-per-hour chart has one bar per hour, sized by its count.
        a.Click();
        browser.WaitFor(() => d.FindElements(By.CssSelector("#chart-events svg g.hour")).Count == 3, "agent-a's events chart");
        Assert.Equal("agent-a", d.FindElement(By.Id("host")).GetDomAttribute("data-agent"));
        var hours = d.FindElements(By.CssSelector("#chart-events svg g.hour"));
        Assert.Equal(EventsPerHourA.Select(n => n.ToString(CultureInfo.InvariantCulture)), hours.Select(h => h.GetDomAttribute("data-value")));
        Assert.Equal(["2025-11-25T00:00:00Z", "2025-11-25T01:00:00Z", "2025-11-25T02:00:00Z"], hours.Select(h => h.GetDomAttribute("data-hour")));
        // Rendered heights, in screen pixels, are in the ratio of the counts (60 : 120 : 180).
        var heights = d.FindElements(By.CssSelector("#chart-events svg g.hour rect")).Select(r => (double)r.Size.Height).ToList();
        Assert.Equal(3, heights.Count);
        Assert.True(heights[2] > 50, $"the tallest bar is {heights[2]} px high: the chart did not render");
        Assert.InRange(heights[0] / heights[2], 1 / 3.0 - 0.02, 1 / 3.0 + 0.02);
        Assert.InRange(heights[1] / heights[2], 2 / 3.0 - 0.02, 2 / 3.0 + 0.02);
        Assert.Equal("(360 in 3 hours)", d.FindElement(By.CssSelector("#chart-events .chart-total")).Text);
        // The loss chart: 7 kernel lost in hour 1, 4 + 2 in hour 2.
        var loss = d.FindElements(By.CssSelector("#chart-loss svg g.hour")).Select(h => h.GetDomAttribute("data-value"));
        Assert.Equal(["0", "7", "6"], loss);
        Assert.Equal("(13 in 3 hours)", d.FindElement(By.CssSelector("#chart-loss .chart-total")).Text);
        var intervals = d.FindElements(By.CssSelector("#intervals-table tbody tr"));
        Assert.Equal("true", Assert.Single(intervals).GetDomAttribute("data-connected"));
        Assert.Equal(20, d.FindElements(By.CssSelector("#recent-table tbody tr")).Count);

        // agent-b's hour without batches is a disconnected interval in its coverage chart.
        FleetRow(d, "agent-b").Click();
        browser.WaitFor(() => d.FindElement(By.Id("host")).GetDomAttribute("data-agent") == "agent-b"
            && d.FindElements(By.CssSelector("#chart-coverage svg rect.disconnected")).Count == 1, "agent-b's coverage chart with its gap");
        Assert.Equal(["true", "false", "true"], d.FindElements(By.CssSelector("#intervals-table tbody tr")).Select(r => r.GetDomAttribute("data-connected")));
        Assert.Equal(["60", "0", "60"], d.FindElements(By.CssSelector("#chart-events svg g.hour")).Select(h => h.GetDomAttribute("data-value")));

        // agent-c's rules changed at minute 120: two hashes, the second marked as a change.
        FleetRow(d, "agent-c").Click();
        browser.WaitFor(() => d.FindElement(By.Id("host")).GetDomAttribute("data-agent") == "agent-c"
            && d.FindElements(By.CssSelector("#rules-table tbody tr")).Count == 2, "agent-c's two rules hashes");
        var rules = d.FindElements(By.CssSelector("#rules-table tbody tr"));
        Assert.Equal([RulesHash1, RulesHash2], rules.Select(r => r.GetDomAttribute("data-hash")));
        Assert.Equal("2025-11-25 02:01:00 " + RulesHash2 + " (changed)", rules[1].Text);

        // Search, bounded: 5 of agent-c's 180 events, then "more" brings the next 5.
        d.FindElement(By.CssSelector("#search-agent option[value='agent-c']")).Click();
        var limit = d.FindElement(By.Id("search-limit"));
        limit.Clear();
        limit.SendKeys("5");
        d.FindElement(By.CssSelector("#search-form button[type='submit']")).Click();
        browser.WaitFor(() => d.FindElements(By.CssSelector("#search-table tbody tr")).Count == 5, "5 search results");
        Assert.Equal("5 events shown, more older ones.", d.FindElement(By.Id("search-summary")).Text);
        Assert.All(d.FindElements(By.CssSelector("#search-table tbody tr")), r => Assert.Equal("agent-c", r.GetDomAttribute("data-agent")));
        // agent-c has one event per minute, serials 1..180: the newest first.
        Assert.Equal(["180", "179", "178", "177", "176"], d.FindElements(By.CssSelector("#search-table tbody tr")).Select(r => r.GetDomAttribute("data-serial")));
        var more = d.FindElement(By.Id("search-more"));
        Assert.True(more.Displayed);
        more.Click();
        browser.WaitFor(() => d.FindElements(By.CssSelector("#search-table tbody tr")).Count == 10, "10 search results after 'more'");
        Assert.Equal("171", d.FindElements(By.CssSelector("#search-table tbody tr"))[^1].GetDomAttribute("data-serial"));

        // Back to agent-a for the picture: the fleet table and its charts.
        FleetRow(d, "agent-a").Click();
        browser.WaitFor(() => d.FindElement(By.Id("host")).GetDomAttribute("data-agent") == "agent-a"
            && d.FindElements(By.CssSelector("#chart-events svg g.hour")).Count == 3, "agent-a's charts again");
        // Everything the page loaded came from the collector itself.
        var resources = (((IReadOnlyCollection<object>?)((IJavaScriptExecutor)d).ExecuteScript(
            "return performance.getEntriesByType('resource').map(e => e.name)")) ?? []).Cast<string>().ToList();
        Assert.Contains(resources, r => r.Contains("/dashboard/dashboard.js", StringComparison.Ordinal));
        Assert.Contains(resources, r => r.Contains("/api/fleet?", StringComparison.Ordinal));
        Assert.All(resources, r => Assert.StartsWith(server.Address.GetLeftPart(UriPartial.Authority) + "/", r));

        ((IJavaScriptExecutor)d).ExecuteScript("window.scrollTo(0, 0)");
        SaveScreenshot(browser, "dashboard-fleet");
        Assert.Equal("", d.FindElement(By.Id("error")).Text);
    }

    [Fact]
    public async Task Dashboard_QuarantineAndSpoolLoss_ShownByKindAndNeverHealthy()
    {
        var (store, _) = await _stores.CreateAsync();
        await using var server = await StartAsync(store);
        await using var _s = server.Store;
        // Two hosts up for the last hour until now, one batch each: "lossy" reports quarantine and spool corruption.
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        long from = now / HourMs * HourMs - HourMs;
        using (var channel = Grpc.Net.Client.GrpcChannel.ForAddress(server.Address))
        {
            var client = new Sluice.Protocol.V1.Ingest.IngestClient(channel);
            foreach (string agent in new[] { "lossy", "steady" })
            {
                var batch = Sluice.Collector.Tests.Support.TestEvents.Batch(agent, 1, 3, startUnixMs: from + MinuteMs);
                batch.Loss = agent == "lossy"
                    ? new Sluice.Protocol.V1.LossCounters { QuarantinedBatches = 2, QuarantinedEvents = 40, QuarantineTrimmedBatches = 1, QuarantineTrimmedEvents = 15, SpoolCorruptBatches = 3, SpoolCorruptEvents = 27 }
                    : new Sluice.Protocol.V1.LossCounters();
                await client.SendAsync(batch);
                for (long t = from - MinuteMs; t <= now; t += MinuteMs)
                {
                    await client.HeartbeatAsync(Sluice.Collector.Tests.Reports.ReportDataset.Heartbeat(agent, t, started: from - HourMs, hash: RulesHash1));
                }
            }
        }
        using var browser = new HeadlessChromium();
        var d = browser.Driver;

        // A range ending tomorrow, as "today" does: covered up to now.
        d.Navigate().GoToUrl(new Uri(server.Address, $"/?from={Iso(from)}&to={Iso(from + 24 * HourMs)}"));
        WaitLoaded(browser);

        var lossy = FleetRow(d, "lossy");
        Assert.Equal("false", lossy.GetDomAttribute("data-complete"));
        Assert.Contains("gap", lossy.FindElement(By.CssSelector("td[data-col='verdict']")).GetDomAttribute("class"));
        Assert.Equal(("67", "40", "27", "5"), (Cell(lossy, "lost"), Cell(lossy, "quarantined_events"), Cell(lossy, "spool_corrupt_events"), Cell(lossy, "batches_lost")));
        var steady = FleetRow(d, "steady");
        Assert.Equal("continuous, complete", Cell(steady, "verdict"));
        Assert.Equal("true", steady.GetDomAttribute("data-complete"));
        Assert.Contains("(coverage to now: ", d.FindElement(By.Id("fleet-range")).Text);
        Assert.Equal("2 hosts, 1 continuous and complete; 6 events, 67 lost. 5 whole batches lost.", d.FindElement(By.Id("fleet-summary")).Text);

        lossy.Click();
        browser.WaitFor(() => d.FindElement(By.Id("host")).GetDomAttribute("data-agent") == "lossy"
            && d.FindElements(By.CssSelector("#loss-table tbody tr")).Count == 18, "lossy's loss by kind");
        string Kind(string kind) => d.FindElement(By.CssSelector($"#loss-table tbody tr[data-kind='{kind}'] td.num")).Text;
        Assert.Equal(("67", "5", "2", "40", "1", "15", "3", "27"), (Kind("total"), Kind("batches_lost"), Kind("quarantined_batches"), Kind("quarantined_events"),
            Kind("quarantine_trimmed_batches"), Kind("quarantine_trimmed_events"), Kind("spool_corrupt_batches"), Kind("spool_corrupt_events")));
        Assert.Equal("0", d.FindElement(By.CssSelector("#delivery-table tbody tr[data-key='delivery_gaps'] td.num")).Text);
        Assert.StartsWith("gaps: 67 lost and 5 batches lost ", d.FindElement(By.Id("host-verdict")).Text);
        Assert.Single(d.FindElements(By.CssSelector("#chart-coverage svg rect.future")));
        SaveScreenshot(browser, "dashboard-loss-kinds");
        Assert.Equal("", d.FindElement(By.Id("error")).Text);
    }

    [Fact]
    public async Task Dashboard_TokenConfigured_AsksForItThenShowsTheFleet()
    {
        string dir = Directory.CreateTempSubdirectory("sluice-dash-token-").FullName;
        try
        {
            const string token = "d4shb0ard-t0ken-0123456789abcdef";
            string tokenFile = Path.Combine(dir, "dashboard.token");
            await PrivateFile.WriteAsync(tokenFile, token + "\n");
            await using var server = await FleetCollectorAsync(tokenFile);
            await using var _ = server.Store;
            using var browser = new HeadlessChromium();
            var d = browser.Driver;

            d.Navigate().GoToUrl(new Uri(server.Address, "/?" + RangeQuery));
            browser.WaitFor(() => d.FindElement(By.Id("token-bar")).Displayed, "the token prompt");
            Assert.Equal("dashboard token required: send 'Authorization: Bearer <token>'", d.FindElement(By.Id("token-reason")).Text);
            Assert.Empty(d.FindElements(By.CssSelector("#fleet-table tbody tr")));

            d.FindElement(By.Id("token-input")).SendKeys(token);
            d.FindElement(By.CssSelector("#token-form button[type='submit']")).Click();
            WaitLoaded(browser);

            Assert.Equal(Agents, d.FindElements(By.CssSelector("#fleet-table tbody tr")).Select(r => r.GetDomAttribute("data-agent")));
            Assert.Equal(EventsC.ToString(CultureInfo.InvariantCulture), Cell(FleetRow(d, "agent-c"), "events"));
            SaveScreenshot(browser, "dashboard-token");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
