using System.Data.Common;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OpenQA.Selenium;
using Sluice.Collector.Dashboard;
using Sluice.Collector.Hosting;
using Sluice.Collector.Reports;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using static Sluice.Collector.Tests.Dashboard.DashboardData;

namespace Sluice.Collector.Tests.Dashboard;

/// <summary>
/// <c>GET /api/fleet</c> through <see cref="FleetViewCache"/>, against a real collector over a real SQLite store holding
/// <see cref="DashboardData"/>'s fleet. The store's builds wait at a gate the test opens, and are counted; the collector's
/// clock is the test's, so a view's age is exact.
/// </summary>
public sealed class FleetViewCacheTests : IDisposable
{
    /// <summary>An hour after the fleet's data: the default range (the day before now) holds all of it.</summary>
    private static readonly DateTimeOffset Start = DateTimeOffset.FromUnixTimeMilliseconds(To + HourMs);

    private static readonly string PastRange = $"from={From / 1000}&to={To / 1000}";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private readonly SqliteStoreFactory _stores = new();
    private readonly FakeTimeProvider _time = new(Start);

    public void Dispose() => _stores.Dispose();

    [Fact]
    public async Task ConcurrentRequests_DuringOneBuild_ShareIt()
    {
        await using var fleet = await FleetAsync();
        fleet.Store.Close();

        // No to, and to=now, both name the day up to now: one range.
        var requests = Enumerable.Range(0, 10).Select(i => GetAsync(fleet, i % 2 == 0 ? "/api/fleet" : "/api/fleet?to=now")).ToList();
        await fleet.WaitingAsync(10);
        fleet.Store.Open();
        var answers = await Task.WhenAll(requests);

        Assert.Equal(1, fleet.Store.Builds);
        Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.Status));
        Assert.Single(answers.Select(a => a.Body.GetProperty("generated_at").GetString()).Distinct());
        Assert.All(answers, a => Assert.Equal(0, a.Body.GetProperty("age_ms").GetInt64()));
        Assert.Equal(Start.ToUnixTimeMilliseconds(), answers[0].Body.GetProperty("to_unix_ms").GetInt64());
    }

    [Fact]
    public async Task SlowBuild_NextRefresh_WaitsAsLongAfterItsEndAsItTook()
    {
        // A build that took 5 s (on the collector's clock): the next refresh comes 5 s after it ended, not 2 s, so that
        // under load builds do not run one after another beside ingest.
        await using var fleet = await FleetAsync();
        fleet.Store.Close();
        var first = GetAsync(fleet, "/api/fleet");
        await fleet.Store.ArrivedAsync(1);
        _time.Advance(TimeSpan.FromSeconds(5));
        fleet.Store.Open();
        Assert.Equal(HttpStatusCode.OK, (await first).Status);

        _time.Advance(TimeSpan.FromSeconds(3)); // 3 s after the end: past 2 s, not past the 5 s it took
        fleet.Store.Close();
        var early = await GetOkAsync(fleet, "/api/fleet");
        Assert.Equal(8000, early.GetProperty("age_ms").GetInt64());

        _time.Advance(TimeSpan.FromSeconds(2)); // 5 s after the end: the refresh starts now
        var due = await GetOkAsync(fleet, "/api/fleet");
        Assert.Equal(10_000, due.GetProperty("age_ms").GetInt64());
        await fleet.Store.ArrivedAsync(2);
        fleet.Store.Open();
        // Had the first request started it, the refresh would carry the time of that request (8 s).
        string refreshed = ReportTimeIso(Start.AddSeconds(10));
        await UntilAsync(fleet, "/api/fleet", v => v.GetProperty("generated_at").GetString() == refreshed);
        Assert.Equal(2, fleet.Store.Builds);
    }

    [Fact]
    public async Task RecentView_ServedAtOnce_WithItsAge_AndOneRefreshBuildsTheNext()
    {
        await using var fleet = await FleetAsync();
        var first = await GetOkAsync(fleet, "/api/fleet");
        Assert.Equal(1, fleet.Store.Builds);

        _time.Advance(TimeSpan.FromSeconds(3)); // past the refresh threshold, within the maximum age
        fleet.Store.Close();
        var clock = Stopwatch.StartNew();
        var served = await GetOkAsync(fleet, "/api/fleet");
        var again = await GetOkAsync(fleet, "/api/fleet");
        clock.Stop();

        // The store is held shut: an answer at all is one that did not wait for it.
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
        Assert.Equal(first.GetProperty("generated_at").GetString(), served.GetProperty("generated_at").GetString());
        Assert.Equal(3000, served.GetProperty("age_ms").GetInt64());
        Assert.Equal(3000, again.GetProperty("age_ms").GetInt64());
        await fleet.Store.ArrivedAsync(2);
        Assert.Equal(2, fleet.Store.Builds); // one refresh for both requests

        fleet.Store.Open();
        string newer = ReportTimeIso(Start.AddSeconds(3));
        var next = await UntilAsync(fleet, "/api/fleet", v => v.GetProperty("generated_at").GetString() == newer);
        Assert.Equal(0, next.GetProperty("age_ms").GetInt64());
        Assert.Equal(Start.AddSeconds(3).ToUnixTimeMilliseconds(), next.GetProperty("to_unix_ms").GetInt64());
        Assert.Equal(2, fleet.Store.Builds);
    }

    [Fact]
    public async Task ViewPastMaxAge_NotServed_RequestWaitsForANewBuild()
    {
        await using var fleet = await FleetAsync();
        await GetOkAsync(fleet, "/api/fleet");

        _time.Advance(FleetViewCache.DefaultMaxAge);
        fleet.Store.Close();
        var request = GetAsync(fleet, "/api/fleet");
        await fleet.WaitingAsync(1);
        await fleet.Store.ArrivedAsync(2);
        Assert.False(request.IsCompleted);
        fleet.Store.Open();
        var (status, view) = await request;

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(ReportTimeIso(Start + FleetViewCache.DefaultMaxAge), view.GetProperty("generated_at").GetString());
        Assert.Equal(0, view.GetProperty("age_ms").GetInt64());
        Assert.Equal(2, fleet.Store.Builds);
    }

    [Fact]
    public async Task FailedBuild_ItsWaitersGetTheError_NothingKept_NextRequestBuildsAgain()
    {
        await using var fleet = await FleetAsync();
        fleet.Store.Close();
        fleet.Store.FailNext = true;

        var requests = Enumerable.Range(0, 3).Select(_ => GetAsync(fleet, "/api/fleet")).ToList();
        await fleet.WaitingAsync(3);
        fleet.Store.Open();
        var failed = await Task.WhenAll(requests);

        // What the endpoint answers for a store failure: the error is not the client's.
        Assert.All(failed, f => Assert.Equal(HttpStatusCode.InternalServerError, f.Status));
        Assert.Equal(1, fleet.Store.Builds);
        var view = await GetOkAsync(fleet, "/api/fleet");
        Assert.Equal(2, fleet.Store.Builds);
        Assert.Equal(Agents, Hosts(view).Keys.Order());
    }

    [Fact]
    public async Task BuildPastItsTimeout_WaitersGet503_NextRequestBuildsAgain()
    {
        await using var fleet = await FleetAsync();
        fleet.Store.Close();

        var request = GetAsync(fleet, "/api/fleet");
        await fleet.WaitingAsync(1);
        await fleet.Store.ArrivedAsync(1);
        _time.Advance(FleetViewCache.BuildTimeout);
        var (status, error) = await request;

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Contains("took longer than 2 minutes", error.GetProperty("error").GetString());
        Assert.True(fleet.Store.BuildCancelled);
        fleet.Store.Open();
        var view = await GetOkAsync(fleet, "/api/fleet");
        Assert.Equal(2, fleet.Store.Builds);
        Assert.Equal(Agents, Hosts(view).Keys.Order());
    }

    [Fact]
    public async Task RequestGivingUp_DoesNotCancelTheBuildOthersWaitFor()
    {
        await using var fleet = await FleetAsync();
        fleet.Store.Close();
        using var giveUp = new CancellationTokenSource();

        var quitter = GetAsync(fleet, "/api/fleet", giveUp.Token);
        var stayer = GetAsync(fleet, "/api/fleet");
        await fleet.WaitingAsync(2);
        await giveUp.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => quitter);
        await fleet.WaitingAsync(1, exactly: true);
        fleet.Store.Open();
        var (status, view) = await stayer;

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(Agents, Hosts(view).Keys.Order());
        Assert.Equal(1, fleet.Store.Builds);
        Assert.False(fleet.Store.BuildCancelled);
    }

    [Fact]
    public async Task PastRange_KeptByRange_AnotherRangeBuildsItsOwn()
    {
        await using var fleet = await FleetAsync();
        string otherRange = $"from={From / 1000}&to={(To - HourMs) / 1000}";

        var first = await GetOkAsync(fleet, $"/api/fleet?{PastRange}");
        _time.Advance(TimeSpan.FromSeconds(1));
        var second = await GetOkAsync(fleet, $"/api/fleet?{PastRange}");
        Assert.Equal(1, fleet.Store.Builds);
        Assert.Equal(first.GetProperty("generated_at").GetString(), second.GetProperty("generated_at").GetString());
        Assert.Equal(1000, second.GetProperty("age_ms").GetInt64());

        var other = await GetOkAsync(fleet, $"/api/fleet?{otherRange}");
        Assert.Equal(2, fleet.Store.Builds);
        Assert.Equal(To - HourMs, other.GetProperty("to_unix_ms").GetInt64());
        Assert.Equal(To, second.GetProperty("to_unix_ms").GetInt64());
        Assert.NotEqual(Hosts(second)["agent-a"].GetProperty("events").GetInt64(), Hosts(other)["agent-a"].GetProperty("events").GetInt64());

        await GetOkAsync(fleet, $"/api/fleet?{PastRange}");
        Assert.Equal(2, fleet.Store.Builds);
    }

    [Fact]
    public async Task Ranges_Bounded_LeastRecentlyAskedForDroppedFirst()
    {
        await using var fleet = await FleetAsync();
        string RangeOf(int i) => $"/api/fleet?from={From / 1000}&to={(To - i * MinuteMs) / 1000}";

        for (int i = 0; i <= FleetViewCache.MaxRanges; i++)
        {
            await GetOkAsync(fleet, RangeOf(i));
        }
        Assert.Equal(FleetViewCache.MaxRanges + 1, fleet.Store.Builds);
        await GetOkAsync(fleet, RangeOf(FleetViewCache.MaxRanges));
        Assert.Equal(FleetViewCache.MaxRanges + 1, fleet.Store.Builds); // the newest is kept
        await GetOkAsync(fleet, RangeOf(0));
        Assert.Equal(FleetViewCache.MaxRanges + 2, fleet.Store.Builds); // the first was dropped for the seventeenth
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Answers_EqualAnUncachedBuild(bool fromTheCache)
    {
        await using var fleet = await FleetAsync();
        // Straight from the real store, at the clock's time, as the endpoint built it before it had a cache.
        var report = await new ReportBuilder(fleet.Real, _time).BuildAsync(
            new ReportRequest(From, To, AgentId: null, BaselineRulesPath: null) { CoverageOnly = true }, CancellationToken.None);
        var built = await GetOkAsync(fleet, $"/api/fleet?{PastRange}");
        if (fromTheCache)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            built = await GetOkAsync(fleet, $"/api/fleet?{PastRange}");
            Assert.Equal(1, fleet.Store.Builds);
        }

        var expected = JsonSerializer.SerializeToElement(FleetView.Of(report) with { AgeMs = fromTheCache ? 1000 : 0 }, DashboardJson.Options);

        Assert.Equal(Agents, Hosts(built).Keys.Order());
        Assert.Equal(EventsPerHourA.Sum(), Hosts(built)["agent-a"].GetProperty("events").GetInt64());
        Assert.Equal(JsonSerializer.Serialize(expected), JsonSerializer.Serialize(built));
    }

    [Fact]
    public async Task Page_ViewServedFromEarlier_SaysAsOfWhen()
    {
        await using var fleet = await FleetAsync();
        using var browser = new HeadlessChromium();
        var d = browser.Driver;
        var page = new Uri(fleet.Server.Address, $"/?from={ApiQuery.Iso(From)}&to={ApiQuery.Iso(To)}");
        void Load()
        {
            d.Navigate().GoToUrl(page);
            browser.WaitFor(() => d.FindElement(By.TagName("body")).GetDomAttribute("data-loaded") == "true", "the page to load its data");
        }

        Load();
        var asOf = d.FindElement(By.Id("fleet-as-of"));
        Assert.False(asOf.Displayed); // built for this request: nothing to say
        _time.Advance(TimeSpan.FromSeconds(3));
        Load();

        asOf = d.FindElement(By.Id("fleet-as-of"));
        Assert.True(asOf.Displayed);
        Assert.Equal($"as of {Start.UtcDateTime:HH:mm:ss} UTC", asOf.Text);
        await fleet.Store.ArrivedAsync(2);
        Assert.Equal(2, fleet.Store.Builds); // the first load's, and the refresh the second started
    }

    [Fact]
    public async Task MaxAgeZero_ServesNoEarlierView_EveryRequestBuilds()
    {
        await using var fleet = await FleetAsync(TimeSpan.Zero);

        var first = await GetOkAsync(fleet, "/api/fleet");
        var second = await GetOkAsync(fleet, "/api/fleet");

        Assert.Equal(2, fleet.Store.Builds);
        Assert.Equal(0, second.GetProperty("age_ms").GetInt64());
        Assert.Equal(first.GetProperty("generated_at").GetString(), second.GetProperty("generated_at").GetString()); // the clock stood still
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(3601)]
    public void Options_MaxAgeOutOfBounds_ThrowsNamingTheOption(int seconds)
    {
        var options = new CollectorOptions
        {
            Listen = "127.0.0.1:0",
            Store = new StoreLocation(StoreKind.Sqlite, "x"),
            AllowAnonymous = true,
            FleetViewMaxAge = TimeSpan.FromSeconds(seconds),
        };

        var e = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Equal($"--fleet-view-max-age {seconds}: must be from 0 to 3600 seconds", e.Message);
    }

    [Theory]
    [InlineData("--fleet-view-max-age 15s", "--fleet-view-max-age '15s': expected a whole number from 0 to 3600")]
    [InlineData("--fleet-view-max-age 3601", "--fleet-view-max-age '3601': expected a whole number from 0 to 3600")]
    [InlineData("--fleet-view-max-age 5 --no-dashboard", "--fleet-view-max-age and --no-dashboard exclude each other")]
    public async Task Serve_BadMaxAge_Exit2_NamingTheOption(string args, string message)
    {
        using var collector = CollectorProcess.Start(
            ["serve", "--listen", "127.0.0.1:0", "--store", "sqlite:" + Path.Combine(Path.GetTempPath(), $"sluice-fleet-view-{Guid.NewGuid():N}.db"), "--insecure-no-auth", .. args.Split(' ')]);
        int rc = await collector.ExitAsync(TimeSpan.FromMinutes(2));

        Assert.True(rc == 2, $"exit {rc}:\n{collector.Output}");
        Assert.Contains(message, collector.Output);
    }

    private static string ReportTimeIso(DateTimeOffset t) => ApiQuery.Iso(t.ToUnixTimeMilliseconds());

    private static Dictionary<string, JsonElement> Hosts(JsonElement view) =>
        view.GetProperty("hosts").EnumerateArray().ToDictionary(h => h.GetProperty("agent_id").GetString()!);

    private async Task<Fleet> FleetAsync(TimeSpan? maxAge = null)
    {
        var (real, _) = await _stores.CreateAsync();
        var store = new SlowFleetStore(real);
        var server = await CollectorServer.StartAsync(
            new CollectorOptions
            {
                Listen = "127.0.0.1:0",
                Store = new StoreLocation(StoreKind.Sqlite, "given"),
                AllowAnonymous = true,
                FleetViewMaxAge = maxAge ?? FleetViewCache.DefaultMaxAge,
            },
            store,
            services: s => s.AddSingleton<TimeProvider>(_time));
        var fleet = new Fleet(server, store, real, server.Services.GetRequiredService<FleetViewCache>());
        await SendFleetAsync(server);
        return fleet;
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> GetAsync(Fleet fleet, string pathAndQuery, CancellationToken ct = default)
    {
        using var http = new HttpClient { DefaultRequestVersion = HttpVersion.Version11, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact, Timeout = Patience };
        using var response = await http.GetAsync(new Uri(fleet.Server.Address, pathAndQuery), ct);
        string text = await response.Content.ReadAsStringAsync(ct);
        if (text.Length == 0)
        {
            return (response.StatusCode, default);
        }
        using var doc = JsonDocument.Parse(text);
        return (response.StatusCode, doc.RootElement.Clone());
    }

    private static async Task<JsonElement> GetOkAsync(Fleet fleet, string pathAndQuery)
    {
        var (status, body) = await GetAsync(fleet, pathAndQuery);
        Assert.Equal(HttpStatusCode.OK, status);
        return body;
    }

    private static async Task<JsonElement> UntilAsync(Fleet fleet, string pathAndQuery, Func<JsonElement, bool> done)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var view = await GetOkAsync(fleet, pathAndQuery);
            if (done(view))
            {
                return view;
            }
            Assert.True(clock.Elapsed < Patience, $"no view as awaited after {Patience}; last generated at {view.GetProperty("generated_at")}");
            await Task.Delay(20);
        }
    }

    private sealed record Fleet(CollectorServer Server, SlowFleetStore Store, IEventStore Real, FleetViewCache Cache) : IAsyncDisposable
    {
        /// <summary>Until <paramref name="count"/> requests wait for a build (at least, or <paramref name="exactly"/>).</summary>
        public async Task WaitingAsync(int count, bool exactly = false)
        {
            var clock = Stopwatch.StartNew();
            while (exactly ? Cache.Waiting != count : Cache.Waiting < count)
            {
                Assert.True(clock.Elapsed < Patience, $"{Cache.Waiting} requests wait for a build, not {count}");
                await Task.Delay(10);
            }
        }

        public async ValueTask DisposeAsync()
        {
            Store.Open();
            await Server.DisposeAsync();
            await Real.DisposeAsync();
        }
    }

    /// <summary>
    /// The real store, whose fleet view builds wait at a gate while it is closed, and are counted. A build reads the
    /// delivery facts once (and nothing else in a running collector does), so that is where it waits.
    /// </summary>
    private sealed class SlowFleetStore(IEventStore inner) : DelegatingStore(inner), IReportSource
    {
        private readonly IReportSource _reports = (IReportSource)inner;
        private readonly SemaphoreSlim _arrivals = new(0);
        private TaskCompletionSource _gate = Opened();
        private int _builds;

        public int Builds => Volatile.Read(ref _builds);

        /// <summary>The next build fails in the store, once.</summary>
        public bool FailNext { get; set; }

        /// <summary>Whether a build's token was cancelled while it waited at the gate.</summary>
        public bool BuildCancelled { get; private set; }

        public void Close() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Open() => _gate.TrySetResult();

        public async Task ArrivedAsync(int count)
        {
            using var cts = new CancellationTokenSource(Patience);
            while (Builds < count)
            {
                await _arrivals.WaitAsync(cts.Token);
            }
        }

        private static TaskCompletionSource Opened()
        {
            var open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            open.SetResult();
            return open;
        }

        public override async Task<IReadOnlyList<DeliveryFacts>> GetDeliveryFactsAsync(DeliveryQuery query, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _builds);
            _arrivals.Release();
            try
            {
                await _gate.Task.WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                BuildCancelled = true;
                throw;
            }
            if (FailNext)
            {
                FailNext = false;
                throw new InvalidOperationException("the store is gone (a test's failure)");
            }
            return await base.GetDeliveryFactsAsync(query, cancellationToken);
        }

        Task<DbConnection> IReportSource.OpenReportConnectionAsync(CancellationToken cancellationToken) => _reports.OpenReportConnectionAsync(cancellationToken);

        SqlDialect IReportSource.Dialect => _reports.Dialect;
    }
}
