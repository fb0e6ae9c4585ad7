using Microsoft.Extensions.Logging;
using Sluice.Agent.Kernel;
using Sluice.Agent.Pipeline;
using Sluice.Agent.Shipping;
using Sluice.Agent.Spool;
using Sluice.Agent.Tests.Shipping;
using Sluice.Agent.Tests.Spool;

namespace Sluice.Agent.Tests.Adversarial;

/// <summary>The process umask is process-wide: tests that change it run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessUmaskCollection
{
    public const string Name = "process umask";
}

/// <summary>
/// Issue 14, case 7, the agent's side: spool segments, spool.state, quarantine files,
/// kernel-state.json and serial-watermark are created 0600 in 0700 directories whatever the umask
/// (these tests run under umask 000), looser directories and files left by older versions are
/// tightened and logged; a token file others can read and cleartext to a non-loopback collector
/// are refused at start with exit code 2.
/// </summary>
[Collection(ProcessUmaskCollection.Name)]
public sealed class FileModesAndSecretsTests : IDisposable
{
    private const UnixFileMode File0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode Directory0700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private readonly TempDirectory _dir = new("sluice-modes");
    private readonly Tmds.Linux.mode_t _umask;

    public FileModesAndSecretsTests()
    {
        _umask = Tmds.Linux.LibC.umask(0);
    }

    public void Dispose()
    {
        Tmds.Linux.LibC.umask(_umask);
        _dir.Dispose();
    }

    private static string Mode(string path) => Convert.ToString((int)File.GetUnixFileMode(path), 8);

