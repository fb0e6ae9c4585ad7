using System.Diagnostics;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using Sluice.Testing;

namespace Sluice.Collector.Tests.Support;

/// <summary>Debian's headless Chromium driven by its ChromeDriver; every process it started is killed on dispose.</summary>
/// <remarks>
/// Nothing is downloaded: the driver and the browser are the system's (<c>chromium</c> and
/// <c>chromium-driver</c> packages). A missing one fails the test, naming the package. Chromium runs
/// as root here, hence --no-sandbox. Each instance has its own profile directory; on dispose, the
/// driver is asked to quit, then ChromeDriver, every process under it, and any process still using
/// the profile directory are killed, so a failing test leaves no browser behind.
/// </remarks>
public sealed class HeadlessChromium : IDisposable
{
    public const string BrowserPath = "/usr/bin/chromium";
    public const string DriverPath = "/usr/bin/chromedriver";

    private readonly string _profile;
    private readonly ChromeDriverService _service;
    private readonly int _driverPid;

    public ChromeDriver Driver { get; }

    public HeadlessChromium(int width = 1400, int height = 2400)
    {
        foreach (var (path, package) in new[] { (BrowserPath, "chromium"), (DriverPath, "chromium-driver") })
        {
            if (!File.Exists(path))
            {
                Assert.Fail($"{path} is missing: the dashboard's browser test needs Debian's '{package}' package (apt-get install chromium chromium-driver; .ci/run installs it)");
            }
        }
        _profile = Directory.CreateTempSubdirectory("sluice-chromium-").FullName;
        _service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(DriverPath)!, Path.GetFileName(DriverPath));
        _service.SuppressInitialDiagnosticInformation = true;
        _service.HideCommandPromptWindow = true;
        var options = new ChromeOptions { BinaryLocation = BrowserPath };
        options.AddArguments(
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-crash-reporter", "--disable-breakpad", "--metrics-recording-only", "--force-device-scale-factor=1",
            $"--window-size={width},{height}", $"--user-data-dir={_profile}");
        try
        {
            Driver = new ChromeDriver(_service, options, TimeSpan.FromSeconds(90));
            _driverPid = _service.ProcessId;
        }
        catch
        {
            _driverPid = SafePid(_service);
            Kill();
            throw;
        }
    }

    /// <summary>Polls until <paramref name="condition"/> holds; fails with <paramref name="what"/> and the page's error box if it never does.</summary>
    public void WaitFor(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = Stopwatch.StartNew();
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                if (condition())
                {
                    return;
                }
            }
            catch (WebDriverException) when (deadline.Elapsed < limit)
            {
                // Stale or not yet present: the page is still rendering.
            }
            if (deadline.Elapsed >= limit)
            {
                string error = Driver.FindElements(By.Id("error")).FirstOrDefault()?.Text ?? "";
                Assert.Fail($"timed out after {limit.TotalSeconds:0} s waiting for {what}; page error box: '{error}'");
            }
            Thread.Sleep(100);
        }
    }

    /// <summary>Saves a screenshot of the page to <paramref name="path"/> (directories created).</summary>
    public void Screenshot(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        ((ITakesScreenshot)Driver).GetScreenshot().SaveAsFile(path);
    }

    public void Dispose()
    {
        try
        {
            Driver?.Quit();
        }
        catch (WebDriverException)
        {
            // The browser may already be gone; the kill below makes sure.
        }
        catch (InvalidOperationException)
        {
        }
        Kill();
    }

    private void Kill()
    {
        var doomed = new HashSet<int>();
        if (_driverPid > 0)
        {
            doomed.Add(_driverPid);
            doomed.UnionWith(Descendants(_driverPid));
        }
        doomed.UnionWith(UsingProfile(_profile));
        foreach (int pid in doomed)
        {
            try
            {
                using var p = Process.GetProcessById(pid);
                p.Kill(entireProcessTree: true);
                p.WaitForExit(5000);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Already exited.
            }
        }
        try
        {
            _service.Dispose();
        }
        catch (Exception e) when (e is WebDriverException or InvalidOperationException)
        {
        }
        try
        {
            Directory.Delete(_profile, recursive: true);
        }
        catch (IOException)
        {
            // A late writer; the directory is under /tmp.
        }
    }

    private static int SafePid(ChromeDriverService service)
    {
        try
        {
            return service.ProcessId;
        }
        catch (Exception e) when (e is WebDriverException or InvalidOperationException or NullReferenceException)
        {
            return 0;
        }
    }

    /// <summary>Every process below <paramref name="root"/>, from the parent ids in /proc/PID/stat.</summary>
    private static IEnumerable<int> Descendants(int root)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var (pid, _, ppid, _) in ProcStat.Processes())
        {
            if (!children.TryGetValue(ppid, out var list))
            {
                children[ppid] = list = [];
            }
            list.Add(pid);
        }
        var found = new List<int>();
        var queue = new Queue<int>([root]);
        while (queue.TryDequeue(out int p))
        {
            foreach (int c in children.GetValueOrDefault(p) ?? [])
            {
                found.Add(c);
                queue.Enqueue(c);
            }
        }
        return found;
    }

    /// <summary>Processes whose command line names this instance's profile directory (Chromium's helpers all carry it).</summary>
    private static IEnumerable<int> UsingProfile(string profile)
    {
        foreach (var (pid, _, _, _) in ProcStat.Processes())
        {
            string cmdline;
            try
            {
                cmdline = File.ReadAllText($"/proc/{pid}/cmdline");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }
            if (cmdline.Contains(profile, StringComparison.Ordinal))
            {
                yield return pid;
            }
        }
    }
}
