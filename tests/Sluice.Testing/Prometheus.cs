using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Sluice.Testing;

/// <summary>Debian's <c>promtool</c> (package prometheus): the reference check of the Prometheus text format.</summary>
public static class Promtool
{
    /// <summary>
    /// Runs <c>promtool check metrics</c> on <paramref name="text"/>: its exit code and everything it
    /// printed. It prints one line per problem (a bad name, a missing HELP, a counter without _total,
    /// ...); clean text prints nothing and exits 0.
    /// </summary>
    public static (int ExitCode, string Output) CheckMetrics(string text)
    {
        var psi = new ProcessStartInfo("promtool", "check metrics")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("promtool did not start (apt-get install prometheus)");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardInput.Write(text);
        p.StandardInput.Close();
        if (!p.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            p.Kill();
            throw new TimeoutException("promtool check metrics did not finish");
        }
        return (p.ExitCode, (stdout.Result + stderr.Result).Trim());
    }
}

/// <summary>One scrape target for <see cref="PrometheusServer"/>: a job name, host:port, and a bearer token file if the target wants one.</summary>
public sealed record ScrapeTarget(string Job, string HostPort, string? BearerTokenFile = null);

/// <summary>
/// A real Prometheus server (Debian's <c>/usr/bin/prometheus</c>) on a free loopback port, with its
/// configuration and TSDB in a temporary directory, scraping the given targets every second. Ended
/// and removed at dispose.
/// </summary>
public sealed class PrometheusServer : IDisposable
{
    private readonly Process _process;
    private readonly string _dir;
    private readonly StringBuilder _log = new();
    private readonly HttpClient _http;

    private PrometheusServer(Process process, string dir, Uri address)
    {
        _process = process;
        _dir = dir;
        Address = address;
        _http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(10) };
        process.OutputDataReceived += (_, e) => { lock (_log) { _log.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (_log) { _log.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public Uri Address { get; }

    /// <summary>What Prometheus logged so far, for failure messages.</summary>
    public string Log { get { lock (_log) { return _log.ToString(); } } }

    public static async Task<PrometheusServer> StartAsync(IEnumerable<ScrapeTarget> targets, TimeSpan? timeout = null)
    {
        string dir = Directory.CreateTempSubdirectory("sluice-prometheus-").FullName;
        var config = new StringBuilder();
        config.AppendLine("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:");
        foreach (var t in targets)
        {
            config.AppendLine(CultureInfo.InvariantCulture, $"  - job_name: '{t.Job}'\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['{t.HostPort}']");
            if (t.BearerTokenFile is not null)
            {
                config.AppendLine(CultureInfo.InvariantCulture, $"    authorization:\n      type: Bearer\n      credentials_file: '{t.BearerTokenFile}'");
            }
        }
        string configPath = Path.Combine(dir, "prometheus.yml");
        File.WriteAllText(configPath, config.ToString());

        int port = LoopbackPort.Free();
        var psi = new ProcessStartInfo("prometheus",
            $"--config.file={configPath} --storage.tsdb.path={Path.Combine(dir, "data")} --web.listen-address=127.0.0.1:{port} --log.level=warn")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = dir,
        };
        var process = Process.Start(psi) ?? throw new InvalidOperationException("prometheus did not start (apt-get install prometheus)");
        var server = new PrometheusServer(process, dir, new Uri($"http://127.0.0.1:{port}/"));
        try
        {
            var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
            while (true)
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"prometheus exited with {process.ExitCode}:\n{server.Log}");
                }
                try
                {
                    using var ready = await server._http.GetAsync("-/ready");
                    if (ready.IsSuccessStatusCode)
                    {
                        return server;
                    }
                }
                catch (HttpRequestException)
                {
                }
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"prometheus was not ready:\n{server.Log}");
                }
                await Task.Delay(100);
            }
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    /// <summary>An instant query through the HTTP API (<c>/api/v1/query</c>): each series's labels and value.</summary>
    public async Task<IReadOnlyList<(IReadOnlyDictionary<string, string> Labels, double Value)>> QueryAsync(string promql)
    {
        using var response = await _http.GetAsync("api/v1/query?query=" + Uri.EscapeDataString(promql));
        string body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"query {promql}: HTTP {(int)response.StatusCode}: {body}");
        }
        using var doc = JsonDocument.Parse(body);
        var data = doc.RootElement.GetProperty("data");
        var list = new List<(IReadOnlyDictionary<string, string>, double)>();
        foreach (var series in data.GetProperty("result").EnumerateArray())
        {
            var labels = series.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "");
            double value = double.Parse(series.GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture);
            list.Add((labels, value));
        }
        return list;
    }

    /// <summary>The health of each scrape target by job (<c>/api/v1/targets</c>): "up", "down" or "unknown", and its last error.</summary>
    public async Task<IReadOnlyDictionary<string, (string Health, string LastError)>> TargetsAsync()
    {
        using var response = await _http.GetAsync("api/v1/targets");
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.GetProperty("data").GetProperty("activeTargets").EnumerateArray().ToDictionary(
            t => t.GetProperty("labels").GetProperty("job").GetString()!,
            t => (t.GetProperty("health").GetString()!, t.GetProperty("lastError").GetString() ?? ""));
    }

    /// <summary>
    /// Queries <paramref name="promql"/> until it returns exactly one series whose value is
    /// <paramref name="expected"/>, and returns it; on time-out, fails with the last answer and the targets' health.
    /// </summary>
    public async Task<(IReadOnlyDictionary<string, string> Labels, double Value)> WaitForValueAsync(string promql, double expected, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        IReadOnlyList<(IReadOnlyDictionary<string, string> Labels, double Value)> last = [];
        while (DateTime.UtcNow < deadline)
        {
            last = await QueryAsync(promql);
            if (last.Count == 1 && last[0].Value == expected)
            {
                return last[0];
            }
            await Task.Delay(250);
        }
        var targets = await TargetsAsync();
        throw new TimeoutException(
            $"{promql}: wanted one series = {expected}, last answer: [{string.Join("; ", last.Select(s => $"{{{string.Join(",", s.Labels.Select(l => $"{l.Key}={l.Value}"))}}} {s.Value}"))}]; "
            + $"targets: {string.Join("; ", targets.Select(t => $"{t.Key} {t.Value.Health} {t.Value.LastError}"))}\n{Log}");
    }

    public void Dispose()
    {
        _http.Dispose();
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