    [Fact]
    public async Task AgentFiles_UnderUmask000_CreatedOwnerOnly()
    {
        // The umask is permissive indeed: a file made without an explicit mode is world-writable.
        string control = Path.Combine(_dir.Path, "control");
        File.WriteAllText(control, "x");
        Assert.Equal("666", Mode(control));

        await using var collector = await TestCollector.StartAsync();
        collector.FaultFor = static (sequence, _) => sequence == 1 ? Fault.InvalidArgument : Fault.None;
        var shipping = ShippingHarness.DefaultShipperOptions(collector, _dir.Path);
        shipping.AttemptTimeout = TimeSpan.FromSeconds(30);
        string spoolDir = Path.Combine(_dir.Path, "var", "spool");
        using (var spool = DiskSpool.Open(new SpoolOptions { Directory = spoolDir, MaxBytes = 1024 * 1024, SegmentBytes = 64 * 1024 }))
        using (var shipper = new Shipper(spool, shipping))
        {
            spool.Append(TestBatches.Create(1, 2));
            spool.Append(TestBatches.Create(3, 2));
            using var cts = new CancellationTokenSource();
            var run = shipper.RunAsync(cts.Token);
            await ShippingHarness.WaitForAsync(() => spool.Counters.DepthBatches == 0, "both batches done with");
            await cts.CancelAsync();
            await run;
        }
        string quarantine = shipping.QuarantineDirectory;
        string stateDir = Path.Combine(_dir.Path, "state");
        new KernelState { CreatedUtc = DateTimeOffset.UnixEpoch }.Save(stateDir);
        using (var watermark = new SerialWatermark(stateDir, "boot-1"))
        {
            watermark.Record(42);
        }

        var directories = new[] { Path.Combine(_dir.Path, "var"), spoolDir, quarantine, stateDir };
        var files = Directory.GetFiles(spoolDir).Concat(Directory.GetFiles(quarantine)).Concat(Directory.GetFiles(stateDir)).Order().ToList();
        Assert.Equal(
            ["00000000000000000001.batch", "00000000000000000001.reason", "00000000000000000001.seg", KernelState.FileName, SerialWatermark.FileName, SpoolState.FileName],
            files.Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.All(directories, d => Assert.True(File.GetUnixFileMode(d) == Directory0700, $"{d}: {Mode(d)}"));
        Assert.All(files, f => Assert.True(File.GetUnixFileMode(f) == File0600, $"{f}: {Mode(f)}"));
    }

    [Fact]
    public void LooserDirectoriesAndFiles_TightenedAndTheLogSaysSo()
    {
        var log = new ListLogger();
        string spoolDir = Path.Combine(_dir.Path, "spool");
        Directory.CreateDirectory(spoolDir, (UnixFileMode)Convert.ToInt32("755", 8));
        var options = new SpoolOptions { Directory = spoolDir, MaxBytes = 1024 * 1024, SegmentBytes = 64 * 1024 };
        using (var spool = DiskSpool.Open(options, logger: log))
        {
            spool.Append(TestBatches.Create(1, 1));
        }
        Assert.Equal("700", Mode(spoolDir));
        Assert.Contains(log.Lines, l => l.Contains($"{spoolDir} was mode 0755"));

        // A segment an older version left 0644.
        string segment = Directory.GetFiles(spoolDir, "*.seg").Single();
        File.SetUnixFileMode(segment, (UnixFileMode)Convert.ToInt32("644", 8));
        using (DiskSpool.Open(options, logger: log))
        {
        }
        Assert.Equal("600", Mode(segment));
        Assert.Contains(log.Lines, l => l.Contains($"{segment} was mode 0644"));

        string stateDir = Path.Combine(_dir.Path, "state");
        Directory.CreateDirectory(stateDir, (UnixFileMode)Convert.ToInt32("775", 8));
        new KernelState().Save(stateDir, log);
        Assert.Equal("700", Mode(stateDir));
        Assert.Equal("600", Mode(Path.Combine(stateDir, KernelState.FileName)));
        Assert.Contains(log.Lines, l => l.Contains($"{stateDir} was mode 0775"));
    }

    [Theory]
    [InlineData("644", "every user can read the token")]
    [InlineData("604", "every user can read the token")]
    [InlineData("640", "its group can read the token")]
    public void TokenFileReadableByGroupOrOthers_RefusedNamingTheFileAndItsMode(string mode, string why)
    {
        string token = Path.Combine(_dir.Path, "agent.token");
        File.WriteAllText(token, "a-token-of-sixteen-chars\n");
        File.SetUnixFileMode(token, (UnixFileMode)Convert.ToInt32(mode, 8));
        var options = new ShipperOptions { CollectorUrl = "https://collector.example:7443", TokenFile = token, QuarantineDirectory = _dir.Path };

        var result = new ShipperOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        string failure = Assert.Single(result.Failures!);
        Assert.Contains($"Shipping:TokenFile: {token} has mode 0{mode}", failure);
        Assert.Contains(why, failure);
        Assert.Contains($"chmod 600 {token}", failure);
        // A re-read after the collector refused the token (the stall probe) refuses it too.
        Assert.Throws<InvalidDataException>(options.ReadToken);
    }

    [Theory]
    [InlineData("600")]
    [InlineData("400")]
    public void TokenFileOwnerOnly_Accepted(string mode)
    {
        string token = Path.Combine(_dir.Path, "agent.token");
        File.WriteAllText(token, "a-token-of-sixteen-chars\n");
        File.SetUnixFileMode(token, (UnixFileMode)Convert.ToInt32(mode, 8));
        var options = new ShipperOptions { CollectorUrl = "https://collector.example:7443", TokenFile = token, QuarantineDirectory = _dir.Path };

        Assert.True(new ShipperOptionsValidator().Validate(null, options).Succeeded);
        Assert.Equal("a-token-of-sixteen-chars", options.ReadToken());
    }

    [Theory]
    [InlineData("http://127.0.0.1:7443", true)]
    [InlineData("http://127.3.2.1:7443", true)]
    [InlineData("http://[::1]:7443", true)]
    [InlineData("http://localhost:7443", true)]
    [InlineData("http://LocalHost:7443", true)]
    [InlineData("http://10.0.0.5:7443", false)]
    [InlineData("http://192.0.2.1:7443", false)]
    [InlineData("http://[::ffff:127.0.0.1]:7443", false)]
    [InlineData("http://[2001:db8::1]:7443", false)]
    [InlineData("http://collector.example:7443", false)]
    [InlineData("http://localhost.example:7443", false)]
    [InlineData("http://128.0.0.1:7443", false)]
    public void AllowInsecureTransport_OnlyToLoopback(string url, bool accepted)
    {
        var options = new ShipperOptions { CollectorUrl = url, AllowInsecureTransport = true, Token = "a-token-of-sixteen-chars", QuarantineDirectory = _dir.Path };

        var result = new ShipperOptionsValidator().Validate(null, options);

        Assert.Equal(accepted, result.Succeeded);
        if (!accepted)
        {
            string failure = Assert.Single(result.Failures!);
            Assert.Contains("Shipping:AllowInsecureTransport", failure);
            Assert.Contains("not a loopback address", failure);
            Assert.Contains(url, failure);
        }
    }

    public static TheoryData<string, string, string[]> RefusedAtStart => new()
    {
        { "token file readable by others", "\"TokenFile\": \"{dir}/agent.token\", \"CollectorUrl\": \"https://collector.example:7443\"", ["{dir}/agent.token has mode 0644", "chmod 600"] },
        { "cleartext to a remote collector", "\"Token\": \"a-token-of-sixteen-chars\", \"CollectorUrl\": \"http://192.0.2.1:7443\", \"AllowInsecureTransport\": true", ["Shipping:AllowInsecureTransport", "192.0.2.1", "not a loopback address"] },
    };

    [Theory]
    [MemberData(nameof(RefusedAtStart))]
    public void Run_RefusedShippingConfig_ExitsTwoNamingItBeforeCreatingAnything(string name, string shipping, string[] expected)
    {
        string dir = _dir.Path;
        string token = Path.Combine(dir, "agent.token");
        File.WriteAllText(token, "a-token-of-sixteen-chars\n");
        File.SetUnixFileMode(token, (UnixFileMode)Convert.ToInt32("644", 8));
        string config = Path.Combine(dir, "agent.json");
        // Multicast: even a start that got through would change nothing in the kernel.
        File.WriteAllText(config, $$"""
            {
              "Mode": "Multicast",
              "StateDirectory": "{{dir}}/state",
              "Rules": { "Files": [] },
              "Status": { "Socket": "{{dir}}/agent.sock" },
              "Sink": { "Type": "Collector" },
              "Spool": { "Directory": "{{dir}}/spool" },
              "Shipping": { {{shipping.Replace("{dir}", dir)}}, "QuarantineDirectory": "{{dir}}/quarantine" }
            }
            """);

        var (exit, stdout, stderr) = AgentProcess.Run($"run --config {config}", timeout: TimeSpan.FromSeconds(60));

        Assert.True(exit == 2, $"{name}: exit {exit}\n{stdout}\n{stderr}");
        foreach (string part in expected)
        {
            Assert.Contains(part.Replace("{dir}", dir), stderr);
        }
        Assert.False(Directory.Exists(Path.Combine(dir, "spool")), "a refused start created the spool");
        Assert.False(Directory.Exists(Path.Combine(dir, "state")), "a refused start created the state directory");
    }

    /// <summary>Keeps every formatted log line.</summary>
    private sealed class ListLogger : ILogger
    {
        private readonly List<string> _lines = [];

        public IReadOnlyList<string> Lines
        {
            get
            {
                lock (_lines)
                {
                    return [.. _lines];
                }
            }
        }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_lines)
            {
                _lines.Add($"{logLevel}: {formatter(state, exception)}");
            }
        }
    }
}
