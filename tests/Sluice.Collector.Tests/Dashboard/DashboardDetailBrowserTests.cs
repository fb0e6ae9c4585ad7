using Google.Protobuf;
using Grpc.Net.Client;
using OpenQA.Selenium;
using Sluice.Collector.Tests.Storage;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using Xunit.Abstractions;

namespace Sluice.Collector.Tests.Dashboard;

/// <summary>
/// The event detail in a real browser (headless Chromium, a real collector over SQLite): the ancestry tree of a found
/// event, the unknown level where the chain stops, the cut, container and unit, and hostile values shown as text,
/// never as markup.
/// </summary>
public sealed class DashboardDetailBrowserTests(ITestOutputHelper output) : IDisposable
{
    private readonly SqliteStoreFactory _stores = new();

    public void Dispose() => _stores.Dispose();

    private const string Markup = "<img src=x onerror=\"document.body.dataset.owned='yes'\">";

    [Fact]
    public async Task Detail_FoundEvents_AncestryTreeContainerUnit_HostileValuesAsText()
    {
        var (store, _) = await _stores.CreateAsync();
        await using var server = await DashboardData.StartAsync(store);
        await using var _s = server.Store;
        var batch = TestEvents.Batch("web-1", 1, 3);
        batch.Events[0].With(Contexts.Ssh());
        batch.Events[1].With(Contexts.CronPartial());
        var hostile = Contexts.Ssh(containerId: Markup, runtime: "<b>rt</b>", unit: "u.service\n" + Markup);
        hostile.Parent.Exe = ByteString.CopyFromUtf8("/tmp/" + Markup);
        hostile.Ancestry[0].Exe = hostile.Parent.Exe;
        hostile.Container.Inherited = true;
        hostile.AncestryTruncated = true;
        batch.Events[2].With(hostile);
        using (var channel = GrpcChannel.ForAddress(server.Address))
        {
            await new Sluice.Protocol.V1.Ingest.IngestClient(channel).SendAsync(batch);
        }
        using var browser = new HeadlessChromium();
        var d = browser.Driver;
        d.Navigate().GoToUrl(new Uri(server.Address, "/?from=2025-11-24T23:00:00Z&to=2025-11-25T01:00:00Z"));
        browser.WaitFor(() => d.FindElement(By.TagName("body")).GetDomAttribute("data-loaded") == "true", "the page to load its data");

        d.FindElement(By.Id("search-parent-exe")).SendKeys("bash");
        d.FindElement(By.CssSelector("#search-form button[type='submit']")).Click();
        browser.WaitFor(() => d.FindElements(By.CssSelector("#search-table tbody tr")).Count == 1, "the one event whose parent is bash");
        d.FindElement(By.CssSelector("#search-table tbody tr[data-serial='1']")).Click();
        browser.WaitFor(() => d.FindElement(By.Id("event-detail")).GetDomAttribute("data-serial") == "1", "the detail of serial 1");
        string?[] levels = [.. d.FindElements(By.CssSelector("#detail-tree li")).Select(li => li.GetDomAttribute("data-level"))];
        Assert.Equal(new string?[] { "0", "1", "2", "3" }, levels);
        Assert.StartsWith("/usr/bin/bash  ·  pid 2100  ·  exec serial 880", d.FindElement(By.CssSelector("#detail-tree li[data-level='1']")).Text);
        Assert.Contains("argv: -bash", d.FindElement(By.CssSelector("#detail-tree li[data-level='1']")).Text);
        Assert.StartsWith("/usr/sbin/sshd  ·  pid 2000  ·  exec serial 12", d.FindElement(By.CssSelector("#detail-tree li[data-level='2']")).Text);
        Assert.StartsWith("/usr/lib/systemd/systemd  ·  pid 1", d.FindElement(By.CssSelector("#detail-tree li[data-level='3']")).Text);
        Assert.Equal($"{Contexts.DockerId} (docker)", Value(d, "container"));
        Assert.Equal("ssh.service", Value(d, "unit"));

        // The chain that stops at an unknown pid, on the host.
        d.FindElement(By.Id("search-parent-exe")).Clear();
        d.FindElement(By.CssSelector("#search-form button[type='submit']")).Click();
        browser.WaitFor(() => d.FindElements(By.CssSelector("#search-table tbody tr")).Count == 3, "all three events");
        d.FindElement(By.CssSelector("#search-table tbody tr[data-serial='2']")).Click();
        browser.WaitFor(() => d.FindElement(By.Id("event-detail")).GetDomAttribute("data-serial") == "2", "the detail of serial 2");
        var unknown = d.FindElement(By.CssSelector("#detail-tree li.unknown[data-level='3']"));
        Assert.StartsWith("unknown (pid 3100", unknown.Text);
        Assert.Equal("none (not in a container)", Value(d, "container"));

        // Hostile values: text, not markup.
        d.FindElement(By.CssSelector("#search-table tbody tr[data-serial='3']")).Click();
        browser.WaitFor(() => d.FindElement(By.Id("event-detail")).GetDomAttribute("data-serial") == "3", "the detail of serial 3");
        Assert.StartsWith("/tmp/" + Markup, d.FindElement(By.CssSelector("#detail-tree li[data-level='1']")).Text);
        Assert.Equal($"{Markup} (<b>rt</b>), inherited from an ancestor", Value(d, "container"));
        Assert.Equal("u.service\n" + Markup, Value(d, "unit"));
        Assert.StartsWith("… (cut", d.FindElement(By.CssSelector("#detail-tree li[data-level='cut']")).Text);
        Assert.Empty(d.FindElements(By.CssSelector("#event-detail img, #event-detail b, #search-table img")));
        Assert.Null(d.FindElement(By.TagName("body")).GetDomAttribute("data-owned"));
        string path = Path.Combine(AppContext.BaseDirectory, "TestResults", "dashboard-detail.png");
        browser.Screenshot(path);
        output.WriteLine($"screenshot: {path}");
    }

    private static string Value(IWebDriver d, string key) =>
        d.FindElement(By.CssSelector($"#detail-context tr[data-key='{key}'] td:nth-child(2)")).Text;
}
